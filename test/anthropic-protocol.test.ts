/**
 * The Messages API's protocol files, pure: the body's translation to a chat
 * request (and its errors naming the Messages fields), the encoder's blocks,
 * stop reasons, usage and frames, and Anthropic's error envelope.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { anthropicErrorEnvelope } from "../src/protocol/anthropic-errors.js";
import { parseAnthropicCountTokensRequest, parseAnthropicMessagesRequest } from "../src/protocol/anthropic-messages-request.js";
import { AnthropicMessagesEncoder } from "../src/protocol/anthropic-messages-response.js";
import type { ChatEvent } from "../src/protocol/chat-events.js";
import { ApiError, invalidApiKey, overloaded } from "../src/protocol/errors.js";
import { assertEventOrder, type StreamEvent } from "./helpers/anthropic-stream.js";

const base = { model: "m", max_tokens: 16, messages: [{ role: "user", content: "hi" }] };

function paramOf(body: unknown, media = false): string | null {
  try {
    parseAnthropicMessagesRequest(body, { media });
  } catch (err) {
    assert.ok(err instanceof ApiError, String(err));
    assert.equal(err.status, 400);
    return err.param;
  }
  assert.fail("expected a 400");
}

describe("request", () => {
  test("refusals name the Messages field", () => {
    assert.equal(paramOf({ model: "m", messages: base.messages }), "max_tokens");
    assert.equal(paramOf({ ...base, messages: [{ role: "user", content: [{ type: "document", source: {} }] }] }), "messages[0].content[0].type");
    assert.equal(paramOf({ ...base, messages: [{ role: "user", content: [{ type: "tool_use", id: "a", name: "f", input: {} }] }] }), "messages[0].content[0].type");
    assert.equal(paramOf({ ...base, messages: [{ role: "assistant", content: [{ type: "tool_use", id: "a", name: "f", input: "nope" }] }] }), "messages[0].content[0].input");
    assert.equal(paramOf({ ...base, messages: [{ role: "user", content: [{ type: "image", source: { type: "url", url: "http://x/y.png" } }] }] }), "messages[0].content[0]");
    assert.equal(paramOf({ ...base, tools: [{ type: "web_search_20250305", name: "web_search" }] }), "tools[0].type");
    assert.equal(paramOf({ ...base, tools: [{ name: "f", input_schema: { type: "nonsense" } }] }), "tools[0].input_schema");
    assert.equal(paramOf({ ...base, tool_choice: { type: "any" } }), "tool_choice");
    assert.equal(paramOf({ ...base, temperature: 1.5 }), "temperature");
    assert.equal(paramOf({ ...base, thinking: { type: "enabled" } }), "thinking.budget_tokens");
  });

  test("the chat translation: system, blocks, tools, choice, thinking, stops, user", () => {
    const { chat } = parseAnthropicMessagesRequest(
      {
        ...base,
        system: [{ type: "text", text: "Be brief." }],
        messages: [
          { role: "user", content: "q" },
          { role: "assistant", content: [{ type: "thinking", thinking: "hm", signature: "s" }, { type: "tool_use", id: "toolu_1", name: "f", input: { a: 1 } }] },
          { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: [{ type: "text", text: "r1" }, { type: "text", text: "r2" }] }, { type: "text", text: "next", cache_control: { type: "ephemeral" } }] },
        ],
        tools: [{ name: "f", input_schema: { type: "object", properties: { a: { type: "integer" } } } }],
        tool_choice: { type: "tool", name: "f", disable_parallel_tool_use: true },
        thinking: { type: "enabled", budget_tokens: 20000 },
        stop_sequences: ["a", "b", "c", "d", "e"],
        metadata: { user_id: "u" },
        top_k: 5,
      },
      {},
    );
    assert.deepEqual(chat.wire.messages, [
      { role: "system", content: "Be brief." },
      { role: "user", content: "q" },
      { role: "assistant", content: null, tool_calls: [{ id: "toolu_1", type: "function", function: { name: "f", arguments: '{"a":1}' } }], reasoning_content: "hm" },
      { role: "tool", tool_call_id: "toolu_1", content: "r1\nr2" },
      { role: "user", content: "next" },
    ]);
    assert.deepEqual(chat.tools.choice, { type: "function", name: "f" });
    assert.equal(chat.tools.parallel, false);
    assert.equal(chat.reasoningEffort, "high");
    assert.equal(chat.thinkingBudget, 20000);
    assert.deepEqual(chat.stop, ["a", "b", "c", "d", "e"], "more than OpenAI's four stops");
    assert.equal(chat.user, "u");
    assert.equal(chat.sampling.topK, 5);
    assert.equal(chat.maxTokens, 16);
    assert.equal(chat.upstreamEndpoint, "chat/completions");
  });

  test("output_config: a JSON Schema format is the chat response_format; its effort the reasoning effort", () => {
    const schema = { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"] };
    const { chat } = parseAnthropicMessagesRequest({ ...base, output_config: { format: { type: "json_schema", schema }, effort: "medium" } }, {});
    assert.deepEqual(chat.responseFormat, { type: "json_schema", name: "output", schema, strict: true });
    assert.equal(chat.reasoningEffort, "medium");
    assert.equal(paramOf({ ...base, output_config: { format: { type: "json_schema", schema: { type: "nonsense" } } } }), "output_config.format.schema");
  });

  test("count_tokens needs no max_tokens; thinking disabled is effort none", () => {
    const { chat } = parseAnthropicCountTokensRequest({ model: "m", messages: base.messages, thinking: { type: "disabled" } }, {});
    assert.equal(chat.maxTokens, null);
    assert.equal(chat.reasoningEffort, "none");
    assert.equal(chat.thinkingBudget, undefined);
  });
});

const usage = { promptTokens: 30, completionTokens: 9, cachedTokens: 12, reasoningTokens: 2, prefillMs: 0, decodeMs: [] };

function run(events: ChatEvent[], stream = true): { frames: StreamEvent[]; encoder: AnthropicMessagesEncoder } {
  const { chat } = parseAnthropicMessagesRequest({ ...base, stream }, {});
  const encoder = new AnthropicMessagesEncoder({ request: chat, systemFingerprint: "fp", promptTokens: 30 });
  const frames = [...encoder.open(), ...events.flatMap((e) => encoder.accept(e)), ...encoder.finish()];
  for (const frame of frames) assert.equal((frame.data as StreamEvent).type, frame.event);
  return { frames: frames.map((f) => f.data as StreamEvent), encoder };
}

describe("encoder", () => {
  test("thinking, text and tool_use blocks in order; stop_reason tool_use; Anthropic's usage", () => {
    const { frames, encoder } = run([
      { type: "delta", index: 0, reasoning: "think" },
      { type: "delta", index: 0, content: "Hello" },
      { type: "delta", index: 0, toolCalls: [{ index: 0, id: "call_x", name: "f", arguments: '{"a":' }] },
      { type: "delta", index: 0, toolCalls: [{ index: 0, arguments: "1}" }, { index: 1, id: "call_y", name: "g", arguments: "{}" }] },
      { type: "finish", index: 0, reason: "tool_calls" },
      { type: "usage", usage },
    ]);
    assertEventOrder(frames);
    const body = encoder.body();
    assert.equal(body.stop_reason, "tool_use");
    assert.deepEqual(
      body.content.map((b) => b.type),
      ["thinking", "text", "tool_use", "tool_use"],
    );
    const [, , first, second] = body.content;
    assert.ok(first?.type === "tool_use" && second?.type === "tool_use");
    assert.deepEqual(first.input, { a: 1 });
    assert.deepEqual(second.input, {});
    assert.match(first.id, /^toolu_/);
    assert.notEqual(first.id, second.id);
    assert.deepEqual(body.usage, { input_tokens: 18, output_tokens: 9, cache_creation_input_tokens: 0, cache_read_input_tokens: 12, service_tier: "standard" });
    const start = frames[0] as unknown as { message: { usage: { input_tokens: number } } };
    assert.equal(start.message.usage.input_tokens, 30, "message_start announces the prompt");
    const delta = frames.at(-2) as unknown as { usage: { input_tokens: number } };
    assert.equal(delta.usage.input_tokens, 18);
  });

  test("stop reasons: a stop sequence is named; length is max_tokens; an end is end_turn", () => {
    const stopped = run([{ type: "delta", index: 0, content: "x" }, { type: "finish", index: 0, reason: "stop", stop: "END" }, { type: "usage", usage }], false).encoder.body();
    assert.equal(stopped.stop_reason, "stop_sequence");
    assert.equal(stopped.stop_sequence, "END");
    assert.equal(run([{ type: "finish", index: 0, reason: "length" }, { type: "usage", usage }]).encoder.body().stop_reason, "max_tokens");
    const ended = run([{ type: "finish", index: 0, reason: "stop" }, { type: "usage", usage }]).encoder.body();
    assert.equal(ended.stop_reason, "end_turn");
    assert.equal(ended.stop_sequence, null);
    assert.deepEqual(ended.content, []);
  });

  test("a failure after the start is one error event in Anthropic's shape", () => {
    const { chat } = parseAnthropicMessagesRequest({ ...base, stream: true }, {});
    const frames = new AnthropicMessagesEncoder({ request: chat, systemFingerprint: "fp" }).failed(new ApiError(502, "server_error", "upstream broke", { code: "upstream_error" }));
    assert.deepEqual(frames, [{ event: "error", data: { type: "error", error: { type: "api_error", message: "upstream broke" } } }]);
  });
});

describe("error envelope", () => {
  test("Anthropic's statuses and types; the field named in the message", () => {
    const busy = anthropicErrorEnvelope.render(overloaded("busy", 3));
    assert.equal(busy.status, 529);
    assert.deepEqual(busy.body, { type: "error", error: { type: "overloaded_error", message: "busy" } });
    assert.equal(busy.headers["retry-after"], "3");
    assert.equal((anthropicErrorEnvelope.render(invalidApiKey()).body as { error: { type: string } }).error.type, "authentication_error");
    const named = anthropicErrorEnvelope.render(new ApiError(400, "invalid_request_error", "is wrong", { param: "tools[0].name" }));
    assert.equal((named.body as { error: { message: string } }).error.message, "tools[0].name: is wrong");
    for (const [status, type] of [[403, "permission_error"], [404, "not_found_error"], [413, "request_too_large"], [429, "rate_limit_error"], [500, "api_error"]] as const) {
      assert.equal((anthropicErrorEnvelope.render(new ApiError(status, "server_error", "x")).body as { error: { type: string } }).error.type, type);
    }
  });
});
