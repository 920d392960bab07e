/**
 * The project's own wire schemas (helpers/wire-schemas.ts) — what every test
 * validates against when the official OpenAPI document is not beside the
 * checkout — accept what chatport sends and refuse what a client could not use.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Ajv } from "ajv";
import type { ChatEvent } from "../src/protocol/chat-events.js";
import { ChatResponseBuilder } from "../src/protocol/chat-response.js";
import { wireSchemas } from "./helpers/wire-schemas.js";

const ajv = new Ajv({ strict: true, allErrors: true });
const valid = (name: keyof typeof wireSchemas, value: unknown): boolean => ajv.validate(wireSchemas[name], value);

function builder(): ChatResponseBuilder {
  return new ChatResponseBuilder({ model: "m", systemFingerprint: "fp", n: 1, includeUsage: true, fullText: false, usageTimings: false, logprobs: false, legacyFunctions: false });
}

test("the builder's chunks and body are valid", () => {
  const b = builder();
  const usage = { promptTokens: 3, completionTokens: 1, cachedTokens: 0, reasoningTokens: 0, prefillMs: 1, decodeMs: [] };
  const events: ChatEvent[] = [
    { type: "delta", index: 0, content: "hi", toolCalls: [{ index: 0, id: "call_1", name: "f", arguments: "{}" }] },
    { type: "finish", index: 0, reason: "tool_calls" },
    { type: "usage", usage },
  ];
  const chunks = events.flatMap((event) => b.accept(event));
  assert.ok(chunks.length >= 3);
  for (const chunk of chunks) assert.ok(valid("CreateChatCompletionStreamResponse", chunk), `${JSON.stringify(chunk)}: ${ajv.errorsText()}`);
});

test("what a client could not use is refused", () => {
  const chunk = { id: "chatcmpl-1", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta: { content: "x" }, finish_reason: null }] };
  assert.ok(valid("CreateChatCompletionStreamResponse", chunk));
  assert.ok(!valid("CreateChatCompletionStreamResponse", { ...chunk, object: "chat.completion" }));
  assert.ok(!valid("CreateChatCompletionStreamResponse", { ...chunk, choices: [{ index: 0, delta: {}, finish_reason: "done" }] }));
  assert.ok(!valid("CreateChatCompletionStreamResponse", { ...chunk, usage: { prompt_tokens: -1, completion_tokens: 0, total_tokens: 0 } }));
  const body = {
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 1,
    model: "m",
    choices: [{ index: 0, message: { role: "assistant", content: "x", refusal: null }, finish_reason: "stop", logprobs: null }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  };
  assert.ok(valid("CreateChatCompletionResponse", body));
  assert.ok(!valid("CreateChatCompletionResponse", { ...body, choices: [{ ...body.choices[0], message: { role: "assistant", content: "x" } }] }), "refusal is required");
  assert.ok(!valid("CreateChatCompletionResponse", { ...body, choices: [{ ...body.choices[0], message: { ...body.choices[0]!.message, tool_calls: [{ id: "c", type: "function", function: { name: "f" } }] } }] }));
  assert.ok(valid("ErrorResponse", { error: { message: "m", type: "invalid_request_error", param: null, code: null } }));
  assert.ok(!valid("ErrorResponse", { error: { message: "m", type: "invalid_request_error" } }), "param and code are always present");
  assert.ok(!valid("ListModelsResponse", { object: "list", data: [{ id: "m", object: "model", created: 1 }] }), "owned_by is required");
});
