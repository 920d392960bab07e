/**
 * The Messages pass-through decoder (upstream/messages-pass-through.ts) on
 * what real servers send beyond the fake upstream: a `stop_sequence` end, a
 * tool_use whose input comes whole in its start event, usage spread over
 * `message_start` and `message_delta` with cache reads and writes, no usage
 * at all, an `error` event, a whole message with thinking; and the body and
 * headers an upstream is sent. The e2e tests
 * (messages-pass-through.e2e.test.ts) cover the common path through real
 * processes.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ChatEvent } from "../src/protocol/chat-events.js";
import { parseAnthropicMessagesRequest } from "../src/protocol/anthropic-messages-request.js";
import { MessagesApiDecoder } from "../src/upstream/messages-pass-through.js";
import { nativePassThrough, nativeUpstreamBody } from "../src/upstream/native-pass-through.js";
import { ProviderState } from "../src/upstream/provider-pool.js";
import type { ProviderConfig } from "../src/upstream/types.js";

function decode(events: unknown[]): { out: ChatEvent[]; decoder: MessagesApiDecoder; errors: unknown[] } {
  const decoder = new MessagesApiDecoder(performance.now(), 42);
  const out: ChatEvent[] = [];
  const errors: unknown[] = [];
  for (const event of events) {
    const error = decoder.chunk(event, out);
    if (error !== null) errors.push(error);
  }
  return { out, decoder, errors };
}

const text = (out: ChatEvent[], key: "content" | "reasoning"): string => out.map((e) => (e.type === "delta" ? (e[key] ?? "") : "")).join("");
const start = (usage: Record<string, number> | null = { input_tokens: 7, cache_read_input_tokens: 20, cache_creation_input_tokens: 3, output_tokens: 1 }): unknown => ({
  type: "message_start",
  message: { id: "msg_1", type: "message", role: "assistant", content: [], ...(usage === null ? {} : { usage }) },
});

describe("MessagesApiDecoder: a stream", () => {
  test("text, a stop sequence named on the finish; the prompt is input + cache read + cache creation, the cached part the cache read", () => {
    const { out, decoder, errors } = decode([
      start(),
      { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
      { type: "ping" },
      { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hello" } },
      { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: " there" } },
      { type: "content_block_stop", index: 0 },
      { type: "message_delta", delta: { stop_reason: "stop_sequence", stop_sequence: "END" }, usage: { output_tokens: 2 } },
      { type: "message_stop" },
    ]);
    assert.deepEqual(errors, []);
    assert.equal(text(out, "content"), "Hello there");
    assert.deepEqual(out.filter((e) => e.type === "finish"), [{ type: "finish", index: 0, reason: "stop", stop: "END" }]);
    assert.equal(decoder.done, true);
    const usage = decoder.usageCounts();
    assert.deepEqual({ prompt: usage.promptTokens, cached: usage.cachedTokens, completion: usage.completionTokens, estimated: usage.estimated }, { prompt: 30, cached: 20, completion: 2, estimated: undefined });
  });

  test("thinking then a tool_use streamed as JSON, and one whose input came whole in its start event: calls in order, reasoning counted", () => {
    const { out, decoder } = decode([
      start(),
      { type: "content_block_start", index: 0, content_block: { type: "thinking", thinking: "", signature: "" } },
      { type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: "hmm" } },
      { type: "content_block_delta", index: 0, delta: { type: "signature_delta", signature: "abc" } },
      { type: "content_block_stop", index: 0 },
      { type: "content_block_start", index: 1, content_block: { type: "tool_use", id: "toolu_a", name: "f", input: {} } },
      { type: "content_block_delta", index: 1, delta: { type: "input_json_delta", partial_json: '{"x":' } },
      { type: "content_block_delta", index: 1, delta: { type: "input_json_delta", partial_json: "1}" } },
      { type: "content_block_stop", index: 1 },
      { type: "content_block_start", index: 2, content_block: { type: "tool_use", id: "toolu_b", name: "g", input: { y: 2 } } },
      { type: "content_block_stop", index: 2 },
      { type: "message_delta", delta: { stop_reason: "tool_use", stop_sequence: null }, usage: { output_tokens: 9 } },
      { type: "message_stop" },
    ]);
    assert.equal(text(out, "reasoning"), "hmm");
    const calls = out.flatMap((e) => (e.type === "delta" ? (e.toolCalls ?? []) : []));
    const byIndex = new Map<number, { id?: string; name?: string; args: string }>();
    for (const c of calls) {
      const seen = byIndex.get(c.index) ?? { args: "" };
      byIndex.set(c.index, { id: seen.id ?? c.id, name: seen.name ?? c.name, args: seen.args + (c.arguments ?? "") });
    }
    assert.deepEqual([...byIndex.entries()], [
      [0, { id: "toolu_a", name: "f", args: '{"x":1}' }],
      [1, { id: "toolu_b", name: "g", args: '{"y":2}' }],
    ]);
    assert.deepEqual(out.filter((e) => e.type === "finish").map((e) => e.type === "finish" && e.reason), ["tool_calls"]);
    assert.equal(decoder.usageCounts().reasoningTokens, 1, "one thinking delta");
  });

  test("no usage anywhere: estimated from the deltas and the prompt estimate", () => {
    const { decoder } = decode([
      start(null),
      { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
      { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "a" } },
      { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "b" } },
      { type: "content_block_stop", index: 0 },
      { type: "message_delta", delta: { stop_reason: "max_tokens" } },
      { type: "message_stop" },
    ]);
    const usage = decoder.usageCounts();
    assert.deepEqual({ prompt: usage.promptTokens, completion: usage.completionTokens, estimated: usage.estimated }, { prompt: 42, completion: 2, estimated: true });
  });

  test("an error event is returned as an error (the engine fails the attempt)", () => {
    const { errors } = decode([start(), { type: "error", error: { type: "overloaded_error", message: "Overloaded" } }]);
    assert.deepEqual(errors, [{ error: { message: "Overloaded", type: "overloaded_error", code: null, param: null } }]);
  });
});

describe("MessagesApiDecoder: a whole message", () => {
  test("thinking, text and a tool_use; max_tokens → length; an error body is not a message", () => {
    const decoder = new MessagesApiDecoder(performance.now(), 1);
    const out: ChatEvent[] = [];
    const message = {
      id: "msg_2",
      type: "message",
      role: "assistant",
      content: [
        { type: "thinking", thinking: "let me see", signature: "s" },
        { type: "redacted_thinking", data: "opaque" },
        { type: "text", text: "Sure." },
        { type: "tool_use", id: "toolu_c", name: "h", input: { q: "z" } },
      ],
      stop_reason: "max_tokens",
      stop_sequence: null,
      usage: { input_tokens: 5, cache_read_input_tokens: 0, output_tokens: 12 },
    };
    assert.equal(decoder.completion(message, out), true);
    assert.equal(text(out, "content"), "Sure.");
    assert.equal(text(out, "reasoning"), "let me see");
    const call = out.flatMap((e) => (e.type === "delta" ? (e.toolCalls ?? []) : []))[0];
    assert.deepEqual(call, { index: 0, id: "toolu_c", name: "h", arguments: '{"q":"z"}' });
    assert.deepEqual(out.filter((e) => e.type === "finish").map((e) => e.type === "finish" && e.reason), ["length"]);
    assert.deepEqual({ prompt: decoder.usageCounts().promptTokens, completion: decoder.usageCounts().completionTokens }, { prompt: 5, completion: 12 });
    assert.equal(new MessagesApiDecoder(performance.now(), 1).completion({ type: "error", error: { type: "api_error", message: "x" } }, []), false);
  });
});

describe("what an upstream that serves the Messages API is sent", () => {
  const provider = (apis?: ProviderConfig["apis"], headers: Record<string, string> = {}): ProviderConfig => ({
    id: "p",
    baseUrl: "http://127.0.0.1:1/v1",
    apiKey: "sk-provider",
    timeouts: { connectMs: 1, firstByteMs: 1, idleMs: 1 },
    maxConcurrent: 1,
    headers,
    healthCheckMs: 0,
    ...(apis === undefined ? {} : { apis }),
  });

  test("the client's body with unknown fields, the model renamed and max_tokens capped; only to a provider with the flag", () => {
    const raw = { model: "m", max_tokens: 500, messages: [{ role: "user", content: "hi" }], system: [{ type: "text", text: "s", cache_control: { type: "ephemeral" } }], x_vendor: 1 };
    const request = parseAnthropicMessagesRequest(raw, {});
    assert.equal(nativePassThrough(request.chat, provider()), null, "a provider without the flag gets the chat translation");
    assert.equal(nativePassThrough(request.chat, provider(["responses"])), null);
    const native = nativePassThrough(request.chat, provider(["messages"]));
    assert.ok(native !== null);
    assert.deepEqual(JSON.parse(nativeUpstreamBody(native, { maxTokens: 100 }, "up-m")), { ...raw, model: "up-m", max_tokens: 100 });
  });

  test("headers: x-api-key and anthropic-version beside Bearer for /messages only; the provider's own headers win", async () => {
    const state = new ProviderState(provider(["messages"], { "anthropic-version": "2024-01-01" }));
    const plain = new ProviderState(provider(["messages"]));
    try {
      const messages = state.headersFor("messages", true);
      assert.equal(messages["x-api-key"], "sk-provider");
      assert.equal(messages.authorization, "Bearer sk-provider");
      assert.equal(messages["anthropic-version"], "2024-01-01");
      assert.equal(messages.accept, "text/event-stream");
      const chat = state.headersFor("chat/completions", false);
      assert.equal(chat["x-api-key"], undefined);
      assert.equal(chat.accept, "application/json");
      assert.equal(plain.headersFor("messages", false)["anthropic-version"], "2023-06-01");
    } finally {
      await Promise.all([state.pool.close(), plain.pool.close()]);
    }
  });
});
