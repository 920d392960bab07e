/**
 * The one dispatch path every API surface shares: look the model up once,
 * parse the body for it, then for the model and each of its fallbacks (those
 * the key may use) prepare the request, admit it against that model's own
 * prices and context, and start the engine — until one takes the prompt.
 * Every refusal is typed (an ApiError) and comes before the first event, so
 * the route can still answer it with a real status. The request is metered
 * exactly once: one ledger row, written after the engine has ended, with the
 * status its ending says.
 *
 * What the route gets back is a {@link Dispatch}: the request as it is
 * served, the headers admission set, and the engine's events, with the usage
 * event held back until the row is committed. The route turns those events
 * into its surface's wire output and does nothing else.
 */
import type { Embeddings, Engine, PreparedChat } from "../engines/engine.js";
import type { ApiName } from "../protocol/api-surface.js";
import type { ChatEvent } from "../protocol/chat-events.js";
import type { ChatRequest, ParseOptions } from "../protocol/chat-request.js";
import { parseEmbeddingsRequest, type EmbeddingsRequest } from "../protocol/embeddings-request.js";
import { invalidRequest, modelNotFound, toApiError } from "../protocol/errors.js";
import type { Ledger } from "../store/types.js";
import { noLimits, type Admission, type Caller, type Gatekeeper } from "./gatekeeper.js";
import type { GatewayMetrics } from "./metrics.js";
import { RequestMeter } from "./metering.js";
import type { ModelRegistry, ModelRoute } from "./model-registry.js";

/** Where the dispatcher reports what it decided (the request's logger). */
export interface DispatchLog {
  info(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

export interface DispatchCall {
  caller: Caller;
  /** The request's correlation id (x-request-id). */
  requestId: string;
  /** The untrusted JSON body. */
  body: unknown;
  /** The API the request came in by (its surface's). */
  api: ApiName;
  /** The surface's parser: wire request → internal request, with the target model's options. */
  parse(body: unknown, options: ParseOptions): ChatRequest;
  /** Aborts when the client goes away. */
  signal: AbortSignal;
  /** ms since the HTTP request arrived. */
  elapsed(): number;
  log: DispatchLog;
}

/** A request admitted and running on an engine. */
export interface Dispatch {
  /** The request as served: the model that serves it (after aliases and fallbacks), max tokens capped by the key's limits. */
  readonly request: ChatRequest;
  readonly engine: Engine;
  /** The prompt as the engine prepared it (its tokens: counted, or estimated upstream). */
  readonly prompt: PreparedChat;
  /** Headers admission set (x-ratelimit-*). */
  readonly headers: Record<string, string>;
  /** The response id the surface answers with: the ledger row's key. */
  setResponseId(id: string): void;
  /**
   * The engine's events. The usage event comes after the ledger row is
   * committed; a failure is thrown after the row (and, when it was written,
   * after the usage event). Iterate once.
   */
  events(): AsyncGenerator<ChatEvent, void, void>;
  /** Stops the engine if the route leaves before the events are drained. */
  close(): Promise<void>;
}

/** An embeddings request: a {@link DispatchCall} whose body the dispatcher parses itself (embeddings have one wire format). */
export type EmbeddingsCall = Omit<DispatchCall, "parse" | "api">;

/** An embeddings request served and metered: what the route answers with. */
export interface EmbeddingsDispatch {
  readonly request: EmbeddingsRequest;
  /** The model that served it: as the client named it, or the fallback that took the inputs. */
  readonly model: string;
  /** Headers admission set (x-ratelimit-*). */
  readonly headers: Record<string, string>;
  readonly embeddings: Embeddings;
}

export interface DispatcherDeps {
  registry: ModelRegistry;
  gatekeeper: Gatekeeper;
  ledger: Ledger;
  metrics: GatewayMetrics;
}

/** The `model` field of a body not yet validated, to pick the parse options of its engine. */
function peekModel(body: unknown): string | null {
  if (typeof body !== "object" || body === null) return null;
  const model = (body as { model?: unknown }).model;
  return typeof model === "string" ? model : null;
}

/** The key's limits cap the completion; the client sees finish_reason "length" when they bite. */
function capped(request: ChatRequest, admission: Admission): ChatRequest {
  if (admission.maxTokens === null || (request.maxTokens !== null && request.maxTokens <= admission.maxTokens)) return request;
  return { ...request, maxTokens: admission.maxTokens };
}

const released = { promptTokens: 0, completionTokens: 0, cost: 0 };

export class Dispatcher {
  private readonly deps: DispatcherDeps;

  constructor(deps: DispatcherDeps) {
    this.deps = deps;
  }

  async dispatch(call: DispatchCall): Promise<Dispatch> {
    const { registry, gatekeeper } = this.deps;
    const peeked = peekModel(call.body);
    const target = peeked === null ? null : registry.lookup(peeked);
    const parsed = call.parse(call.body, { media: target?.engine.card.acceptsMedia === true });
    const route = target !== null && target.id === parsed.model ? target : registry.lookup(parsed.model);
    if (route === null) throw modelNotFound(parsed.model);
    gatekeeper.checkModel(call.caller, route.id, route.canonical);

    // The requested model, then its fallbacks (those this key may use), tried
    // when a model refuses the prompt as too long for its context.
    const candidates = this.chain(call, route, () => true);
    const meter = this.meter(call, route, parsed.stream);
    const onModel = (candidate: ModelRoute): ChatRequest => (candidate.id === parsed.model ? parsed : { ...parsed, model: candidate.id });
    return this.firstServing(call, candidates, meter, {
      // The prompt is rendered and counted before admission: the key's token
      // window and budget reserve it, with the completion they let through.
      prepare: (candidate) => candidate.engine.prepare(onModel(candidate)),
      reserve: () => ({ n: parsed.n, maxTokens: parsed.maxTokens }),
      start: async (candidate, prepared, admission, headers) => {
        const served = capped(onModel(candidate), admission);
        const events = candidate.engine.generate(served, call.signal, prepared);
        // Refusals (context length, overload, bad schema) surface on the first
        // event, before any byte is sent, so they still get a proper status.
        const first = await events.next();
        return new RunningDispatch(served, candidate.engine, headers, meter, events, first, call, prepared);
      },
    });
  }

  /** The request's meter: one ledger row, for the served model, once the request has ended. */
  private meter(call: Omit<DispatchCall, "parse">, route: ModelRoute, stream: boolean): RequestMeter {
    return new RequestMeter({
      api: call.api,
      ledger: this.deps.ledger,
      admission: noLimits,
      requestId: call.requestId,
      keyId: call.caller.key?.id ?? null,
      keyName: call.caller.key?.name ?? "none",
      metrics: this.deps.metrics,
      model: route.canonical,
      stream,
      prices: route.prices,
      elapsed: call.elapsed,
    });
  }

  /**
   * An embeddings request on the same path, without a ChatEvent stream: the
   * model looked up and the key's model list checked, the inputs counted by
   * the engine (estimated, upstream), admitted against the key's windows and
   * budget as a prompt (with the one completion token admission reserves at
   * least, settled to none), computed, and metered in one row (completion
   * tokens 0) that is committed before the route answers. Fallbacks as for
   * chat: when a model refuses the inputs as too long for its context (at
   * prepare, or from the engine — an embeddings answer is one result, so
   * always before it), the next model of its chain the key may use is
   * prepared and admitted against its own prices; a fallback that serves no
   * embeddings (a chat model) is skipped. The last model's refusal is the
   * client's 400, naming the input.
   */
  async embed(call: EmbeddingsCall): Promise<EmbeddingsDispatch> {
    const { registry, gatekeeper } = this.deps;
    const request = parseEmbeddingsRequest(call.body);
    const route = registry.lookup(request.model);
    if (route === null) throw modelNotFound(request.model);
    gatekeeper.checkModel(call.caller, route.id, route.canonical);
    const meter = this.meter({ ...call, api: "embeddings" }, route, false);
    if (!servesEmbeddings(route.engine)) {
      const err = invalidRequest(`The model \`${route.id}\` is a chat model: it does not serve embeddings.`, "model", "model_not_supported");
      await meter.finish({ status: "error", httpStatus: err.status });
      throw err;
    }
    const candidates = this.chain(call, route, (fallback) => {
      if (servesEmbeddings(fallback.engine)) return true;
      call.log.info({ model: route.id, fallback: fallback.id }, "fallback serves no embeddings, skipped");
      return false;
    });
    const served = (candidate: ModelRoute): EmbeddingsRequest => (candidate.id === request.model ? request : { ...request, model: candidate.id });
    return this.firstServing(call, candidates, meter, {
      prepare: (candidate) => (candidate.engine as EmbeddingEngine).prepareEmbeddings(served(candidate)),
      // The one completion token admission reserves at least, settled to none.
      reserve: () => ({ n: 1, maxTokens: 1 }),
      start: async (candidate, prepared, _admission, headers) => {
        // An embeddings answer is one result: a refusal always comes before it.
        const embeddings = await (candidate.engine as EmbeddingEngine).embed(served(candidate), call.signal, prepared);
        meter.setUsage(embeddings.usage);
        // After a disconnect what was computed is metered; the answer goes nowhere (as for chat).
        await meter.finish({ status: call.signal.aborted ? "client_disconnected" : "ok", httpStatus: 200 });
        return { request: served(candidate), model: candidate.id, headers, embeddings };
      },
    });
  }

  /** The route's model, then its fallbacks that this key may use and `accepts` takes. */
  private chain(call: Pick<DispatchCall, "caller">, route: ModelRoute, accepts: (fallback: ModelRoute) => boolean): ModelRoute[] {
    const { registry, gatekeeper } = this.deps;
    const candidates: ModelRoute[] = [route];
    for (const id of registry.fallbacks(route.id)) {
      const fallback = registry.lookup(id);
      if (fallback !== null && gatekeeper.mayUse(call.caller, fallback.id, fallback.canonical) && accepts(fallback)) candidates.push(fallback);
    }
    return candidates;
  }

  /**
   * The request on each model of its chain in turn — prepared, admitted
   * against that model's own prices and context, started — until one takes
   * it. A model that refuses the prompt as too long for its context (when it
   * is prepared or when it starts) hands over to the next, its reservation
   * given back; any other refusal, or the last model's, is the client's
   * answer, metered in one row. A refusal by the key's limits before any
   * model ran gets no row (as for a bad key).
   */
  private async firstServing<R>(call: Omit<DispatchCall, "parse" | "api" | "body">, candidates: readonly ModelRoute[], meter: RequestMeter, steps: CandidateSteps<R>): Promise<R> {
    const fallsBack = (i: number, err: unknown): boolean => {
      if (toApiError(err).code !== "context_length_exceeded" || i >= candidates.length - 1 || call.signal.aborted) return false;
      call.log.info({ model: candidates[i]!.id, fallback: candidates[i + 1]!.id }, "context length exceeded, falling back");
      return true;
    };
    const refuse = async (err: unknown): Promise<never> => {
      await meter.finish({ status: call.signal.aborted ? "client_disconnected" : "error", httpStatus: toApiError(err).status });
      throw err;
    };
    let headers: Record<string, string> = {};
    let reachedEngine = false;
    for (const [i, candidate] of candidates.entries()) {
      meter.setModel(candidate.canonical, candidate.prices);
      let prepared: PreparedChat;
      try {
        prepared = await steps.prepare(candidate);
      } catch (err) {
        if (fallsBack(i, err)) continue;
        // A request the model refused (too long, bad token id, bad schema) still gets its row.
        return refuse(err);
      }
      let admission: Admission;
      try {
        admission = await this.deps.gatekeeper.admit(call.caller, { model: candidate.id, canonical: candidate.canonical, ...steps.reserve(), prompt: prepared, prices: candidate.prices, requestCounted: reachedEngine });
      } catch (err) {
        if (!reachedEngine) throw err;
        return refuse(err);
      }
      headers = { ...headers, ...admission.headers };
      meter.setAdmission(admission);
      reachedEngine = true;
      try {
        return await steps.start(candidate, prepared, admission, headers);
      } catch (err) {
        if (fallsBack(i, err)) {
          // The next model is admitted against its own prices and context; this one's reservation goes back.
          await admission.settle(released);
          continue;
        }
        return refuse(err);
      }
    }
    throw new Error("no candidate model");
  }
}

/** How one kind of request is served on one model of its chain (see Dispatcher.firstServing). */
interface CandidateSteps<R> {
  /** The request rendered and counted for this model: what admission reserves. */
  prepare(candidate: ModelRoute): Promise<PreparedChat>;
  /** The choices and the completion tokens to reserve (null: what the limits allow). */
  reserve(): { n: number; maxTokens: number | null };
  /** The model started; a refusal it throws before any output is a fallback or the client's answer. */
  start(candidate: ModelRoute, prepared: PreparedChat, admission: Admission, headers: Record<string, string>): Promise<R>;
}

/** An engine that computes embeddings (an embedding model, an upstream); a chat model does not. */
type EmbeddingEngine = Engine & Required<Pick<Engine, "prepareEmbeddings" | "embed">>;

function servesEmbeddings(engine: Engine): engine is EmbeddingEngine {
  return engine.prepareEmbeddings !== undefined && engine.embed !== undefined;
}

class RunningDispatch implements Dispatch {
  readonly request: ChatRequest;
  readonly engine: Engine;
  readonly prompt: PreparedChat;
  readonly headers: Record<string, string>;
  private readonly meter: RequestMeter;
  private readonly generator: AsyncGenerator<ChatEvent, void, void>;
  private readonly first: IteratorResult<ChatEvent, void>;
  private readonly call: DispatchCall;

  constructor(
    request: ChatRequest,
    engine: Engine,
    headers: Record<string, string>,
    meter: RequestMeter,
    generator: AsyncGenerator<ChatEvent, void, void>,
    first: IteratorResult<ChatEvent, void>,
    call: DispatchCall,
    prompt: PreparedChat,
  ) {
    this.prompt = prompt;
    this.request = request;
    this.engine = engine;
    this.headers = headers;
    this.meter = meter;
    this.generator = generator;
    this.first = first;
    this.call = call;
  }

  setResponseId(id: string): void {
    this.meter.setCompletionId(id);
  }

  async *events(): AsyncGenerator<ChatEvent, void, void> {
    const { meter, call } = this;
    const stream = this.request.stream;
    // The engine's usage event comes before it has ended, and a failure may
    // still follow it: it is held back until the engine is done and the row —
    // saying how the request really ended — is committed.
    let usage: ChatEvent | null = null;
    const note = (event: ChatEvent): boolean => {
      if (event.type === "delta") meter.firstToken();
      else if (event.type === "usage") {
        meter.setUsage(event.usage);
        usage = event;
        return false;
      }
      return true;
    };
    const outcome = (): "ok" | "client_disconnected" => (call.signal.aborted ? "client_disconnected" : "ok");
    try {
      if (!this.first.done && note(this.first.value)) yield this.first.value;
      // After a disconnect keep draining: the engine stops at once and its
      // final usage event says what was generated, for the ledger.
      for await (const event of this.generator) if (note(event)) yield event;
    } catch (err) {
      if (!stream) {
        // Nothing was sent: the error's own status is the response's.
        await meter.finish({ status: "error", httpStatus: toApiError(err).status });
        throw err;
      }
      // A stream already answered 200: it ends with an error, never as a success.
      let metered = false;
      try {
        await meter.finish({ status: call.signal.aborted ? "client_disconnected" : "error", httpStatus: 200 });
        metered = true;
      } catch (meterErr) {
        if (meterErr !== err) call.log.error({ err: meterErr }, "ledger write failed");
      }
      if (metered && usage !== null) yield usage;
      throw err;
    }
    await meter.finish({ status: outcome(), httpStatus: 200 });
    if (usage !== null) yield usage;
  }

  async close(): Promise<void> {
    await this.generator.return();
  }
}
