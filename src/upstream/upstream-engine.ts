/**
 * An Engine that serves a public model id from OpenAI-compatible upstream
 * deployments: picks one (balancer.ts), forwards the client's own request
 * body with the upstream model name, and turns the answer — SSE or JSON —
 * into ChatEvents as it arrives. A provider that serves the Responses API
 * itself (`apis: ["responses"]`) gets a Responses request as it is instead
 * of its chat translation (responses-pass-through.ts), and one that serves
 * the Anthropic Messages API (`apis: ["messages"]`) a Messages request
 * (messages-pass-through.ts).
 *
 * Until the first event has been yielded, failures are retried on the next
 * deployment (failover) with exponential backoff and jitter when a deployment
 * is tried again, honouring a short Retry-After. After the first event a
 * failure cannot be retried: the usage event (what is known) goes out and a
 * 502 follows. See upstream-errors.ts for the full error mapping.
 */
import { createHash } from "node:crypto";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import type { Dispatcher } from "undici";
import type { DeploymentRef, Embeddings, Engine, ModelCard, PreparedChat } from "../engines/engine.js";
import type { ChatEvent, UsageCounts } from "../protocol/chat-events.js";
import type { ChatRequest, UpstreamEndpoint } from "../protocol/chat-request.js";
import { embeddingTokensUpperBound, type EmbeddingsRequest } from "../protocol/embeddings-request.js";
import { overloaded } from "../protocol/errors.js";
import { estimatePromptTokens, promptTokensUpperBound } from "../protocol/prompt-estimate.js";
import { chooseDeployment, type BalancerCandidate } from "./balancer.js";
import type { DeploymentState, ProviderPool, ProviderState, Verdict } from "./provider-pool.js";
import type { UpstreamModelConfig } from "./types.js";
import { EmbeddingsDecoder } from "./embeddings-decoder.js";
import {
  exhaustedError,
  midStreamError,
  networkFailure,
  parseRetryAfter,
  parseUpstreamError,
  passThroughError,
  retryPolicy,
  unavailableError,
  type AttemptFailure,
} from "./upstream-errors.js";
import { isRecord, ResponseDecoder, type JsonRecord, type UpstreamDecoder } from "./upstream-wire.js";
import { ResponsesApiDecoder } from "./responses-pass-through.js";
import { countTokensUpstream } from "./messages-count-tokens.js";
import { MessagesApiDecoder } from "./messages-pass-through.js";
import { nativePassThrough, nativeUpstreamBody } from "./native-pass-through.js";

export interface UpstreamEngineOptions {
  /** First retry delay on a deployment already tried; doubles per attempt (with jitter). Default 50. */
  backoffBaseMs?: number;
  /** Longest backoff. Default 1000. */
  backoffCapMs?: number;
  /** Longest upstream Retry-After (429) worth waiting for; longer ones fail over or give up. Default 2000. */
  maxRetryAfterMs?: number;
  /** Randomness for balancing and jitter (tests seed it). Default Math.random. */
  random?: () => number;
  /** `created` of the model card (seconds). Default: now. */
  created?: number;
}

/** What forwarding needs of a client's request: its body, where it goes, and what the gateway decided. */
type UpstreamCall = Pick<ChatRequest, "wire" | "upstreamEndpoint" | "stream" | "n" | "maxTokens" | "native">;

type AttemptOutcome = { kind: "done" } | { kind: "cancelled" } | { kind: "failed"; failure: AttemptFailure; yielded: boolean };

/** Error bodies are read up to this many bytes. */
const ERROR_BODY_CAP = 64 * 1024;

async function readCapped(body: Dispatcher.ResponseData["body"], cap: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= cap) break;
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve(false);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

export class UpstreamEngine implements Engine {
  readonly kind = "upstream";
  readonly card: ModelCard;
  readonly systemFingerprint: string;
  readonly config: UpstreamModelConfig;
  private readonly pool: ProviderPool;
  private readonly candidates: BalancerCandidate[];
  private readonly deployments: DeploymentState[];
  private readonly capacity: number;
  private readonly backoffBaseMs: number;
  private readonly backoffCapMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly random: () => number;
  /** Requests sleeping before a retry. */
  private waiting = 0;

  constructor(config: UpstreamModelConfig, pool: ProviderPool, options: UpstreamEngineOptions = {}) {
    if (config.deployments.length === 0) throw new Error(`Upstream model ${config.id} has no deployments`);
    this.config = config;
    this.pool = pool;
    this.card = {
      id: config.id,
      created: options.created ?? Math.floor(Date.now() / 1000),
      ownedBy: "chatport-upstream",
      contextLength: config.contextLength,
      acceptsMedia: config.acceptsMedia,
    };
    const identity = config.deployments.map((d) => `${d.provider}/${d.model}`).join(",");
    this.systemFingerprint = `fp_${createHash("sha256").update(`upstream:${config.id}:${identity}`).digest("hex").slice(0, 10)}`;
    this.candidates = config.deployments.map((d) => ({ deployment: pool.deployment(d), weight: d.weight, priority: d.priority }));
    this.deployments = [...new Set(this.candidates.map((c) => c.deployment))];
    const providers = new Set<ProviderState>(this.deployments.map((d) => d.provider));
    this.capacity = [...providers].reduce((sum, p) => sum + p.config.maxConcurrent, 0);
    this.backoffBaseMs = options.backoffBaseMs ?? 50;
    this.backoffCapMs = options.backoffCapMs ?? 1000;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 2000;
    this.random = options.random ?? Math.random;
  }

  upstreamDeployments(): readonly DeploymentRef[] {
    return this.config.deployments;
  }

  load(): { active: number; waiting: number; capacity: number } {
    let active = 0;
    for (const d of this.deployments) active += d.outstanding;
    return { active, waiting: this.waiting, capacity: this.capacity };
  }

  /** The engine owns nothing: the shared ProviderPool is closed by its owner. */
  async close(): Promise<void> {}

  /**
   * The prompt is counted by the upstream, so here it is estimated from
   * above (prompt-estimate.ts); the completion room is what the configured
   * context leaves after the estimate — or the whole context when the
   * estimate alone fills it, and the upstream judges the prompt itself.
   */
  async prepare(request: ChatRequest): Promise<PreparedChat> {
    const promptTokens = promptTokensUpperBound(request.wire);
    const contextLength = this.card.contextLength;
    return { promptTokens, promptEstimated: true, completionRoom: promptTokens < contextLength ? contextLength - promptTokens : contextLength };
  }

  /** A Messages request counted by a provider that serves the Messages API (messages-count-tokens.ts); null without one. */
  async countPromptTokens(request: ChatRequest, signal: AbortSignal): Promise<number | null> {
    if (request.native?.endpoint !== "messages") return null;
    return countTokensUpstream(this.deployments, request.native.body, signal);
  }

  async *generate(request: ChatRequest, signal: AbortSignal): AsyncGenerator<ChatEvent, void, void> {
    const promptEstimate = estimatePromptTokens(request);
    // An attempt at a provider that serves the request's own API (Responses, Messages) reads its answer in that API.
    yield* this.forward(request, signal, (startedAt, endpoint) => {
      if (endpoint === "responses") return new ResponsesApiDecoder(startedAt, promptEstimate);
      if (endpoint === "messages") return new MessagesApiDecoder(startedAt, promptEstimate);
      return new ResponseDecoder(request.n, startedAt, promptEstimate);
    });
  }

  /** Embeddings are counted upstream: here the inputs are bounded from above (see embeddingTokensUpperBound). */
  async prepareEmbeddings(request: EmbeddingsRequest): Promise<PreparedChat> {
    return { promptTokens: embeddingTokensUpperBound(request), promptEstimated: true, completionRoom: 0 };
  }

  /** The client's embeddings body to the upstream's `/embeddings`, with the same balancing, retries and failover as chat. */
  async embed(request: EmbeddingsRequest, signal: AbortSignal, prepared: PreparedChat): Promise<Embeddings> {
    let decoder: EmbeddingsDecoder | null = null;
    let usage: UsageCounts | null = null;
    const call: UpstreamCall = { wire: request.wire, upstreamEndpoint: "embeddings", stream: false, n: 1, maxTokens: null };
    const newDecoder = (startedAt: number): EmbeddingsDecoder => (decoder = new EmbeddingsDecoder(request.inputs.length, startedAt, prepared.promptTokens));
    for await (const event of this.forward(call, signal, newDecoder)) if (event.type === "usage") usage = event.usage;
    const vectors = (decoder as EmbeddingsDecoder | null)?.vectors ?? [];
    return { vectors, usage: usage ?? { promptTokens: 0, completionTokens: 0, cachedTokens: 0, reasoningTokens: 0, prefillMs: 0, decodeMs: [] } };
  }

  /** One request forwarded: deployments tried in turn until one answers; `newDecoder` reads each attempt's answer. */
  private async *forward(
    request: UpstreamCall,
    signal: AbortSignal,
    /** `endpoint`: where the attempt's request went, so the API its answer is in. */
    newDecoder: (startedAt: number, endpoint: UpstreamEndpoint) => UpstreamDecoder,
  ): AsyncGenerator<ChatEvent, void, void> {
    // Overload: beyond the providers' concurrency plus as many again waiting in
    // their pools, refuse at once rather than queue towards a timeout.
    const { active, waiting } = this.load();
    if (active + waiting >= 2 * this.capacity) {
      throw overloaded(`Model ${this.card.id} is at capacity (${this.capacity} requests in flight upstream and as many waiting). Retry shortly.`, 1);
    }
    const startedAt = performance.now();
    const tried = new Set<DeploymentState>();
    const failures: AttemptFailure[] = [];
    const bodies = new Map<string, string>();
    let decoder = newDecoder(startedAt, request.upstreamEndpoint);

    for (let attempt = 0; attempt <= this.config.retries; attempt++) {
      if (signal.aborted) {
        yield { type: "usage", usage: decoder.usageCounts() };
        return;
      }
      const now = this.pool.now();
      const choice = chooseDeployment(this.candidates, this.config.strategy, tried, now, this.random);
      if (choice === null) {
        if (failures.length === 0) throw unavailableError(this.card.id, this.msUntilProbe());
        throw exhaustedError(this.card.id, failures);
      }
      const deployment = choice.deployment;
      const last = failures[failures.length - 1];
      if (last !== undefined) {
        const again = tried.has(deployment);
        // A bad key stays bad: only another deployment is worth trying.
        if (again && retryPolicy(last) === "failover") throw exhaustedError(this.card.id, failures);
        let delay = again ? this.backoff(attempt) : 0;
        const cooling = deployment.coolingUntil - now;
        if (cooling > 0) {
          if (cooling > this.maxRetryAfterMs) throw exhaustedError(this.card.id, failures);
          delay = Math.max(delay, cooling);
        }
        if (delay > 0) {
          this.waiting += 1;
          const slept = await sleep(delay, signal);
          this.waiting -= 1;
          if (!slept) {
            yield { type: "usage", usage: decoder.usageCounts() };
            return;
          }
        }
      }
      tried.add(deployment);

      // A provider that serves the request's own API (Responses, Messages) gets it as it is, not its chat translation.
      const provider = deployment.provider.config;
      const native = nativePassThrough(request, provider);
      const endpoint = native?.endpoint ?? request.upstreamEndpoint;
      let body = bodies.get(`${endpoint} ${deployment.model}`);
      if (body === undefined) {
        body = native !== null ? nativeUpstreamBody(native, request, deployment.model) : this.upstreamBody(request, deployment.model);
        bodies.set(`${endpoint} ${deployment.model}`, body);
      }
      decoder = newDecoder(startedAt, endpoint);
      const outcome = yield* this.attempt(deployment, body, endpoint, request.stream, signal, decoder);

      if (outcome.kind !== "failed") {
        yield { type: "usage", usage: decoder.usageCounts() };
        return;
      }
      const { failure } = outcome;
      if (outcome.yielded) {
        yield { type: "usage", usage: decoder.usageCounts() };
        throw midStreamError(this.card.id, failure);
      }
      if (failure.kind === "status" && retryPolicy(failure) === "never") {
        throw passThroughError(failure.status, failure.info, failure.provider);
      }
      failures.push(failure);
    }
    throw exhaustedError(this.card.id, failures);
  }

  /** The client's own body, with the upstream's model name and the options the gateway needs. */
  private upstreamBody(request: UpstreamCall, upstreamModel: string): string {
    const wire: JsonRecord = { ...request.wire, model: upstreamModel };
    if (request.stream) {
      // Always ask for the usage chunk: the gateway meters from it. The response
      // builder withholds it from a client that did not ask.
      const own = isRecord(request.wire.stream_options) ? request.wire.stream_options : {};
      wire.stream_options = { ...own, include_usage: true };
    }
    // The gateway may have capped max tokens (a budget); the upstream must honour the cap.
    if (request.maxTokens !== null) {
      const hasCompletion = wire.max_completion_tokens != null;
      if (hasCompletion) wire.max_completion_tokens = request.maxTokens;
      if (wire.max_tokens != null || !hasCompletion) wire.max_tokens = request.maxTokens;
    }
    return JSON.stringify(wire);
  }

  /** Full jitter between half and all of base·2^(attempt−1), capped. */
  private backoff(attempt: number): number {
    const ceiling = Math.min(this.backoffCapMs, this.backoffBaseMs * 2 ** Math.max(0, attempt - 1));
    return ceiling * (0.5 + 0.5 * this.random());
  }

  private msUntilProbe(): number {
    let least = Infinity;
    for (const d of this.deployments) least = Math.min(least, d.breaker.msUntilProbe());
    return Number.isFinite(least) ? least : 1000;
  }

  /**
   * One request to one deployment. Yields the events as they arrive and
   * returns how it ended; never throws for upstream trouble.
   */
  private async *attempt(
    deployment: DeploymentState,
    body: string,
    endpoint: UpstreamEndpoint,
    stream: boolean,
    signal: AbortSignal,
    decoder: UpstreamDecoder,
  ): AsyncGenerator<ChatEvent, AttemptOutcome, void> {
    const provider = deployment.provider;
    const providerId = provider.config.id;
    const { connectMs, firstByteMs, idleMs } = provider.config.timeouts;
    const lease = deployment.acquire();
    const controller = new AbortController();
    let verdict: Verdict = "none";
    let yielded = false;
    let completed = false;

    // One timer: the first byte of the body (non-streaming: all of it) within
    // firstByteMs of sending, then at most idleMs between stream chunks.
    // `waiting` is false while the consumer holds us, so a slow client is not
    // mistaken for a silent upstream.
    let phase: "first-byte" | "idle" = "first-byte";
    let timedOut: "first-byte" | "idle" | null = null;
    let waiting = true;
    const onTimer = (): void => {
      if (!waiting) return;
      timedOut = phase;
      controller.abort(new Error(`upstream ${phase} timeout`));
    };
    let timer = setTimeout(onTimer, firstByteMs);
    const onClientAbort = (): void => controller.abort(signal.reason);
    if (signal.aborted) controller.abort(signal.reason);
    else signal.addEventListener("abort", onClientAbort, { once: true });

    const failed = (failure: AttemptFailure, countsAgainst = true): AttemptOutcome => {
      verdict = countsAgainst ? "failure" : "success";
      return { kind: "failed", failure, yielded };
    };
    const thrown = (err: unknown): AttemptOutcome => {
      if (timedOut !== null) return failed({ kind: "timeout", provider: providerId, phase: timedOut, ms: timedOut === "idle" ? idleMs : firstByteMs });
      if (signal.aborted) return { kind: "cancelled" };
      return failed(networkFailure(err, providerId, connectMs));
    };
    const inBand = (json: unknown): AttemptFailure => {
      const info = parseUpstreamError(json, provider.secrets);
      const raw = isRecord(json) ? (isRecord(json.error) ? json.error.code : json.code) : undefined;
      const status = typeof raw === "number" && raw >= 400 && raw < 600 ? raw : info.code === "context_length_exceeded" ? 400 : 502;
      return { kind: "status", provider: providerId, status, info, retryAfterMs: null };
    };

    try {
      let res: Dispatcher.ResponseData;
      try {
        res = await provider.pool.request({
          method: "POST",
          path: provider.pathFor(endpoint),
          headers: provider.headersFor(endpoint, stream),
          body,
          signal: controller.signal,
        });
      } catch (err) {
        return thrown(err);
      }

      if (res.statusCode < 200 || res.statusCode >= 300) {
        let text: string;
        try {
          text = await readCapped(res.body, ERROR_BODY_CAP);
        } catch (err) {
          return thrown(err);
        }
        completed = true;
        const now = this.pool.now();
        const retryAfterMs = res.statusCode === 429 ? parseRetryAfter(res.headers, now) : null;
        if (retryAfterMs !== null) deployment.coolingUntil = Math.max(deployment.coolingUntil, now + retryAfterMs);
        const failure: AttemptFailure = {
          kind: "status",
          provider: providerId,
          status: res.statusCode,
          info: parseUpstreamError(text, provider.secrets),
          retryAfterMs,
        };
        // The request's own fault (400, 404, context too long…): the deployment is fine.
        return failed(failure, retryPolicy(failure) !== "never");
      }

      const contentType = String(res.headers["content-type"] ?? "");
      if (!contentType.includes("text/event-stream")) {
        // Non-streaming (or an upstream that ignored `stream`): one JSON body.
        let text: string;
        try {
          text = await res.body.text();
        } catch (err) {
          return thrown(err);
        }
        completed = true;
        waiting = false;
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          return failed({ kind: "protocol", provider: providerId, detail: "response body is not JSON" });
        }
        const events: ChatEvent[] = [];
        if (!decoder.completion(json, events)) {
          const failure = inBand(json);
          return failed(failure, retryPolicy(failure) !== "never");
        }
        verdict = "success";
        for (const event of events) {
          yielded = true;
          yield event;
        }
        return { kind: "done" };
      }

      // Streaming: every network chunk is parsed and its events yielded at once.
      const pending: ChatEvent[] = [];
      let streamError: unknown = null;
      // A data event that is not JSON: the stream cannot be trusted past it.
      let malformed = false;
      const parser = createParser({
        onEvent: (message: EventSourceMessage) => {
          if (streamError !== null || malformed || decoder.done) return;
          const data = message.data.trim();
          if (data === "[DONE]") {
            decoder.done = true;
            return;
          }
          // (Keep-alive comments, `: ping`, never reach here; an empty data event carries nothing.)
          if (data === "") return;
          let json: unknown;
          try {
            json = JSON.parse(data);
          } catch {
            if (message.event === "error") streamError = { error: { message: data } };
            else malformed = true;
            return;
          }
          if (message.event === "error") {
            streamError = json;
            return;
          }
          const error = decoder.chunk(json, pending);
          if (error !== null) streamError = error;
        },
      });
      const utf8 = new TextDecoder();
      const iterator = (res.body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
      while (true) {
        waiting = true;
        if (phase === "idle") timer.refresh();
        let step: IteratorResult<Buffer>;
        try {
          step = await iterator.next();
        } catch (err) {
          // After [DONE] nothing more matters (an upstream that keeps the socket open).
          if (decoder.done) break;
          return thrown(err);
        }
        waiting = false;
        if (step.done === true) {
          completed = true;
          break;
        }
        if (phase === "first-byte") {
          clearTimeout(timer);
          phase = "idle";
          timer = setTimeout(onTimer, idleMs);
        }
        parser.feed(utf8.decode(step.value, { stream: true }));
        for (const event of pending) {
          yielded = true;
          yield event;
        }
        pending.length = 0;
        if (streamError !== null) {
          const failure = inBand(streamError);
          return failed(failure, yielded || retryPolicy(failure) !== "never");
        }
        if (malformed) return failed({ kind: "protocol", provider: providerId, detail: "a stream event is not JSON" });
      }
      if (!decoder.done && !decoder.allFinished()) {
        return failed({ kind: "protocol", provider: providerId, detail: "stream ended before it was complete" });
      }
      verdict = "success";
      return { kind: "done" };
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onClientAbort);
      if (!completed) controller.abort(new Error("upstream request abandoned"));
      deployment.release(lease, verdict);
    }
  }
}
