/**
 * The fake upstream's `POST /v1/responses` (fake-upstream.ts serves it):
 * a Responses body is read as the chat request saying the same
 * (instructions → system, input items with a role → messages, function call
 * outputs → tool messages, function tools, `max_output_tokens`,
 * `reasoning.effort`), answered with the same deterministic reply as chat
 * completions ({@link fakeReply}), and written as a `response` object or its
 * typed stream events. Beyond chat: every message before the last is
 * reported as cached (`input_tokens_details.cached_tokens`), and a reply as
 * long as `max_output_tokens` is `incomplete` (it was cut there).
 */
import { fakePromptTokens, fakeReply, type FakePiece, type FakeReply } from "./fake-upstream.js";

type JsonRecord = Record<string, unknown>;

function isRecord(value: unknown): value is JsonRecord {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A Responses body → the chat body its reply is derived from. */
export function chatBodyOfResponses(body: JsonRecord): JsonRecord {
  const messages: JsonRecord[] = [];
  if (typeof body.instructions === "string" && body.instructions !== "") messages.push({ role: "system", content: body.instructions });
  const input = typeof body.input === "string" ? [{ role: "user", content: body.input }] : Array.isArray(body.input) ? (body.input as unknown[]) : [];
  for (const item of input) {
    if (!isRecord(item)) continue;
    if (typeof item.role === "string") messages.push({ role: item.role, content: item.content });
    else if (item.type === "function_call_output") messages.push({ role: "tool", content: typeof item.output === "string" ? item.output : "" });
  }
  const tools = (Array.isArray(body.tools) ? (body.tools as unknown[]) : []).filter(isRecord).map((t) => ({ type: "function", function: { name: t.name } }));
  const choice = body.tool_choice;
  const reasoning = isRecord(body.reasoning) ? body.reasoning.effort : undefined;
  return {
    model: body.model,
    messages,
    ...(tools.length > 0 ? { tools } : {}),
    ...(choice === undefined ? {} : { tool_choice: isRecord(choice) ? { type: "function", function: { name: choice.name } } : choice }),
    ...(typeof body.max_output_tokens === "number" ? { max_tokens: body.max_output_tokens } : {}),
    ...(typeof reasoning === "string" ? { reasoning_effort: reasoning } : {}),
  };
}

/** One event of a fake Responses stream; `piece` marks the deltas (what `afterChunks` faults count). */
export interface FakeResponsesEvent {
  type: string;
  data: JsonRecord;
  piece: boolean;
}

export interface FakeResponsesAnswer {
  /** The `response` object (non-streaming body, and the one `response.completed` carries). */
  response: JsonRecord;
  /** The stream, `response.created` to `response.completed`/`response.incomplete`, without sequence numbers. */
  events: FakeResponsesEvent[];
}

/** The whole answer to a Responses body: `n` is the fake's request counter (ids). */
export function fakeResponsesAnswer(body: JsonRecord, n: number, defaultTokens?: number): FakeResponsesAnswer {
  const chat = chatBodyOfResponses(body);
  const reply: FakeReply = fakeReply(chat, defaultTokens);
  const messages = chat.messages as JsonRecord[];
  const cached = fakePromptTokens({ messages: messages.slice(0, -1) });
  const top = typeof body.top_logprobs === "number" ? body.top_logprobs : -1;
  const cut = typeof body.max_output_tokens === "number" && reply.finishReason !== "tool_calls";
  const model = typeof body.model === "string" ? body.model : "fake-model";
  const base: JsonRecord = {
    id: `resp_fake${n}`,
    object: "response",
    created_at: Math.floor(Date.now() / 1000),
    model,
    error: null,
    incomplete_details: null,
    store: body.store !== false,
    previous_response_id: body.previous_response_id ?? null,
  };
  const events: FakeResponsesEvent[] = [];
  const event = (type: string, data: JsonRecord, piece = false): void => void events.push({ type, data: { type, ...data }, piece });
  event("response.created", { response: { ...base, status: "in_progress", output: [] } });
  event("response.in_progress", { response: { ...base, status: "in_progress", output: [] } });

  const output: JsonRecord[] = [];
  const pieces = (key: keyof FakePiece): FakePiece[] => reply.pieces.filter((p) => p[key] !== undefined);
  const thought = pieces("reasoning");
  if (thought.length > 0) {
    const id = `rs_fake${n}`;
    const text = thought.map((p) => p.reasoning).join("");
    const item = { type: "reasoning", id, summary: [], content: [{ type: "reasoning_text", text }] };
    const at = output.push(item) - 1;
    event("response.output_item.added", { output_index: at, item: { ...item, content: [] } });
    for (const p of thought) event("response.reasoning_text.delta", { item_id: id, output_index: at, content_index: 0, delta: p.reasoning }, true);
    event("response.reasoning_text.done", { item_id: id, output_index: at, content_index: 0, text });
    event("response.output_item.done", { output_index: at, item });
  }
  const said = pieces("content");
  if (said.length > 0) {
    const id = `msg_fake${n}`;
    const logprobsOf = (p: FakePiece): unknown[] => (top >= 0 ? pieceLogprobsOf(p, reply.pieces.indexOf(p), top) : []);
    const text = said.map((p) => p.content).join("");
    const part = { type: "output_text", text, annotations: [], logprobs: said.flatMap(logprobsOf) };
    const item = { type: "message", id, status: cut ? "incomplete" : "completed", role: "assistant", content: [part] };
    const at = output.push(item) - 1;
    event("response.output_item.added", { output_index: at, item: { ...item, status: "in_progress", content: [] } });
    event("response.content_part.added", { item_id: id, output_index: at, content_index: 0, part: { ...part, text: "", logprobs: [] } });
    for (const p of said) event("response.output_text.delta", { item_id: id, output_index: at, content_index: 0, delta: p.content, logprobs: logprobsOf(p) }, true);
    event("response.output_text.done", { item_id: id, output_index: at, content_index: 0, text, logprobs: part.logprobs });
    event("response.content_part.done", { item_id: id, output_index: at, content_index: 0, part });
    event("response.output_item.done", { output_index: at, item });
  }
  const call = reply.pieces[0]?.toolCall;
  if (call !== undefined) {
    const id = `fc_fake${n}`;
    const args = reply.pieces.map((p) => p.toolCall?.arguments ?? "").join("");
    const item = { type: "function_call", id, call_id: call.id, name: call.name, arguments: args, status: "completed" };
    const at = output.push(item) - 1;
    event("response.output_item.added", { output_index: at, item: { ...item, arguments: "", status: "in_progress" } });
    for (const p of reply.pieces.slice(1)) event("response.function_call_arguments.delta", { item_id: id, output_index: at, delta: p.toolCall?.arguments ?? "" }, true);
    event("response.function_call_arguments.done", { item_id: id, output_index: at, arguments: args });
    event("response.output_item.done", { output_index: at, item });
  }
  const response: JsonRecord = {
    ...base,
    status: cut ? "incomplete" : "completed",
    incomplete_details: cut ? { reason: "max_output_tokens" } : null,
    output,
    usage: {
      input_tokens: reply.promptTokens,
      input_tokens_details: { cached_tokens: cached },
      output_tokens: reply.completionTokens,
      output_tokens_details: { reasoning_tokens: reply.reasoningTokens },
      total_tokens: reply.promptTokens + reply.completionTokens,
    },
  };
  event(cut ? "response.incomplete" : "response.completed", { response });
  return { response, events };
}

/** The logprob entries of one piece, as `output_text` carries them. */
function pieceLogprobsOf(piece: FakePiece, position: number, top: number): unknown[] {
  const token = piece.content ?? "";
  const entry = (t: string, lp: number): JsonRecord => ({ token: t, logprob: lp, bytes: Array.from(Buffer.from(t, "utf8")) });
  const logprob = -0.1 * (position + 1);
  return [{ ...entry(token, logprob), top_logprobs: Array.from({ length: top }, (_, j) => (j === 0 ? entry(token, logprob) : entry(`alt${j}`, logprob - j))) }];
}
