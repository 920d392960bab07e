/**
 * The Responses API forwarded to an upstream provider that serves it (its
 * `apis` include "responses"): the body it gets, and its answer — a
 * `response` object or its typed stream events — back into the same
 * ChatEvents every engine yields, so metering (input/output tokens, cached,
 * reasoning), storage and the client's own encoder work as for any model.
 *
 * The decoder rewrites each Responses event as the `chat.completion.chunk`
 * (or whole `chat.completion`) saying the same thing and hands it to the chat
 * decoder (upstream-wire.ts): tool-call ids, finishes, usage, the estimate
 * when the upstream reports no usage and the timings are then done once.
 * Some servers send only the `….done` events (or a text or call only in
 * `response.output_item.done`): what a done event holds beyond the deltas
 * already seen is sent as one more delta.
 */
import type { ChatEvent } from "../protocol/chat-events.js";
import { numberField, stringField } from "./native-pass-through.js";
import { isRecord, ResponseDecoder, type JsonRecord, type UpstreamDecoder } from "./upstream-wire.js";


/** Responses usage → the chat usage object the chat decoder reads. */
function chatUsage(raw: unknown): JsonRecord | undefined {
  if (!isRecord(raw)) return undefined;
  const input = numberField(raw.input_tokens);
  const output = numberField(raw.output_tokens);
  if (input === undefined && output === undefined) return undefined;
  const inputDetails = isRecord(raw.input_tokens_details) ? raw.input_tokens_details : {};
  const outputDetails = isRecord(raw.output_tokens_details) ? raw.output_tokens_details : {};
  return {
    prompt_tokens: input ?? 0,
    completion_tokens: output ?? 0,
    prompt_tokens_details: { cached_tokens: numberField(inputDetails.cached_tokens) ?? 0 },
    completion_tokens_details: { reasoning_tokens: numberField(outputDetails.reasoning_tokens) ?? 0 },
  };
}

/** A `response` object's end → the chat finish reason. */
function finishReason(response: JsonRecord, calls: number): string {
  if (response.status === "incomplete") {
    const reason = isRecord(response.incomplete_details) ? response.incomplete_details.reason : undefined;
    return reason === "content_filter" ? "content_filter" : "length";
  }
  return calls > 0 ? "tool_calls" : "stop";
}

/** Output-text logprobs (the chat shape already: token, logprob, bytes, top_logprobs) as chat `logprobs`. */
function chatLogprobs(raw: unknown): JsonRecord | null {
  return Array.isArray(raw) && raw.length > 0 ? { content: raw } : null;
}

/** The failure a `response.failed` (or a failed response object) carries, as an in-band error. */
function failure(response: unknown): JsonRecord {
  const error = isRecord(response) && isRecord(response.error) ? response.error : {};
  return { error: { message: stringField(error.message) ?? "the upstream response failed", type: "server_error", code: stringField(error.code) ?? null, param: null } };
}

interface Texts {
  content: string;
  reasoning: string;
  logprobs: unknown[];
  calls: Array<{ id?: string; name?: string; arguments: string }>;
}

/** A whole response's output items → text, thought and calls. */
function outputOf(response: JsonRecord): Texts {
  const out: Texts = { content: "", reasoning: "", logprobs: [], calls: [] };
  for (const item of Array.isArray(response.output) ? response.output : []) {
    if (!isRecord(item)) continue;
    if (item.type === "message" && Array.isArray(item.content)) {
      for (const part of item.content) {
        if (!isRecord(part)) continue;
        out.content += stringField(part.text) ?? stringField(part.refusal) ?? "";
        if (Array.isArray(part.logprobs)) out.logprobs.push(...(part.logprobs as unknown[]));
      }
    } else if (item.type === "reasoning") {
      out.reasoning += reasoningText(item);
    } else if (item.type === "function_call") {
      out.calls.push({ id: stringField(item.call_id), name: stringField(item.name), arguments: stringField(item.arguments) ?? "" });
    }
  }
  return out;
}

/** A reasoning item's thought: its reasoning text, or else its summary. */
function reasoningText(item: JsonRecord): string {
  const parts = (key: string): string =>
    (Array.isArray(item[key]) ? (item[key] as unknown[]) : []).map((p) => (isRecord(p) ? (stringField(p.text) ?? "") : "")).join("");
  return parts("content") || parts("summary");
}

/**
 * Decodes one attempt's Responses answer. Create one per attempt, like the
 * chat decoder it feeds.
 */
export class ResponsesApiDecoder implements UpstreamDecoder {
  /** The response ended (completed, incomplete or failed), or the upstream sent `[DONE]`. */
  done = false;
  private readonly chat: ResponseDecoder;
  /** Output index of a function call → its tool-call index. */
  private readonly calls = new Map<number, number>();
  /** Text sent so far per stream (`text:<output>:<part>`, `args:<output>`, `think:<output>`). */
  private readonly sent = new Map<string, string>();
  /** Output indexes whose raw reasoning text streams (their summary is then not the thought). */
  private readonly reasoningText = new Set<number>();

  constructor(startedAt: number, promptEstimate: number) {
    this.chat = new ResponseDecoder(1, startedAt, promptEstimate);
  }

  allFinished(): boolean {
    return this.chat.allFinished();
  }

  usageCounts(): ReturnType<ResponseDecoder["usageCounts"]> {
    return this.chat.usageCounts();
  }

  /** A whole `response` object → events. False when it is not one (or it failed: the engine reads it as an error). */
  completion(json: unknown, out: ChatEvent[]): boolean {
    if (!isRecord(json) || json.object !== "response" || !Array.isArray(json.output) || json.status === "failed") return false;
    const texts = outputOf(json);
    const message: JsonRecord = { role: "assistant", content: texts.content === "" ? null : texts.content };
    if (texts.reasoning !== "") message.reasoning_content = texts.reasoning;
    if (texts.calls.length > 0) {
      message.tool_calls = texts.calls.map((c, index) => ({ index, id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } }));
    }
    const choice = { index: 0, message, logprobs: chatLogprobs(texts.logprobs), finish_reason: finishReason(json, texts.calls.length) };
    this.done = true;
    return this.chat.completion({ choices: [choice], usage: chatUsage(json.usage) }, out);
  }

  /** One stream event → events appended to `out`; returns an in-stream error (an `error` event, `response.failed`) as an error object. */
  chunk(json: unknown, out: ChatEvent[]): JsonRecord | null {
    if (!isRecord(json)) return null;
    const type = stringField(json.type);
    const output = numberField(json.output_index) ?? 0;
    switch (type) {
      case "error":
        return json;
      case "response.failed":
        this.done = true;
        return failure(json.response);
      case "response.completed":
      case "response.incomplete": {
        const response = isRecord(json.response) ? json.response : {};
        this.done = true;
        this.feed({ index: 0, delta: {}, finish_reason: finishReason(response, this.calls.size) }, out, chatUsage(response.usage));
        return null;
      }
      case "response.output_text.delta":
      case "response.refusal.delta":
        this.text(`text:${output}:${numberField(json.content_index) ?? 0}`, stringField(json.delta), (delta) => ({ content: delta }), out, chatLogprobs(json.logprobs));
        return null;
      case "response.output_text.done":
      case "response.refusal.done":
        this.rest(`text:${output}:${numberField(json.content_index) ?? 0}`, stringField(json.text) ?? stringField(json.refusal), (delta) => ({ content: delta }), out);
        return null;
      case "response.reasoning_text.delta":
        this.reasoningText.add(output);
        this.text(`think:${output}`, stringField(json.delta), (delta) => ({ reasoning_content: delta }), out);
        return null;
      case "response.reasoning_summary_text.delta":
        if (!this.reasoningText.has(output)) this.text(`think:${output}`, stringField(json.delta), (delta) => ({ reasoning_content: delta }), out);
        return null;
      case "response.output_item.added":
      case "response.output_item.done":
        this.item(output, json.item, type === "response.output_item.done", out);
        return null;
      case "response.function_call_arguments.delta":
        this.item(output, { type: "function_call" }, false, out);
        this.text(`args:${output}`, stringField(json.delta), (delta) => this.callDelta(output, delta), out);
        return null;
      case "response.function_call_arguments.done":
        this.rest(`args:${output}`, stringField(json.arguments), (delta) => this.callDelta(output, delta), out);
        return null;
      default:
        // Without a type, an error object is still an error; the other events (created, in_progress, part added…) carry nothing new.
        return type === undefined && json.error !== undefined && json.error !== null ? json : null;
    }
  }

  /** An output item seen in `added`/`done`: a call is opened once; a done item's text beyond what streamed is sent. */
  private item(output: number, raw: unknown, done: boolean, out: ChatEvent[]): void {
    if (!isRecord(raw)) return;
    if (raw.type === "function_call") {
      if (!this.calls.has(output)) {
        const index = this.calls.size;
        this.calls.set(output, index);
        this.feed({ index: 0, delta: { tool_calls: [{ index, id: stringField(raw.call_id), type: "function", function: { name: stringField(raw.name) ?? "", arguments: "" } }] } }, out);
      }
      if (done || (stringField(raw.arguments) ?? "") !== "") this.rest(`args:${output}`, stringField(raw.arguments), (delta) => this.callDelta(output, delta), out);
      return;
    }
    if (!done) return;
    if (raw.type === "message" && Array.isArray(raw.content)) {
      raw.content.forEach((part, i) => {
        if (isRecord(part)) this.rest(`text:${output}:${i}`, stringField(part.text) ?? stringField(part.refusal), (delta) => ({ content: delta }), out);
      });
    } else if (raw.type === "reasoning") {
      this.rest(`think:${output}`, reasoningText(raw), (delta) => ({ reasoning_content: delta }), out);
    }
  }

  private callDelta(output: number, delta: string): JsonRecord {
    return { tool_calls: [{ index: this.calls.get(output) ?? 0, function: { arguments: delta } }] };
  }

  /** A delta of one text stream. */
  private text(key: string, delta: string | undefined, toDelta: (text: string) => JsonRecord, out: ChatEvent[], logprobs: JsonRecord | null = null): void {
    if (delta === undefined || delta === "") return;
    this.sent.set(key, (this.sent.get(key) ?? "") + delta);
    this.feed({ index: 0, delta: toDelta(delta), logprobs }, out);
  }

  /** A stream's whole text (a done event): whatever of it was not sent yet. */
  private rest(key: string, whole: string | undefined, toDelta: (text: string) => JsonRecord, out: ChatEvent[]): void {
    const sent = this.sent.get(key) ?? "";
    if (whole === undefined || whole.length <= sent.length || !whole.startsWith(sent)) return;
    this.text(key, whole.slice(sent.length), toDelta, out);
  }

  private feed(choice: JsonRecord, out: ChatEvent[], usage?: JsonRecord): void {
    this.chat.chunk({ choices: [choice], ...(usage === undefined ? {} : { usage }) }, out);
  }
}
