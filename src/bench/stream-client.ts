/**
 * One streamed chat completion through the official `openai` SDK, timed at
 * every chunk: time to first token, the gaps between tokens, and the
 * completion tokens the server reports.
 */
import { performance } from "node:perf_hooks";
import OpenAI from "openai";

export interface StreamSample {
  /** ms from sending the request to the first content chunk. */
  ttftMs: number;
  /** ms between consecutive content chunks. */
  itlMs: number[];
  /** ms from the first to the last content chunk. */
  decodeMs: number;
  completionTokens: number;
  cachedTokens: number;
}

export interface StreamRequest {
  model: string;
  prompt: string;
  maxTokens: number;
}

export async function timedStream(client: OpenAI, request: StreamRequest): Promise<StreamSample> {
  const start = performance.now();
  const body = {
    model: request.model,
    messages: [{ role: "user" as const, content: request.prompt }],
    max_tokens: request.maxTokens,
    // The same sampler settings for every system (llama-server's defaults would differ otherwise).
    temperature: 0.8,
    top_k: 40,
    top_p: 0.95,
    min_p: 0.05,
    stream: true as const,
    stream_options: { include_usage: true },
    // Both chatport and llama-server honour it: fixed output lengths.
    ignore_eos: true,
  };
  const stream = await client.chat.completions.create(body as OpenAI.ChatCompletionCreateParamsStreaming);
  let first: number | null = null;
  let last = 0;
  const itlMs: number[] = [];
  let completionTokens = 0;
  let cachedTokens = 0;
  for await (const chunk of stream) {
    const now = performance.now();
    if (chunk.usage) {
      completionTokens = chunk.usage.completion_tokens;
      cachedTokens = chunk.usage.prompt_tokens_details?.cached_tokens ?? 0;
    }
    const text = chunk.choices[0]?.delta.content;
    if (text === undefined || text === null || text === "") continue;
    if (first === null) first = now;
    else itlMs.push(now - last);
    last = now;
  }
  if (first === null) throw new Error("the stream produced no content");
  return { ttftMs: first - start, itlMs, decodeMs: last - first, completionTokens, cachedTokens };
}
