/**
 * Reasoning output on a generated model whose template thinks Qwen3-style
 * (`<think>` opened by the generation prompt, `enable_thinking` switch), and
 * logprobs on the plain tiny model — through the official SDK.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Template } from "@huggingface/jinja";
import { readGgufFileInfo, type LlamaModel } from "node-llama-cpp";
import type OpenAI from "openai";
import { tinyModelPath } from "./helpers/models.js";
import { assertMatchesSchema } from "./helpers/openapi.js";
import { startServer, type RunningServer } from "./helpers/server.js";
import { loadVocab } from "./helpers/tokenizer.js";

let server: RunningServer;
let client: OpenAI;
let thinkingVocab: LlamaModel;
let thinkingTemplate: Template;
const hello = [{ role: "user" as const, content: "Why is the sky blue?" }];

type Params = OpenAI.ChatCompletionCreateParamsNonStreaming & { ignore_eos?: boolean; reasoning_effort?: string };
type Message = OpenAI.ChatCompletionMessage & { reasoning_content?: string };
type Delta = OpenAI.ChatCompletionChunk.Choice.Delta & { reasoning_content?: string };

before(async () => {
  const thinking = await tinyModelPath(1, "thinking");
  thinkingVocab = await loadVocab(thinking);
  thinkingTemplate = new Template(String((await readGgufFileInfo(thinking)).metadata.tokenizer?.chat_template));
  server = await startServer({
    models: { tiny: await tinyModelPath(), thinker: thinking },
    args: ["--threads", "1", "--parallel", "2", "--ctx", "2048"],
  });
  client = server.client;
});
after(async () => server?.stop());

describe("reasoning", () => {
  test("the thought goes to reasoning_content, never content, and is counted", async () => {
    const res = await client.chat.completions.create({ model: "thinker", messages: hello, max_tokens: 24, ignore_eos: true } as Params);
    assertMatchesSchema("CreateChatCompletionResponse", res);
    const message = res.choices[0]?.message as Message;
    // A random model never closes its thought on its own: all 24 tokens are thinking.
    assert.ok((message.reasoning_content ?? "").length > 0);
    assert.equal(message.content, "");
    assert.equal(res.usage?.completion_tokens_details?.reasoning_tokens, 24);
    assert.doesNotMatch(JSON.stringify(message), /<\/?think>/);
  });

  test("a reasoning_effort budget closes the thought, then the answer follows in content", async () => {
    const params = { model: "thinker", messages: hello, max_tokens: 120, ignore_eos: true, reasoning_effort: "minimal", seed: 3 } as Params;
    const res = await client.chat.completions.create(params);
    const message = res.choices[0]?.message as Message;
    const reasoningTokens = res.usage?.completion_tokens_details?.reasoning_tokens ?? 0;
    const closing = thinkingVocab.tokenize("\n</think>\n\n", true).length;
    assert.equal(reasoningTokens, 64 + closing, "the minimal budget (64) plus the closing tokens");
    assert.equal(res.usage?.completion_tokens, 120, "the injected closing tokens count as completion tokens");
    assert.ok((message.reasoning_content ?? "").length > 0);
    assert.ok((message.content ?? "").length > 0);
    assert.doesNotMatch(`${message.content}${message.reasoning_content}`, /<\/?think>/);

    // Streamed: the same split, reasoning deltas strictly before content deltas.
    const stream = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } } as unknown as OpenAI.ChatCompletionCreateParamsStreaming);
    let reasoning = "";
    let content = "";
    let sawContent = false;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      assertMatchesSchema("CreateChatCompletionStreamResponse", chunk);
      usage = chunk.usage ?? usage;
      const delta = chunk.choices[0]?.delta as Delta | undefined;
      if (delta?.reasoning_content) {
        assert.equal(sawContent, false, "no reasoning after content started");
        reasoning += delta.reasoning_content;
      }
      if (delta?.content) {
        sawContent = true;
        content += delta.content;
      }
    }
    assert.equal(reasoning, message.reasoning_content);
    assert.equal(content, message.content);
    assert.equal(usage?.completion_tokens_details?.reasoning_tokens, reasoningTokens);
  });

  test("reasoning_effort none turns thinking off in the template", async () => {
    const off = await client.chat.completions.create({ model: "thinker", messages: hello, max_tokens: 10, ignore_eos: true, reasoning_effort: "none" } as Params);
    const on = await client.chat.completions.create({ model: "thinker", messages: hello, max_tokens: 10, ignore_eos: true } as Params);
    const message = off.choices[0]?.message as Message;
    assert.equal(message.reasoning_content, undefined);
    assert.ok((message.content ?? "").length > 0);
    assert.equal(off.usage?.completion_tokens_details?.reasoning_tokens, 0);
    const render = (enable_thinking: boolean): number =>
      thinkingVocab.tokenize(thinkingTemplate.render({ messages: hello, add_generation_prompt: true, enable_thinking }), true).length;
    assert.equal(off.usage?.prompt_tokens, render(false), "rendered with enable_thinking=false");
    assert.equal(on.usage?.prompt_tokens, render(true), "rendered with the template's default (thinking)");
    assert.ok(render(false) > render(true), "the template closed an empty thought");
  });

  test("assistant turns sent back with reasoning_content are accepted", async () => {
    const res = await client.chat.completions.create({
      model: "thinker",
      messages: [...hello, { role: "assistant", content: "Rayleigh scattering.", reasoning_content: "Short wavelengths scatter." } as OpenAI.ChatCompletionAssistantMessageParam, { role: "user", content: "More?" }],
      max_tokens: 4,
    });
    assert.equal(res.choices.length, 1);
  });
});

describe("logprobs", () => {
  test("one entry per token, each ≤ 0, bytes that spell the content", async () => {
    const res = await client.chat.completions.create({ model: "tiny", messages: hello, max_tokens: 12, ignore_eos: true, logprobs: true, seed: 2 } as Params);
    assertMatchesSchema("CreateChatCompletionResponse", res);
    const entries = res.choices[0]?.logprobs?.content ?? [];
    assert.equal(entries.length, 12);
    for (const e of entries) {
      assert.ok(e.logprob <= 0 && e.logprob >= -9999, String(e.logprob));
      assert.deepEqual(e.top_logprobs, []);
    }
    // Control tokens (the generated vocabulary's [PADn] fillers, <|…|> markers) are not rendered
    // into the content but keep their text in logprobs, as vLLM and llama-server show them.
    const rendered = entries.filter((e) => !/^(\[PAD\d+\]|<\|[a-z_]+\|>)$/.test(e.token));
    const bytes = Buffer.from(rendered.flatMap((e) => e.bytes ?? []));
    assert.equal(bytes.toString("utf8"), res.choices[0]?.message.content);
  });

  test("top_logprobs: sorted alternatives, the greedy choice first, same numbers streamed", async () => {
    const params = { model: "tiny", messages: hello, max_tokens: 8, ignore_eos: true, logprobs: true, top_logprobs: 5, temperature: 0 } as Params;
    const res = await client.chat.completions.create(params);
    const entries = res.choices[0]?.logprobs?.content ?? [];
    assert.equal(entries.length, 8);
    for (const e of entries) {
      assert.equal(e.top_logprobs.length, 5);
      const values = e.top_logprobs.map((t) => t.logprob);
      assert.deepEqual(values, [...values].sort((a, b) => b - a), "sorted, most likely first");
      assert.ok(values.every((v) => v <= 0));
      assert.equal(e.top_logprobs[0]?.token, e.token, "greedy picks the most likely token");
      assert.equal(e.top_logprobs[0]?.logprob, e.logprob);
      const total = e.top_logprobs.reduce((sum, t) => sum + Math.exp(t.logprob), 0);
      assert.ok(total <= 1.0001, `probabilities of the top 5 sum to ${total}`);
    }
    const stream = await client.chat.completions.create({ ...params, stream: true } as unknown as OpenAI.ChatCompletionCreateParamsStreaming);
    const streamed: OpenAI.ChatCompletionTokenLogprob[] = [];
    for await (const chunk of stream) {
      assertMatchesSchema("CreateChatCompletionStreamResponse", chunk);
      streamed.push(...(chunk.choices[0]?.logprobs?.content ?? []));
    }
    assert.deepEqual(streamed, entries);
  });
});
