/**
 * The Anthropic Messages API forwarded to an upstream provider that serves
 * it (its `apis` include "messages": Anthropic, vLLM, llama-server, LiteLLM):
 * the body it gets, and its answer — a `message` object or its named stream
 * events — back into the same ChatEvents every engine yields, so metering,
 * limits, the ledger and the client's own encoder work as for any model.
 *
 * Like the Responses decoder (responses-pass-through.ts), each Messages event
 * is rewritten as the `chat.completion.chunk` (or whole `chat.completion`)
 * saying the same thing and handed to the chat decoder (upstream-wire.ts):
 * `text` → content, `thinking` → reasoning, `tool_use` → tool-call deltas
 * (`input_json_delta` as the arguments' text), `stop_reason` → the finish
 * (`stop_sequence` with the sequence), usage → the chat usage. Anthropic's
 * `input_tokens` leaves out the tokens read from and written to its cache,
 * so the prompt is the sum of the three and `cache_read_input_tokens` its
 * cached part. Anthropic reports no reasoning-token count: the thinking
 * deltas are counted (capped at the output tokens), as for an estimate.
 */
import type { ChatEvent, FinishReason } from "../protocol/chat-events.js";
import { numberField, stringField } from "./native-pass-through.js";
import { isRecord, ResponseDecoder, type JsonRecord, type UpstreamDecoder } from "./upstream-wire.js";


/** Anthropic's usage fields (those present; a stream spreads them over `message_start` and `message_delta`). */
interface MessagesUsage {
  input?: number;
  output?: number;
  cacheRead?: number;
  cacheCreation?: number;
}

function readUsage(raw: unknown, into: MessagesUsage): void {
  if (!isRecord(raw)) return;
  const input = numberField(raw.input_tokens);
  const output = numberField(raw.output_tokens);
  const cacheRead = numberField(raw.cache_read_input_tokens);
  const cacheCreation = numberField(raw.cache_creation_input_tokens);
  if (input !== undefined) into.input = input;
  if (output !== undefined) into.output = output;
  if (cacheRead !== undefined) into.cacheRead = cacheRead;
  if (cacheCreation !== undefined) into.cacheCreation = cacheCreation;
}

/** A stop reason → the chat finish reason. */
function finishReason(reason: unknown): FinishReason {
  switch (reason) {
    case "max_tokens":
    case "model_context_window_exceeded":
      return "length";
    case "tool_use":
      return "tool_calls";
    case "refusal":
      return "content_filter";
    default:
      return "stop";
  }
}

/** An Anthropic error object (`{type: "error", error: {type, message}}`) as the error the chat path reads. */
function failure(json: JsonRecord): JsonRecord {
  const error = isRecord(json.error) ? json.error : {};
  return { error: { message: stringField(error.message) ?? "the upstream message failed", type: stringField(error.type) ?? "server_error", code: null, param: null } };
}

/** What one content block of the stream is. */
interface OpenBlock {
  kind: "text" | "thinking" | "tool_use" | "other";
  /** tool_use: its tool-call index, its `input` from the start event, and whether its JSON streamed. */
  call?: number;
  input?: unknown;
  streamed?: boolean;
}

/**
 * Decodes one attempt's Messages answer. Create one per attempt, like the
 * chat decoder it feeds.
 */
export class MessagesApiDecoder implements UpstreamDecoder {
  /** The message ended (`message_stop`), or the upstream sent `[DONE]`. */
  done = false;
  private readonly chat: ResponseDecoder;
  private readonly blocks = new Map<number, OpenBlock>();
  private readonly usage: MessagesUsage = {};
  private calls = 0;
  private finished = false;

  constructor(startedAt: number, promptEstimate: number) {
    this.chat = new ResponseDecoder(1, startedAt, promptEstimate);
  }

  allFinished(): boolean {
    return this.chat.allFinished();
  }

  usageCounts(): ReturnType<ResponseDecoder["usageCounts"]> {
    return this.chat.usageCounts();
  }

  /** A whole `message` object → events. False when it is not one (an error body: the engine reads it as an error). */
  completion(json: unknown, out: ChatEvent[]): boolean {
    if (!isRecord(json) || json.type !== "message" || !Array.isArray(json.content)) return false;
    let content = "";
    let reasoning = "";
    const calls: JsonRecord[] = [];
    for (const block of json.content) {
      if (!isRecord(block)) continue;
      if (block.type === "text") content += stringField(block.text) ?? "";
      else if (block.type === "thinking") reasoning += stringField(block.thinking) ?? "";
      else if (block.type === "tool_use") {
        const args = JSON.stringify(isRecord(block.input) ? block.input : {});
        calls.push({ index: calls.length, id: stringField(block.id), type: "function", function: { name: stringField(block.name) ?? "", arguments: args } });
      }
    }
    const message: JsonRecord = { role: "assistant", content: content === "" ? null : content };
    if (reasoning !== "") message.reasoning_content = reasoning;
    if (calls.length > 0) message.tool_calls = calls;
    readUsage(json.usage, this.usage);
    const reasoningTokens = reasoning === "" ? 0 : Math.max(1, Math.ceil(reasoning.length / 4));
    this.done = true;
    const ok = this.chat.completion({ choices: [{ index: 0, message, finish_reason: finishReason(json.stop_reason) }], usage: this.chatUsage(reasoningTokens) }, out);
    this.markStop(json.stop_reason, json.stop_sequence, out);
    return ok;
  }

  /** One stream event → events appended to `out`; returns an in-stream `error` event as an error object. */
  chunk(json: unknown, out: ChatEvent[]): JsonRecord | null {
    if (!isRecord(json)) return null;
    switch (json.type) {
      case "error":
        return failure(json);
      case "message_start":
        if (isRecord(json.message)) readUsage(json.message.usage, this.usage);
        return null;
      case "content_block_start":
        this.start(numberField(json.index) ?? 0, json.content_block, out);
        return null;
      case "content_block_delta":
        this.delta(numberField(json.index) ?? 0, json.delta, out);
        return null;
      case "content_block_stop":
        this.stop(numberField(json.index) ?? 0, out);
        return null;
      case "message_delta": {
        readUsage(json.usage, this.usage);
        const delta = isRecord(json.delta) ? json.delta : {};
        if (delta.stop_reason !== undefined && delta.stop_reason !== null) this.finish(delta.stop_reason, delta.stop_sequence, out);
        return null;
      }
      case "message_stop":
        this.finish("end_turn", null, out);
        this.done = true;
        return null;
      default:
        // `ping` and unknown events carry nothing; an object with an error is still one.
        return json.type === undefined && isRecord(json.error) ? failure(json) : null;
    }
  }

  private start(index: number, raw: unknown, out: ChatEvent[]): void {
    const block: JsonRecord = isRecord(raw) ? raw : {};
    if (block.type === "text") {
      this.blocks.set(index, { kind: "text" });
      this.feed({ content: stringField(block.text) ?? "" }, out);
    } else if (block.type === "thinking") {
      this.blocks.set(index, { kind: "thinking" });
      this.feed({ reasoning_content: stringField(block.thinking) ?? "" }, out);
    } else if (block.type === "tool_use") {
      const call = this.calls++;
      this.blocks.set(index, { kind: "tool_use", call, input: block.input, streamed: false });
      this.feed({ tool_calls: [{ index: call, id: stringField(block.id), type: "function", function: { name: stringField(block.name) ?? "", arguments: "" } }] }, out);
    } else {
      // redacted_thinking, server tools' blocks: nothing a chat client can be given.
      this.blocks.set(index, { kind: "other" });
    }
  }

  private delta(index: number, raw: unknown, out: ChatEvent[]): void {
    if (!isRecord(raw)) return;
    const block = this.blocks.get(index);
    if (raw.type === "text_delta") this.feed({ content: stringField(raw.text) ?? "" }, out);
    else if (raw.type === "thinking_delta") this.feed({ reasoning_content: stringField(raw.thinking) ?? "" }, out);
    else if (raw.type === "input_json_delta" && block?.kind === "tool_use") {
      const text = stringField(raw.partial_json) ?? "";
      if (text === "") return;
      block.streamed = true;
      this.feed({ tool_calls: [{ index: block.call, function: { arguments: text } }] }, out);
    }
  }

  /** A tool_use block whose input came whole in its start event (no JSON deltas) gets it as its arguments here. */
  private stop(index: number, out: ChatEvent[]): void {
    const block = this.blocks.get(index);
    if (block?.kind !== "tool_use" || block.streamed === true) return;
    const input = isRecord(block.input) ? block.input : {};
    this.feed({ tool_calls: [{ index: block.call, function: { arguments: JSON.stringify(input) } }] }, out);
  }

  private finish(reason: unknown, stopSequence: unknown, out: ChatEvent[]): void {
    if (this.finished) return;
    this.finished = true;
    const reasoningTokens = Math.min(this.chat.reasoningDeltas, this.usage.output ?? Infinity);
    this.chat.chunk({ choices: [{ index: 0, delta: {}, finish_reason: finishReason(reason) }], usage: this.chatUsage(reasoningTokens) }, out);
    this.markStop(reason, stopSequence, out);
  }

  /** A `stop_sequence` end names the sequence, as a local model's finish does. */
  private markStop(reason: unknown, stopSequence: unknown, out: ChatEvent[]): void {
    const sequence = stringField(stopSequence);
    if (reason !== "stop_sequence" || sequence === undefined) return;
    const last = out.at(-1);
    if (last?.type === "finish") last.stop = sequence;
  }

  /** The usage seen so far as the chat usage object; undefined while the upstream reported none. */
  private chatUsage(reasoningTokens: number): JsonRecord | undefined {
    const { input, output, cacheRead, cacheCreation } = this.usage;
    if (input === undefined && output === undefined) return undefined;
    return {
      prompt_tokens: (input ?? 0) + (cacheRead ?? 0) + (cacheCreation ?? 0),
      completion_tokens: output ?? 0,
      prompt_tokens_details: { cached_tokens: cacheRead ?? 0 },
      completion_tokens_details: { reasoning_tokens: reasoningTokens },
    };
  }

  private feed(delta: JsonRecord, out: ChatEvent[]): void {
    this.chat.chunk({ choices: [{ index: 0, delta }] }, out);
  }
}
