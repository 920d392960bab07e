/**
 * The baseline with no HTTP and no chatport: node-llama-cpp driven directly,
 * one context with `concurrency` sequences, each evaluating its prompt and
 * sampling a fixed number of tokens.
 */
import { performance } from "node:perf_hooks";
import type { LlamaModel } from "node-llama-cpp";
import { filler } from "./prompts.js";
import type { StreamSample } from "./stream-client.js";

export interface DirectOptions {
  threads: number;
  contextSize: number;
  promptTokens: number;
  maxTokens: number;
}

export async function measureDirect(model: LlamaModel, options: DirectOptions, concurrency: number, round: number): Promise<StreamSample[]> {
  const context = await model.createContext({ sequences: concurrency, contextSize: options.contextSize, threads: options.threads });
  try {
    const runs = Array.from({ length: concurrency }, async (_, i): Promise<StreamSample> => {
      const sequence = context.getSequence();
      const prompt = model.tokenize(filler(options.promptTokens, round * 100 + i));
      const start = performance.now();
      let first: number | null = null;
      let last = 0;
      const itlMs: number[] = [];
      let count = 0;
      for await (const _token of sequence.evaluate(prompt, { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, seed: i + 1, yieldEogToken: true })) {
        const now = performance.now();
        if (first === null) first = now;
        else itlMs.push(now - last);
        last = now;
        if (++count >= options.maxTokens) break;
      }
      return { ttftMs: (first ?? start) - start, itlMs, decodeMs: last - (first ?? last), completionTokens: count, cachedTokens: 0 };
    });
    return await Promise.all(runs);
  } finally {
    await context.dispose();
  }
}
