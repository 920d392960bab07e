/**
 * The Responses pass-through decoder (upstream/responses-pass-through.ts) on
 * the variants real servers send, beyond what the fake upstream does: text
 * and calls only in `….done` events, summaries as the only thought, a failed
 * response, an `error` event, no usage; and the body an upstream is sent.
 * The e2e tests (responses-pass-through.e2e.test.ts) cover the common path
 * through real processes.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ChatEvent } from "../src/protocol/chat-events.js";
import { parseResponsesRequest } from "../src/protocol/responses-request.js";
import { ResponsesApiDecoder } from "../src/upstream/responses-pass-through.js";
import { nativePassThrough, nativeUpstreamBody } from "../src/upstream/native-pass-through.js";
import type { ProviderConfig } from "../src/upstream/types.js";

function decode(events: unknown[]): { out: ChatEvent[]; decoder: ResponsesApiDecoder; errors: unknown[] } {
  const decoder = new ResponsesApiDecoder(performance.now(), 42);
  const out: ChatEvent[] = [];
  const errors: unknown[] = [];
  for (const event of events) {
    const error = decoder.chunk(event, out);
    if (error !== null) errors.push(error);
  }
  return { out, decoder, errors };
}

const text = (out: ChatEvent[], key: "content" | "reasoning"): string => out.map((e) => (e.type === "delta" ? (e[key] ?? "") : "")).join("");

const usage = { input_tokens: 10, input_tokens_details: { cached_tokens: 4 }, output_tokens: 6, output_tokens_details: { reasoning_tokens: 2 }, total_tokens: 16 };

describe("Responses stream events → events", () => {
  test("deltas, then done events that repeat them: each character once; usage with cached and reasoning tokens", () => {
    const { out, decoder } = decode([
      { type: "response.created", response: { status: "in_progress" } },
      { type: "response.output_item.added", output_index: 0, item: { type: "message", content: [] } },
      { type: "response.output_text.delta", output_index: 0, content_index: 0, delta: "Hel" },
      { type: "response.output_text.delta", output_index: 0, content_index: 0, delta: "lo" },
      { type: "response.output_text.done", output_index: 0, content_index: 0, text: "Hello" },
      { type: "response.output_item.done", output_index: 0, item: { type: "message", content: [{ type: "output_text", text: "Hello" }] } },
      { type: "response.completed", response: { status: "completed", usage } },
    ]);
    assert.equal(text(out, "content"), "Hello");
    assert.deepEqual(out.at(-1), { type: "finish", index: 0, reason: "stop" });
    assert.equal(decoder.done, true);
    assert.equal(decoder.allFinished(), true);
    const counts = decoder.usageCounts();
    assert.deepEqual([counts.promptTokens, counts.cachedTokens, counts.completionTokens, counts.reasoningTokens, counts.estimated], [10, 4, 6, 2, undefined]);
  });

  test("a server that sends only done events: the text and the call arguments still arrive; a call makes it tool_calls", () => {
    const { out } = decode([
      { type: "response.output_text.done", output_index: 0, content_index: 0, text: "Let me look." },
      { type: "response.output_item.added", output_index: 1, item: { type: "function_call", call_id: "call_1", name: "search", arguments: "" } },
      { type: "response.output_item.done", output_index: 1, item: { type: "function_call", call_id: "call_1", name: "search", arguments: '{"q":"x"}' } },
      { type: "response.completed", response: { status: "completed" } },
    ]);
    assert.equal(text(out, "content"), "Let me look.");
    const calls = out.flatMap((e) => (e.type === "delta" ? (e.toolCalls ?? []) : []));
    assert.deepEqual(calls, [
      { index: 0, id: "call_1", name: "search", arguments: "" },
      { index: 0, arguments: '{"q":"x"}' },
    ]);
    assert.deepEqual(out.at(-1), { type: "finish", index: 0, reason: "tool_calls" });
  });

  test("argument deltas of two calls keep their own indexes", () => {
    const { out } = decode([
      { type: "response.output_item.added", output_index: 0, item: { type: "function_call", call_id: "a", name: "one", arguments: "" } },
      { type: "response.output_item.added", output_index: 1, item: { type: "function_call", call_id: "b", name: "two", arguments: "" } },
      { type: "response.function_call_arguments.delta", output_index: 1, delta: "{}" },
      { type: "response.function_call_arguments.delta", output_index: 0, delta: "[]" },
      { type: "response.function_call_arguments.done", output_index: 0, arguments: "[]" },
      { type: "response.completed", response: { status: "completed" } },
    ]);
    const args = out.flatMap((e) => (e.type === "delta" ? (e.toolCalls ?? []) : [])).filter((c) => c.arguments !== "");
    assert.deepEqual(args, [
      { index: 1, arguments: "{}" },
      { index: 0, arguments: "[]" },
    ]);
  });

  test("a summary is the thought only when no reasoning text streams", () => {
    const summaryOnly = decode([
      { type: "response.reasoning_summary_text.delta", output_index: 0, delta: "Thinking briefly." },
      { type: "response.completed", response: { status: "completed" } },
    ]);
    assert.equal(text(summaryOnly.out, "reasoning"), "Thinking briefly.");
    const both = decode([
      { type: "response.reasoning_text.delta", output_index: 0, delta: "raw thought" },
      { type: "response.reasoning_summary_text.delta", output_index: 0, delta: "summary" },
      { type: "response.completed", response: { status: "completed" } },
    ]);
    assert.equal(text(both.out, "reasoning"), "raw thought");
  });

  test("incomplete: length (max_output_tokens) or content_filter", () => {
    for (const [reason, expected] of [
      ["max_output_tokens", "length"],
      ["content_filter", "content_filter"],
    ] as const) {
      const { out } = decode([{ type: "response.incomplete", response: { status: "incomplete", incomplete_details: { reason } } }]);
      assert.deepEqual(out.at(-1), { type: "finish", index: 0, reason: expected });
    }
  });

  test("response.failed and error events are in-band errors; without usage the counts are an estimate", () => {
    const failed = decode([
      { type: "response.output_text.delta", output_index: 0, content_index: 0, delta: "partial" },
      { type: "response.failed", response: { status: "failed", error: { code: "server_error", message: "boom" } } },
    ]);
    assert.deepEqual(failed.errors, [{ error: { message: "boom", type: "server_error", code: "server_error", param: null } }]);
    assert.equal(failed.decoder.done, true);
    const counts = failed.decoder.usageCounts();
    assert.deepEqual([counts.promptTokens, counts.completionTokens, counts.estimated], [42, 1, true]);
    const errorEvent = { type: "error", code: "rate_limit_exceeded", message: "slow down", param: null };
    assert.deepEqual(decode([errorEvent]).errors, [errorEvent]);
  });
});

describe("a whole response object → events", () => {
  test("reasoning, text with logprobs, a call and usage", () => {
    const decoder = new ResponsesApiDecoder(performance.now(), 42);
    const out: ChatEvent[] = [];
    const logprob = { token: "Hi", logprob: -0.5, bytes: [72, 105], top_logprobs: [] };
    const ok = decoder.completion(
      {
        object: "response",
        status: "completed",
        output: [
          { type: "reasoning", summary: [{ type: "summary_text", text: "sum" }] },
          { type: "message", role: "assistant", content: [{ type: "output_text", text: "Hi", annotations: [], logprobs: [logprob] }] },
          { type: "function_call", call_id: "call_9", name: "f", arguments: "{}" },
        ],
        usage,
      },
      out,
    );
    assert.equal(ok, true);
    assert.deepEqual(out, [
      {
        type: "delta",
        index: 0,
        content: "Hi",
        reasoning: "sum",
        toolCalls: [{ index: 0, id: "call_9", name: "f", arguments: "{}" }],
        logprobs: [{ token: "Hi", logprob: -0.5, bytes: [72, 105], topLogprobs: [] }],
      },
      { type: "finish", index: 0, reason: "tool_calls" },
    ]);
    assert.equal(decoder.usageCounts().cachedTokens, 4);
  });

  test("a failed response or something else is not a completion (the engine reads it as an error)", () => {
    const decoder = new ResponsesApiDecoder(performance.now(), 1);
    assert.equal(decoder.completion({ object: "response", status: "failed", output: [], error: { code: "server_error", message: "x" } }, []), false);
    assert.equal(decoder.completion({ object: "chat.completion", choices: [] }, []), false);
  });
});

describe("the body an upstream that serves the Responses API gets", () => {
  const provider = (apis?: ProviderConfig["apis"]): ProviderConfig => ({
    id: "p",
    baseUrl: "http://127.0.0.1:1/v1",
    apiKey: null,
    timeouts: { connectMs: 1, firstByteMs: 1, idleMs: 1 },
    maxConcurrent: 1,
    headers: {},
    healthCheckMs: 0,
    ...(apis === undefined ? {} : { apis }),
  });

  test("the conversation inlined without our ids, store false, no previous_response_id, unknown fields kept; the cap as max_output_tokens", () => {
    const history = [
      { type: "message" as const, id: "msg_ours", role: "user" as const, content: "earlier", status: "completed" },
      { type: "reasoning" as const, id: "rs_ours", summary: [], content: [{ type: "reasoning_text" as const, text: "thought" }] },
      { type: "reasoning" as const, id: "rs_theirs", summary: [], encrypted_content: "opaque" },
      { type: "message" as const, id: "msg_out", role: "assistant" as const, content: [{ type: "output_text" as const, text: "answer" }], status: "completed" },
    ];
    const request = parseResponsesRequest({ model: "m", input: "now", previous_response_id: "resp_1", store: true, max_output_tokens: 50, x_vendor: 1 }, {}, history);
    assert.equal(nativePassThrough(request.chat, provider()), null, "a provider without the flag gets the chat translation");
    const native = nativePassThrough(request.chat, provider(["responses"]));
    assert.ok(native !== null);
    const sent = JSON.parse(nativeUpstreamBody(native, { ...request.chat, maxTokens: 20 }, "upstream-m")) as Record<string, unknown>;
    assert.deepEqual(sent, {
      model: "upstream-m",
      input: [
        { type: "message", role: "user", content: "earlier", status: "completed" },
        { type: "reasoning", summary: [], encrypted_content: "opaque" },
        { type: "message", role: "assistant", content: [{ type: "output_text", text: "answer" }], status: "completed" },
        { role: "user", content: "now" },
      ],
      store: false,
      max_output_tokens: 20,
      x_vendor: 1,
    });
  });

  test("a new conversation's input goes as the client sent it", () => {
    const request = parseResponsesRequest({ model: "m", input: [{ role: "user", content: "hi" }], stream: true }, {});
    const native = nativePassThrough(request.chat, provider(["responses"]));
    assert.deepEqual(JSON.parse(nativeUpstreamBody(native!, request.chat, "u")), { model: "u", input: [{ role: "user", content: "hi" }], stream: true, store: false });
  });
});
