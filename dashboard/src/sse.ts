/**
 * Server-sent events from a fetch() body: a small incremental parser (the
 * WHATWG event-stream format: `data:` lines, CR/LF/CRLF line ends, comments)
 * and a streamed chat completion built on it.
 */
import { errorFromBody } from "./api.js";

export interface SseEvent {
  event: string;
  data: string;
}

/** Feeds text in any slicing; calls `onEvent` for each complete event. */
export class SseParser {
  private buffer = "";
  private data: string[] = [];
  private event = "";
  private readonly onEvent: (event: SseEvent) => void;

  constructor(onEvent: (event: SseEvent) => void) {
    this.onEvent = onEvent;
  }

  feed(text: string): void {
    this.buffer += text;
    while (true) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (match === null) return;
      // A lone CR at the very end may be the first half of a CRLF still on its way.
      if (match[0] === "\r" && match.index === this.buffer.length - 1) return;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      this.line(line);
    }
  }

  /** The stream ended: a held-back final CR ends its line; an event without its blank line is dropped, as browsers do. */
  end(): void {
    if (this.buffer.endsWith("\r")) this.line(this.buffer.slice(0, -1));
    this.buffer = "";
    this.data = [];
    this.event = "";
  }

  private line(line: string): void {
    if (line === "") {
      if (this.data.length > 0) this.onEvent({ event: this.event === "" ? "message" : this.event, data: this.data.join("\n") });
      this.data = [];
      this.event = "";
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.event = value;
  }
}

export interface ToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export interface WireUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens?: number };
  completion_tokens_details?: { reasoning_tokens?: number };
  /** chatport's `usage_timings` extension, milliseconds. */
  prefill_time?: number;
  decode_time_arr?: number[];
}

interface ToolCallDelta {
  index: number;
  id?: string;
  type?: "function";
  function?: { name?: string; arguments?: string };
}

interface ChunkDelta {
  role?: string;
  content?: string | null;
  reasoning_content?: string | null;
  refusal?: string | null;
  tool_calls?: ToolCallDelta[];
}

interface Chunk {
  id?: string;
  model?: string;
  choices?: Array<{ index: number; delta?: ChunkDelta; finish_reason?: string | null }>;
  usage?: WireUsage | null;
  error?: { message?: string; code?: string };
}

export interface StreamProgress {
  content: string;
  reasoning: string;
  toolCalls: ToolCall[];
}

export interface StreamResult extends StreamProgress {
  finishReason: string | null;
  usage: WireUsage | null;
  model: string | null;
  /** Milliseconds from sending the request to the first content, reasoning or tool-call delta. */
  ttftMs: number | null;
  /** Milliseconds from sending the request to the end of the stream. */
  totalMs: number;
  /** Content-bearing chunks received. */
  chunks: number;
}

/** Merges streamed tool-call fragments by index, as the OpenAI SDKs do. */
function mergeToolCalls(calls: ToolCall[], deltas: ToolCallDelta[]): ToolCall[] {
  const out = calls.map((call) => ({ ...call, function: { ...call.function } }));
  for (const delta of deltas) {
    const existing = out[delta.index];
    if (existing === undefined) {
      out[delta.index] = {
        id: delta.id ?? "",
        type: "function",
        function: { name: delta.function?.name ?? "", arguments: delta.function?.arguments ?? "" },
      };
    } else {
      if (delta.id !== undefined && delta.id !== "") existing.id = delta.id;
      if (delta.function?.name !== undefined) existing.function.name += delta.function.name;
      if (delta.function?.arguments !== undefined) existing.function.arguments += delta.function.arguments;
    }
  }
  return out;
}

/**
 * POSTs a streamed chat completion and reports progress after every chunk.
 * Rejects with ApiError on an HTTP error or an error event in the stream.
 */
export async function streamChat(options: {
  url: string;
  headers: Record<string, string>;
  body: Record<string, unknown>;
  signal: AbortSignal;
  onProgress: (progress: StreamProgress) => void;
}): Promise<StreamResult> {
  const started = performance.now();
  const res = await fetch(options.url, {
    method: "POST",
    headers: { ...options.headers, "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify(options.body),
    signal: options.signal,
  });
  if (!res.ok || res.body === null) {
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
    throw errorFromBody(res.status, parsed, `HTTP ${res.status}`);
  }

  const state: StreamResult = {
    content: "",
    reasoning: "",
    toolCalls: [],
    finishReason: null,
    usage: null,
    model: null,
    ttftMs: null,
    totalMs: 0,
    chunks: 0,
  };
  let failure: Error | null = null;
  const parser = new SseParser(({ data }) => {
    if (data === "[DONE]" || failure !== null) return;
    let chunk: Chunk;
    try {
      chunk = JSON.parse(data) as Chunk;
    } catch {
      failure = new Error(`The stream sent something that is not JSON: ${data.slice(0, 200)}`);
      return;
    }
    if (chunk.error !== undefined) {
      failure = errorFromBody(res.status, chunk, "The stream failed.");
      return;
    }
    if (typeof chunk.model === "string") state.model = chunk.model;
    if (chunk.usage !== undefined && chunk.usage !== null) state.usage = chunk.usage;
    const choice = chunk.choices?.find((c) => c.index === 0);
    if (choice === undefined) return;
    const delta = choice.delta ?? {};
    let grew = false;
    if (typeof delta.content === "string" && delta.content !== "") {
      state.content += delta.content;
      grew = true;
    }
    if (typeof delta.reasoning_content === "string" && delta.reasoning_content !== "") {
      state.reasoning += delta.reasoning_content;
      grew = true;
    }
    if (typeof delta.refusal === "string" && delta.refusal !== "") {
      state.content += delta.refusal;
      grew = true;
    }
    if (delta.tool_calls !== undefined && delta.tool_calls.length > 0) {
      state.toolCalls = mergeToolCalls(state.toolCalls, delta.tool_calls);
      grew = true;
    }
    if (choice.finish_reason !== undefined && choice.finish_reason !== null) state.finishReason = choice.finish_reason;
    if (grew) {
      state.chunks += 1;
      state.ttftMs ??= performance.now() - started;
    }
  });

  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      parser.feed(value);
      if (failure !== null) {
        await reader.cancel().catch(() => undefined);
        break;
      }
      options.onProgress({ content: state.content, reasoning: state.reasoning, toolCalls: state.toolCalls });
    }
  } finally {
    parser.end();
    reader.releaseLock();
  }
  if (failure !== null) throw failure;
  state.totalMs = performance.now() - started;
  return state;
}
