/**
 * The fake upstream's `POST /v1/messages` (fake-upstream.ts serves it): an
 * Anthropic Messages body is read as the chat request saying the same
 * (`system` → a system message, text blocks → text, `tool_use` → an
 * assistant call, `tool_result` → a tool message, tools by name,
 * `tool_choice`, `thinking` enabled → reasoning), answered with the same
 * deterministic reply as chat completions ({@link fakeReply}), and written
 * as a `message` object or its named stream events. The reply has at most
 * the fake's default length: one that fills `max_tokens` stops with
 * `max_tokens`, a shorter one with `end_turn`. Every message before the last
 * is reported as read from the cache (`cache_read_input_tokens`, which
 * Anthropic leaves out of `input_tokens`).
 */
import { fakePromptTokens, fakeReply, type FakePiece, type FakeReply } from "./fake-upstream.js";

type JsonRecord = Record<string, unknown>;

function isRecord(value: unknown): value is JsonRecord {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const blocksOf = (content: unknown): JsonRecord[] =>
  typeof content === "string" ? [{ type: "text", text: content }] : Array.isArray(content) ? content.filter(isRecord) : [];

const textOf = (blocks: JsonRecord[]): string =>
  blocks
    .filter((b) => b.type === "text" && typeof b.text === "string")
    .map((b) => b.text as string)
    .join(" ");

/** A Messages body → the chat body its reply is derived from (`max_tokens` bounded by the fake's default length). */
export function chatBodyOfMessages(body: JsonRecord, defaultTokens: number): JsonRecord {
  const messages: JsonRecord[] = [];
  const system = typeof body.system === "string" ? body.system : textOf(blocksOf(body.system));
  if (system !== "") messages.push({ role: "system", content: system });
  for (const message of Array.isArray(body.messages) ? body.messages : []) {
    if (!isRecord(message)) continue;
    const blocks = blocksOf(message.content);
    for (const result of blocks.filter((b) => b.type === "tool_result")) {
      messages.push({ role: "tool", content: typeof result.content === "string" ? result.content : textOf(blocksOf(result.content)) });
    }
    const text = textOf(blocks);
    const calls = blocks.filter((b) => b.type === "tool_use");
    if (text !== "" || calls.length > 0 || blocks.length === 0) messages.push({ role: message.role, content: text });
  }
  const tools = (Array.isArray(body.tools) ? (body.tools as unknown[]) : []).filter(isRecord).map((t) => ({ type: "function", function: { name: t.name } }));
  const choice = isRecord(body.tool_choice) ? body.tool_choice : undefined;
  const thinking = isRecord(body.thinking) && body.thinking.type === "enabled";
  const maxTokens = typeof body.max_tokens === "number" ? Math.min(body.max_tokens, defaultTokens) : defaultTokens;
  return {
    model: body.model,
    messages,
    ...(tools.length > 0 ? { tools } : {}),
    ...(choice?.type === "none" ? { tool_choice: "none" } : choice?.type === "tool" ? { tool_choice: { type: "function", function: { name: choice.name } } } : {}),
    max_tokens: maxTokens,
    ...(thinking ? { reasoning_effort: "low" } : {}),
  };
}

/** `count_tokens`: every input token of the body, as its answer's usage counts them (the cached ones included). */
export function fakeMessagesInputTokens(body: JsonRecord): number {
  return fakePromptTokens(chatBodyOfMessages(body, 1));
}

/** One event of a fake Messages stream; `piece` marks the deltas (what `afterChunks` faults count). */
export interface FakeMessagesEvent {
  type: string;
  data: JsonRecord;
  piece: boolean;
}

export interface FakeMessagesAnswer {
  /** The `message` object (the non-streaming body). */
  message: JsonRecord;
  /** The stream, `message_start` to `message_stop`. */
  events: FakeMessagesEvent[];
}

/** The whole answer to a Messages body: `n` is the fake's request counter (ids); `withUsage` false leaves every usage out. */
export function fakeMessagesAnswer(body: JsonRecord, n: number, defaultTokens = 8, withUsage = true): FakeMessagesAnswer {
  const chat = chatBodyOfMessages(body, defaultTokens);
  const reply: FakeReply = fakeReply(chat, defaultTokens);
  const messages = chat.messages as JsonRecord[];
  const cached = fakePromptTokens({ messages: messages.slice(0, -1) });
  const model = typeof body.model === "string" ? body.model : "fake-model";
  const full = typeof body.max_tokens === "number" && reply.completionTokens >= body.max_tokens;
  const stopReason = reply.finishReason === "tool_calls" ? "tool_use" : full ? "max_tokens" : "end_turn";
  const usage = { input_tokens: reply.promptTokens - cached, cache_read_input_tokens: cached, cache_creation_input_tokens: 0, output_tokens: reply.completionTokens };
  const base: JsonRecord = { id: `msg_fake${n}`, type: "message", role: "assistant", model };

  const events: FakeMessagesEvent[] = [];
  const event = (type: string, data: JsonRecord, piece = false): void => void events.push({ type, data: { type, ...data }, piece });
  const startUsage = { ...usage, output_tokens: 1 };
  event("message_start", { message: { ...base, content: [], stop_reason: null, stop_sequence: null, ...(withUsage ? { usage: startUsage } : {}) } });

  const content: JsonRecord[] = [];
  const pieces = (key: keyof FakePiece): FakePiece[] => reply.pieces.filter((p) => p[key] !== undefined);
  const thought = pieces("reasoning");
  if (thought.length > 0) {
    const signature = `sig_fake${n}`;
    const index = content.push({ type: "thinking", thinking: thought.map((p) => p.reasoning).join(""), signature }) - 1;
    event("content_block_start", { index, content_block: { type: "thinking", thinking: "", signature: "" } });
    for (const p of thought) event("content_block_delta", { index, delta: { type: "thinking_delta", thinking: p.reasoning } }, true);
    event("content_block_delta", { index, delta: { type: "signature_delta", signature } });
    event("content_block_stop", { index });
  }
  const said = pieces("content");
  if (said.length > 0) {
    const index = content.push({ type: "text", text: said.map((p) => p.content).join(""), citations: null }) - 1;
    event("content_block_start", { index, content_block: { type: "text", text: "", citations: null } });
    event("ping", {});
    for (const p of said) event("content_block_delta", { index, delta: { type: "text_delta", text: p.content } }, true);
    event("content_block_stop", { index });
  }
  const call = reply.pieces[0]?.toolCall;
  if (call !== undefined) {
    const args = reply.pieces.map((p) => p.toolCall?.arguments ?? "").join("");
    const id = `toolu_fake${n}`;
    const index = content.push({ type: "tool_use", id, name: call.name, input: JSON.parse(args) as unknown }) - 1;
    event("content_block_start", { index, content_block: { type: "tool_use", id, name: call.name, input: {} } });
    for (const p of reply.pieces.slice(1)) event("content_block_delta", { index, delta: { type: "input_json_delta", partial_json: p.toolCall?.arguments ?? "" } }, true);
    event("content_block_stop", { index });
  }
  event("message_delta", { delta: { stop_reason: stopReason, stop_sequence: null }, ...(withUsage ? { usage: { output_tokens: usage.output_tokens } } : {}) });
  event("message_stop", {});
  const message: JsonRecord = { ...base, content, stop_reason: stopReason, stop_sequence: null, ...(withUsage ? { usage } : {}) };
  return { message, events };
}
