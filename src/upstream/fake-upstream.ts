/**
 * A deterministic OpenAI-compatible upstream on 127.0.0.1 for tests and the
 * gateway benchmark (node:http, no framework, so it is cheap enough to
 * measure a gateway against).
 *
 * `POST /v1/chat/completions` answers JSON or SSE; so does `POST /v1/responses`
 * (the Responses API, fake-responses.ts: the same reply, its typed events),
 * and `POST /v1/messages` (the Anthropic Messages API, fake-messages.ts: the
 * same reply, its named events; `x-api-key` accepted as the key too);
 * `POST /v1/embeddings` deterministic vectors (fake-embeddings.ts), with the
 * same faults. The reply is derived from
 * the request (see {@link fakeReply}): N pieces, one "token" each, N =
 * max_completion_tokens ?? max_tokens ?? defaultTokens; prompt_tokens =
 * {@link fakePromptTokens}. Reasoning (when `reasoning_effort` is set and not
 * "none"), a tool call to the first (or the chosen) tool when `tools` are
 * given, and logprobs when asked, so pass-through can be tested.
 * `POST /v1/completions` (legacy) answers the same pieces per prompt as
 * `text_completion` JSON or SSE ({@link fakeTextCompletion}).
 *
 * Faults, per server (`fault`) or per request (`queue`, consumed first):
 * status codes with any body and headers (500, 429 + Retry-After, 400
 * context_length_exceeded), an error event in a 200 (after K chunks then
 * `[DONE]`, or as the body), hang, drop mid-stream after K chunks, reset the
 * socket, slow first byte, delay between chunks; and streams that fail part
 * way: stall (connection kept open, nothing more sent), a data event that is
 * not JSON, no usage chunk. `stop()` refuses
 * connections until `start()`. Requests are recorded (headers + body) and
 * requests the client abandoned are counted in `aborted`.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import { fakeResponsesAnswer } from "./fake-responses.js";
import { fakeEmbeddingsResponse } from "./fake-embeddings.js";
import { fakeMessagesAnswer, fakeMessagesInputTokens } from "./fake-messages.js";

type JsonRecord = Record<string, unknown>;

/** The POST routes the fake upstream answers. */
const FAKE_ROUTES: ReadonlySet<string> = new Set(["/v1/chat/completions", "/v1/completions", "/v1/responses", "/v1/messages", "/v1/messages/count_tokens", "/v1/embeddings"]);

function isRecord(value: unknown): value is JsonRecord {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** What an `error-event` fault sends when it names no error. */
const defaultStreamError = { message: "fake upstream failed mid-stream", type: "server_error", param: null, code: null };

export type FakeBehaviour =
  | { kind: "ok" }
  /** Answer with this status, JSON body (default: an OpenAI error) and headers. */
  | { kind: "status"; status: number; body?: unknown; headers?: Record<string, string> }
  /** Never answer (until the client gives up). */
  | { kind: "hang" }
  /** Streaming: destroy the socket after this many content chunks (non-streaming: before answering). */
  | { kind: "drop"; afterChunks: number }
  /** Destroy the socket without answering. */
  | { kind: "reset" }
  /**
   * A 200 that carries an error (by default a server_error): streaming,
   * `data: {"error":…}` after this many content chunks (0: before the role
   * chunk), then `[DONE]`; non-streaming, `{"error":…}` as the body.
   */
  | { kind: "error-event"; afterChunks: number; error?: unknown }
  /** Streaming: after this many content chunks send nothing more, keeping the connection open. */
  | { kind: "stall"; afterChunks: number }
  /** Streaming: after this many content chunks send a data event that is not JSON (default `{"choices":[`), then carry on. */
  | { kind: "garbage"; afterChunks: number; data?: string }
  /** Streaming: a complete stream without the usage chunk, even when `include_usage` asked for it. */
  | { kind: "noUsage" };

export type FakeFault = FakeBehaviour & {
  /** Wait this long before the response headers. */
  firstByteDelayMs?: number;
  /** Streaming: wait this long between content chunks. */
  chunkDelayMs?: number;
};

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body (null for GET or a body that is not JSON). */
  body: JsonRecord | null;
}

export interface FakeUpstreamOptions {
  /** Required `Authorization: Bearer` key; a wrong one gets a 401 that echoes it (to test scrubbing). */
  apiKey?: string | null;
  /** Listed by GET /v1/models. Default ["fake-model"]. */
  models?: string[];
  /** Pieces when the request sets no max tokens. Default 8. */
  defaultTokens?: number;
  /** Default behaviour. Default { kind: "ok" }. */
  fault?: FakeFault | ((request: RecordedRequest) => FakeFault);
  /** Listen on this port (default: a random free one). */
  port?: number;
}

export interface FakePiece {
  content?: string;
  reasoning?: string;
  toolCall?: { id?: string; name?: string; arguments: string };
}

export interface FakeReply {
  pieces: FakePiece[];
  finishReason: "stop" | "tool_calls";
  promptTokens: number;
  /** Per choice. */
  completionTokens: number;
  reasoningTokens: number;
}

function messageText(message: unknown): string {
  if (!isRecord(message)) return "";
  const content = message.content;
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((part: unknown) => (isRecord(part) && typeof part.text === "string" ? part.text : ""))
      .filter((t) => t !== "")
      .join(" ");
  }
  return "";
}

function words(text: string): string[] {
  return text.split(/\s+/).filter((w) => w !== "");
}

/** 3 per message plus one per whitespace-separated word of its text. */
export function fakePromptTokens(body: JsonRecord): number {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  let total = 0;
  for (const m of messages) total += 3 + words(messageText(m)).length;
  return total;
}

/** The deterministic answer to a chat request (choice 0; every choice of `n` is the same). */
export function fakeReply(body: JsonRecord, defaultTokens = 8): FakeReply {
  const promptTokens = fakePromptTokens(body);
  const messages = Array.isArray(body.messages) ? body.messages : [];
  const lastUser = [...messages].reverse().find((m) => isRecord(m) && m.role === "user");
  const source = words(messageText(lastUser));
  const vocabulary = source.length > 0 ? source : ["ok"];

  const tools = Array.isArray(body.tools) ? body.tools : [];
  if (tools.length > 0 && body.tool_choice !== "none") {
    const chosen = isRecord(body.tool_choice) && isRecord(body.tool_choice.function) ? body.tool_choice.function.name : undefined;
    const first = tools[0];
    const name = typeof chosen === "string" ? chosen : isRecord(first) && isRecord(first.function) ? String(first.function.name) : "tool";
    const pieces: FakePiece[] = [
      { toolCall: { id: "call_fake_0", name, arguments: "" } },
      { toolCall: { arguments: '{"input":' } },
      { toolCall: { arguments: `${JSON.stringify(vocabulary[0])}}` } },
    ];
    return { pieces, finishReason: "tool_calls", promptTokens, completionTokens: pieces.length, reasoningTokens: 0 };
  }

  const maxTokens = [body.max_completion_tokens, body.max_tokens].find((v) => typeof v === "number");
  const n = typeof maxTokens === "number" ? maxTokens : defaultTokens;
  const thinking = typeof body.reasoning_effort === "string" && body.reasoning_effort !== "none";
  const reasoningTokens = thinking ? Math.min(2, n) : 0;
  const pieces: FakePiece[] = [];
  for (let i = 0; i < reasoningTokens; i++) pieces.push({ reasoning: `${i === 0 ? "" : " "}think${i}` });
  for (let i = 0; i < n - reasoningTokens; i++) pieces.push({ content: `${i === 0 ? "" : " "}${vocabulary[i % vocabulary.length]}` });
  return { pieces, finishReason: "stop", promptTokens, completionTokens: n, reasoningTokens };
}

function pieceLogprobs(piece: FakePiece, position: number, top: number): JsonRecord | null {
  const token = piece.content ?? piece.reasoning;
  if (token === undefined) return null;
  const entry = (t: string, lp: number): JsonRecord => ({ token: t, logprob: lp, bytes: Array.from(Buffer.from(t, "utf8")) });
  const logprob = -0.1 * (position + 1);
  const alternatives = Array.from({ length: top }, (_, j) => (j === 0 ? entry(token, logprob) : entry(`alt${j}`, logprob - j)));
  return { content: [{ ...entry(token, logprob), top_logprobs: alternatives }], refusal: null };
}

function usageOf(reply: FakeReply, n: number): JsonRecord {
  const completion = reply.completionTokens * n;
  return {
    prompt_tokens: reply.promptTokens,
    completion_tokens: completion,
    total_tokens: reply.promptTokens + completion,
    prompt_tokens_details: { cached_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: reply.reasoningTokens * n },
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

export class FakeUpstream {
  /** Default behaviour for requests the queue does not cover. */
  fault: FakeFault | ((request: RecordedRequest) => FakeFault);
  /** Behaviours for the next chat requests, one each, before `fault`. */
  readonly queue: FakeFault[] = [];
  /** GET /v1/models answers 503 while false. */
  healthy = true;
  /** Chat completion requests received, in order. */
  readonly requests: RecordedRequest[] = [];
  /** GET /v1/models requests received. */
  modelListRequests = 0;
  /** Chat requests the client abandoned before the response was complete. */
  aborted = 0;
  /** Chat requests being answered now. */
  inFlight = 0;
  readonly options: FakeUpstreamOptions;
  private readonly server: Server;
  private port = 0;
  private stopping = false;

  constructor(options: FakeUpstreamOptions = {}) {
    this.options = options;
    this.fault = options.fault ?? { kind: "ok" };
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 60_000;
  }

  /** Base URL including /v1. */
  get url(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  /** Listen (again, on the same port after stop()). */
  async start(): Promise<void> {
    this.stopping = false;
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.port === 0 ? (this.options.port ?? 0) : this.port, "127.0.0.1", () => {
        this.server.off("error", reject);
        this.port = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  /** Stop listening and drop every connection: clients get connection refused until start(). */
  async stop(): Promise<void> {
    if (!this.server.listening) return;
    this.stopping = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  async close(): Promise<void> {
    await this.stop();
  }

  /** Chat requests whose body asked for `model`. */
  requestsFor(model: string): RecordedRequest[] {
    return this.requests.filter((r) => r.body?.model === model);
  }

  private authorised(req: IncomingMessage, res: ServerResponse): boolean {
    const key = this.options.apiKey;
    if (key === undefined || key === null) return true;
    const got = req.headers.authorization ?? "";
    if (got === `Bearer ${key}` || req.headers["x-api-key"] === key) return true;
    const shown = got.replace(/^Bearer\s+/i, "");
    this.json(res, 401, {
      error: { message: `Incorrect API key provided: ${shown}.`, type: "invalid_request_error", param: null, code: "invalid_api_key" },
    });
    return false;
  }

  private json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  /** POST /v1/completions, minimally: JSON or SSE of {@link fakeTextCompletion}; of the faults only those answered before it (status, hang, reset) and `noUsage`. */
  private textCompletion(res: ServerResponse, body: JsonRecord, fault: FakeFault): void {
    const { choices, usage, pieces } = fakeTextCompletion(body, this.options.defaultTokens);
    const envelope = { id: `cmpl-fake${this.requests.length}`, object: "text_completion", created: Math.floor(Date.now() / 1000), model: typeof body.model === "string" ? body.model : "fake-model" };
    if (body.stream !== true) {
      this.json(res, 200, { ...envelope, choices, usage });
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    const send = (chunk: JsonRecord): boolean => res.write(`data: ${JSON.stringify({ ...envelope, ...chunk })}\n\n`);
    choices.forEach((choice, i) => {
      for (const piece of pieces[i] ?? []) send({ choices: [{ text: piece.text, index: choice.index, logprobs: piece.logprobs, finish_reason: null }] });
      send({ choices: [{ text: "", index: choice.index, logprobs: null, finish_reason: choice.finish_reason }] });
    });
    const streamOptions = body.stream_options;
    if (isRecord(streamOptions) && streamOptions.include_usage === true && fault.kind !== "noUsage") send({ choices: [], usage });
    res.end("data: [DONE]\n\n");
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    if (req.method === "GET" && path === "/v1/models") {
      this.modelListRequests += 1;
      req.resume();
      if (!this.authorised(req, res)) return;
      if (!this.healthy) {
        this.json(res, 503, { error: { message: "unhealthy", type: "server_error", param: null, code: null } });
        return;
      }
      const data = (this.options.models ?? ["fake-model"]).map((id) => ({ id, object: "model", created: 0, owned_by: "fake" }));
      this.json(res, 200, { object: "list", data });
      return;
    }
    if (req.method !== "POST" || !FAKE_ROUTES.has(path)) {
      req.resume();
      this.json(res, 404, { error: { message: `no route ${req.method ?? ""} ${path}`, type: "invalid_request_error", param: null, code: null } });
      return;
    }

    const text = await readBody(req);
    let body: JsonRecord | null = null;
    try {
      const parsed: unknown = JSON.parse(text);
      if (isRecord(parsed)) body = parsed;
    } catch {
      body = null;
    }
    const recorded: RecordedRequest = { method: req.method, path, headers: req.headers, body };
    this.requests.push(recorded);

    let closedByUs = false;
    let finished = false;
    this.inFlight += 1;
    res.on("close", () => {
      this.inFlight -= 1;
      if (!finished && !res.writableFinished && !closedByUs && !this.stopping) this.aborted += 1;
    });
    const gone = (): boolean => res.destroyed || req.socket.destroyed;

    if (!this.authorised(req, res)) return;
    if (body === null) {
      this.json(res, 400, { error: { message: "body is not JSON", type: "invalid_request_error", param: null, code: null } });
      return;
    }
    const fault = this.queue.shift() ?? (typeof this.fault === "function" ? this.fault(recorded) : this.fault);

    if ((fault.firstByteDelayMs ?? 0) > 0) await delay(fault.firstByteDelayMs);
    if (gone()) return;

    switch (fault.kind) {
      case "hang":
        return;
      case "reset":
        closedByUs = true;
        req.socket.destroy();
        return;
      case "status": {
        const type = fault.status === 429 ? "rate_limit_error" : fault.status >= 500 ? "server_error" : "invalid_request_error";
        const errorBody = fault.body ?? { error: { message: `fake upstream error ${fault.status}`, type, param: null, code: null } };
        this.json(res, fault.status, errorBody, fault.headers);
        return;
      }
      default:
        break;
    }

    if (path === "/v1/completions") {
      this.textCompletion(res, body, fault);
      finished = true;
      return;
    }
    if (path === "/v1/responses") {
      finished = await this.answerResponses(body, fault, req, res, () => (closedByUs = true));
      return;
    }
    if (path === "/v1/messages/count_tokens") {
      this.json(res, 200, { input_tokens: fakeMessagesInputTokens(body) });
      finished = true;
      return;
    }
    if (path === "/v1/messages") {
      finished = await this.answerMessages(body, fault, req, res, () => (closedByUs = true));
      return;
    }
    if (path === "/v1/embeddings") {
      this.json(res, 200, fakeEmbeddingsResponse(body));
      finished = true;
      return;
    }
    const reply = fakeReply(body, this.options.defaultTokens);
    const n = typeof body.n === "number" ? body.n : 1;
    const top = body.logprobs === true ? (typeof body.top_logprobs === "number" ? body.top_logprobs : 0) : -1;
    const model = typeof body.model === "string" ? body.model : "fake-model";
    const id = `chatcmpl-fake${this.requests.length}`;
    const created = Math.floor(Date.now() / 1000);

    if (body.stream !== true) {
      if (fault.kind === "drop") {
        closedByUs = true;
        req.socket.destroy();
        return;
      }
      if (fault.kind === "error-event") {
        this.json(res, 200, { error: fault.error ?? defaultStreamError });
        finished = true;
        return;
      }
      const message: JsonRecord = { role: "assistant", content: null };
      const content = reply.pieces.map((p) => p.content ?? "").join("");
      const reasoning = reply.pieces.map((p) => p.reasoning ?? "").join("");
      if (content !== "" || reply.finishReason !== "tool_calls") message.content = content;
      if (reasoning !== "") message.reasoning_content = reasoning;
      const call = reply.pieces[0]?.toolCall;
      if (call !== undefined) {
        const args = reply.pieces.map((p) => p.toolCall?.arguments ?? "").join("");
        message.tool_calls = [{ id: call.id, type: "function", function: { name: call.name, arguments: args } }];
      }
      const logprobs =
        top >= 0 ? { content: reply.pieces.flatMap((p, i) => (pieceLogprobs(p, i, top)?.content as unknown[] | undefined) ?? []), refusal: null } : null;
      this.json(res, 200, {
        id,
        object: "chat.completion",
        created,
        model,
        system_fingerprint: "fp_fake",
        choices: Array.from({ length: n }, (_, index) => ({ index, message, logprobs, finish_reason: reply.finishReason })),
        usage: usageOf(reply, n),
      });
      finished = true;
      return;
    }

    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    let flushed: Promise<void> = Promise.resolve();
    const send = (chunk: JsonRecord): void => {
      const line = `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, system_fingerprint: "fp_fake", ...chunk })}\n\n`;
      flushed = new Promise((resolve) => res.write(line, () => resolve()));
    };
    const sendError = (error: unknown = defaultStreamError): void => {
      res.write(`data: ${JSON.stringify({ error })}\n\ndata: [DONE]\n\n`);
      finished = true;
      res.end();
    };
    if (fault.kind === "error-event" && fault.afterChunks === 0) return sendError(fault.error);
    send({ choices: Array.from({ length: n }, (_, index) => ({ index, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null })) });
    const chunkDelay = fault.chunkDelayMs ?? 0;
    for (let i = 0; i < reply.pieces.length; i++) {
      if (fault.kind === "error-event" && i >= fault.afterChunks) return sendError(fault.error);
      if (fault.kind === "drop" && i >= fault.afterChunks) {
        // Let what was written reach the client first: destroy() discards unflushed writes.
        await flushed;
        await delay(5);
        closedByUs = true;
        req.socket.destroy();
        return;
      }
      if (fault.kind === "stall" && i >= fault.afterChunks) {
        // Hold the connection open and silent until the client gives up.
        await new Promise<void>((resolve) => (gone() ? resolve() : res.once("close", () => resolve())));
        return;
      }
      if (fault.kind === "garbage" && i === fault.afterChunks) res.write(`data: ${fault.data ?? '{"choices":['}\n\n`);
      if (i > 0 && chunkDelay > 0) await delay(chunkDelay);
      if (gone()) return;
      const piece = reply.pieces[i] as FakePiece;
      const delta: JsonRecord = {};
      if (piece.content !== undefined) delta.content = piece.content;
      if (piece.reasoning !== undefined) delta.reasoning_content = piece.reasoning;
      if (piece.toolCall !== undefined) {
        const { id: callId, name, arguments: args } = piece.toolCall;
        delta.tool_calls = [
          callId === undefined
            ? { index: 0, function: { arguments: args } }
            : { index: 0, id: callId, type: "function", function: { name, arguments: args } },
        ];
      }
      const logprobs = top >= 0 ? pieceLogprobs(piece, i, top) : null;
      send({ choices: Array.from({ length: n }, (_, index) => ({ index, delta, logprobs, finish_reason: null })) });
    }
    send({ choices: Array.from({ length: n }, (_, index) => ({ index, delta: {}, logprobs: null, finish_reason: reply.finishReason })) });
    const streamOptions = body.stream_options;
    if (isRecord(streamOptions) && streamOptions.include_usage === true && fault.kind !== "noUsage") send({ choices: [], usage: usageOf(reply, n) });
    res.write("data: [DONE]\n\n");
    finished = true;
    res.end();
  }

  /** `POST /v1/responses`: JSON, or the typed events (faults counted on the deltas). True when the answer was complete. */
  private async answerResponses(body: JsonRecord, fault: FakeFault, req: IncomingMessage, res: ServerResponse, closing: () => void): Promise<boolean> {
    const { response, events } = fakeResponsesAnswer(body, this.requests.length, this.options.defaultTokens);
    const failed = { ...response, status: "failed", error: { code: "server_error", message: defaultStreamError.message } };
    if (body.stream !== true) {
      if (fault.kind === "drop") {
        closing();
        req.socket.destroy();
        return false;
      }
      this.json(res, 200, fault.kind === "error-event" ? failed : response);
      return true;
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    let sequence = 0;
    const write = (type: string, data: JsonRecord): Promise<void> =>
      new Promise((resolve) => res.write(`event: ${type}\ndata: ${JSON.stringify({ ...data, sequence_number: sequence++ })}\n\n`, () => resolve()));
    const error = fault.kind === "error-event" && isRecord(fault.error) ? fault.error : defaultStreamError;
    return this.writeNamedEvents(events, fault, req, res, closing, {
      event: (event) => {
        const last = event.type === "response.completed" || event.type === "response.incomplete";
        return write(event.type, last && fault.kind === "noUsage" ? { ...event.data, response: { ...response, usage: null } } : event.data);
      },
      error: () => write("error", { type: "error", code: error.code ?? null, message: error.message, param: null }),
    });
  }

  /**
   * `POST /v1/messages`: the `message` JSON (an error-event fault: Anthropic's
   * error object), or the named events; an error-event fault mid-stream is
   * `event: error`, as Anthropic sends it. True when the answer was complete.
   */
  private async answerMessages(body: JsonRecord, fault: FakeFault, req: IncomingMessage, res: ServerResponse, closing: () => void): Promise<boolean> {
    const { message, events } = fakeMessagesAnswer(body, this.requests.length, this.options.defaultTokens, fault.kind !== "noUsage");
    const error = fault.kind === "error-event" && isRecord(fault.error) ? fault.error : defaultStreamError;
    const anthropicError = { type: "error", error: { type: "api_error", message: error.message } };
    if (body.stream !== true) {
      if (fault.kind === "drop") {
        closing();
        req.socket.destroy();
        return false;
      }
      this.json(res, 200, fault.kind === "error-event" ? anthropicError : message);
      return true;
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    const write = (type: string, data: JsonRecord): Promise<void> =>
      new Promise((resolve) => res.write(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`, () => resolve()));
    return this.writeNamedEvents(events, fault, req, res, closing, {
      event: (event) => write(event.type, event.data),
      error: () => write("error", anthropicError),
    });
  }

  /**
   * Named SSE events (Responses, Messages) with the stream faults applied
   * before each piece: the API's error event (then the end), a dropped
   * connection, a stall until the client leaves, a delay between pieces.
   * True when the answer was complete.
   */
  private async writeNamedEvents<E extends { piece: boolean }>(
    events: readonly E[],
    fault: FakeFault,
    req: IncomingMessage,
    res: ServerResponse,
    closing: () => void,
    write: { event: (event: E) => Promise<void>; error: () => Promise<void> },
  ): Promise<boolean> {
    let pieces = 0;
    for (const event of events) {
      if (event.piece) {
        if (fault.kind === "error-event" && pieces >= fault.afterChunks) {
          await write.error();
          res.end();
          return true;
        }
        if (fault.kind === "drop" && pieces >= fault.afterChunks) {
          await delay(5);
          closing();
          req.socket.destroy();
          return false;
        }
        if (fault.kind === "stall" && pieces >= fault.afterChunks) {
          await new Promise<void>((resolve) => (res.destroyed ? resolve() : res.once("close", () => resolve())));
          return false;
        }
        if (pieces > 0 && (fault.chunkDelayMs ?? 0) > 0) await delay(fault.chunkDelayMs);
        if (res.destroyed) return false;
        pieces += 1;
      }
      await write.event(event);
    }
    res.end();
    return true;
  }
}

/** The prompts of a legacy completions body as text (token ids as `t<id>` words). */
function completionPrompts(body: JsonRecord): string[] {
  const prompt = body.prompt;
  const one = (p: unknown): string => (typeof p === "string" ? p : Array.isArray(p) ? p.map((t) => `t${String(t)}`).join(" ") : "");
  if (Array.isArray(prompt) && prompt.length > 0 && typeof prompt[0] !== "number") return prompt.map(one);
  return [one(prompt ?? "")];
}

export interface FakeLegacyLogprobs {
  tokens: string[];
  token_logprobs: Array<number | null>;
  top_logprobs: Array<Record<string, number> | null>;
  text_offset: number[];
}

export interface FakeTextChoice {
  text: string;
  index: number;
  finish_reason: "stop" | "length";
  logprobs: FakeLegacyLogprobs | null;
}

/** One streamed piece of a fake text choice: its text and, when asked, its tokens' legacy logprobs. */
export interface FakeTextPiece {
  text: string;
  logprobs: FakeLegacyLogprobs | null;
}

/** A fake prompt's tokens: its words, each with the whitespace before it (joined: the prompt). */
function promptPieces(prompt: string): string[] {
  return prompt.match(/\s*\S+|\s+/g) ?? [];
}

/** Legacy logprobs of `tokens` starting at text offset `offset`: token i scores `logprob(i)` (null: the first of a prompt), `top` alternatives. */
function legacyLogprobs(tokens: readonly string[], offset: number, top: number, logprob: (i: number) => number | null): FakeLegacyLogprobs {
  let at = offset;
  return {
    tokens: [...tokens],
    token_logprobs: tokens.map((_, i) => logprob(i)),
    top_logprobs: tokens.map((t, i) => {
      const lp = logprob(i);
      return lp === null ? null : Object.fromEntries(Array.from({ length: top }, (_, j) => [j === 0 ? t : `alt${j}`, lp - j]));
    }),
    text_offset: tokens.map((t) => ((at += t.length), at - t.length)),
  };
}

function joinLogprobs(parts: ReadonlyArray<FakeLegacyLogprobs | null>): FakeLegacyLogprobs | null {
  const own = parts.filter((p): p is FakeLegacyLogprobs => p !== null);
  if (own.length === 0) return null;
  return {
    tokens: own.flatMap((p) => p.tokens),
    token_logprobs: own.flatMap((p) => p.token_logprobs),
    top_logprobs: own.flatMap((p) => p.top_logprobs),
    text_offset: own.flatMap((p) => p.text_offset),
  };
}

/**
 * The answer to a legacy completions body: per prompt, `n` choices of
 * {@link fakeReply}'s pieces for that prompt (the prompt first with `echo`);
 * usage is prompt_tokens summed over the prompts, completion_tokens over the
 * choices (× best_of, which the upstream generates and bills). With
 * `logprobs`, piece i scores −0.1·(i+1) and alternatives `altJ` j lower; with
 * `echo` too, the prompt's words (whitespace before each) come first, the
 * first scoring null and word k −0.05·k. `max_tokens: 0` generates nothing
 * (finish_reason `length`). Streamed, the echoed prompt is the first piece.
 */
export function fakeTextCompletion(body: JsonRecord, defaultTokens = 8): { choices: FakeTextChoice[]; usage: JsonRecord; pieces: FakeTextPiece[][] } {
  const n = typeof body.n === "number" ? body.n : 1;
  const bestOf = typeof body.best_of === "number" ? body.best_of : n;
  const top = typeof body.logprobs === "number" ? body.logprobs : -1;
  const finish = body.max_tokens === 0 ? "length" : "stop";
  const choices: FakeTextChoice[] = [];
  const pieces: FakeTextPiece[][] = [];
  let promptTokens = 0;
  let completionTokens = 0;
  completionPrompts(body).forEach((prompt, p) => {
    const reply = fakeReply({ ...body, messages: [{ role: "user", content: prompt }] }, defaultTokens);
    const texts = reply.pieces.map((piece) => piece.content ?? "");
    promptTokens += reply.promptTokens;
    completionTokens += reply.completionTokens * bestOf;
    for (let c = 0; c < n; c++) {
      const own: FakeTextPiece[] = [];
      let offset = 0;
      if (body.echo === true) {
        own.push({ text: prompt, logprobs: top < 0 ? null : legacyLogprobs(promptPieces(prompt), 0, top, (k) => (k === 0 ? null : -0.05 * k)) });
        offset = prompt.length;
      }
      texts.forEach((text, i) => {
        own.push({ text, logprobs: top < 0 ? null : legacyLogprobs([text], offset, top, () => -0.1 * (i + 1)) });
        offset += text.length;
      });
      pieces.push(own);
      choices.push({ text: own.map((piece) => piece.text).join(""), index: p * n + c, finish_reason: finish, logprobs: joinLogprobs(own.map((piece) => piece.logprobs)) });
    }
  });
  return { choices, usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens }, pieces };
}

export async function startFakeUpstream(options: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
  const upstream = new FakeUpstream(options);
  await upstream.start();
  return upstream;
}
