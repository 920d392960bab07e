/**
 * Prometheus metrics (prom-client, a registry of our own) and the live rates
 * the dashboard polls. Labels are bounded: model ids and key names come from
 * the configuration and the key table, HTTP routes are route patterns, never
 * raw URLs; request ids, prompts and users never become labels.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { GrammarKind, StructuredOutputObserver } from "../engines/engine.js";
import type { ApiName } from "../protocol/api-surface.js";
import type { UsageCounts } from "../protocol/chat-events.js";
import type { LedgerStatus } from "../store/types.js";
import type { ProviderPool, Verdict } from "../upstream/provider-pool.js";
import type { ModelRegistry } from "./model-registry.js";

export interface RequestObservation {
  /** The API the request came in by: chat completions are also counted in `chatport_chat_requests_total`. */
  api: ApiName;
  model: string;
  status: LedgerStatus;
  httpStatus: number;
  /** The key's name, or "none" for the static key / an open server. */
  keyName: string;
  stream: boolean;
  usage: UsageCounts | null;
  ttftMs: number | null;
  latencyMs: number;
}

const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const tokenGapBuckets = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.5, 5];
const compileBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const breakerValue = { closed: 0, "half-open": 1, open: 2 } as const;

/** Requests and output tokens of the last `windowMs`, for requests/s and tokens/s. */
class RateWindow {
  private readonly events: Array<{ at: number; tokens: number }> = [];
  constructor(private readonly windowMs: number) {}

  add(tokens: number, now = Date.now()): void {
    this.events.push({ at: now, tokens });
    this.prune(now);
  }

  rates(now = Date.now()): { requestsPerSecond: number; tokensPerSecond: number } {
    this.prune(now);
    const tokens = this.events.reduce((sum, e) => sum + e.tokens, 0);
    const seconds = this.windowMs / 1000;
    return { requestsPerSecond: this.events.length / seconds, tokensPerSecond: tokens / seconds };
  }

  private prune(now: number): void {
    while (this.events.length > 0 && this.events[0]!.at < now - this.windowMs) this.events.shift();
  }
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly startedAt = Date.now();
  private readonly rates = new RateWindow(10_000);
  private requestCount = 0;

  private readonly httpRequests = new Counter({
    name: "chatport_http_requests_total",
    help: "HTTP requests by method, route pattern and status code.",
    labelNames: ["method", "route", "code"] as const,
    registers: [this.registry],
  });
  private readonly requests = new Counter({
    name: "chatport_requests_total",
    help: "Requests of every API (chat, responses, messages, completions, embeddings) that reached a model, by API, model, outcome, HTTP status and API key name.",
    labelNames: ["api", "model", "status", "code", "key"] as const,
    registers: [this.registry],
  });
  private readonly chatRequests = new Counter({
    name: "chatport_chat_requests_total",
    help: "Chat completion requests (/v1/chat/completions only; every API: chatport_requests_total) that reached a model, by model, outcome, HTTP status and API key name.",
    labelNames: ["model", "status", "code", "key"] as const,
    registers: [this.registry],
  });
  private readonly promptTokens = new Counter({
    name: "chatport_prompt_tokens_total",
    help: "Prompt tokens processed, by model.",
    labelNames: ["model"] as const,
    registers: [this.registry],
  });
  private readonly cachedTokens = new Counter({
    name: "chatport_cached_prompt_tokens_total",
    help: "Prompt tokens served from the KV cache (or the upstream's cache), by model.",
    labelNames: ["model"] as const,
    registers: [this.registry],
  });
  private readonly completionTokens = new Counter({
    name: "chatport_completion_tokens_total",
    help: "Completion tokens generated, by model.",
    labelNames: ["model"] as const,
    registers: [this.registry],
  });
  private readonly ttft = new Histogram({
    name: "chatport_time_to_first_token_seconds",
    help: "Time from the request's arrival to its first generated token, by model.",
    labelNames: ["model"] as const,
    buckets: latencyBuckets,
    registers: [this.registry],
  });
  private readonly itl = new Histogram({
    name: "chatport_inter_token_latency_seconds",
    help: "Time between consecutive tokens of a choice, by model.",
    labelNames: ["model"] as const,
    buckets: tokenGapBuckets,
    registers: [this.registry],
  });
  private readonly tokensPerSecond = new Histogram({
    name: "chatport_request_output_tokens_per_second",
    help: "Output tokens per second of each request after its first token, by model.",
    labelNames: ["model"] as const,
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: "chatport_request_duration_seconds",
    help: "Time from a chat request's arrival to its last byte, by model and streaming.",
    labelNames: ["model", "stream"] as const,
    buckets: latencyBuckets,
    registers: [this.registry],
  });
  private readonly upstreamLatency = new Histogram({
    name: "chatport_upstream_attempt_duration_seconds",
    help: "Duration of each attempt on an upstream deployment (to the end of its response), by provider, upstream model and verdict.",
    labelNames: ["provider", "model", "verdict"] as const,
    buckets: latencyBuckets,
    registers: [this.registry],
  });
  private readonly upstreamErrors = new Counter({
    name: "chatport_upstream_errors_total",
    help: "Failed attempts on an upstream deployment (connect errors, timeouts, 429, 5xx), by provider and upstream model.",
    labelNames: ["provider", "model"] as const,
    registers: [this.registry],
  });

  private readonly grammarCompile = new Histogram({
    name: "chatport_grammar_compile_seconds",
    help: "Time to compile a JSON Schema (response_format, or tools' parameters) into a grammar, by model and kind; cache hits are not compiles.",
    labelNames: ["model", "kind"] as const,
    buckets: compileBuckets,
    registers: [this.registry],
  });
  private readonly grammarLookups = new Counter({
    name: "chatport_grammar_cache_lookups_total",
    help: "Grammar cache lookups by model, kind and result (hit or miss).",
    labelNames: ["model", "kind", "result"] as const,
    registers: [this.registry],
  });
  private readonly outputChecks = new Counter({
    name: "chatport_structured_output_checks_total",
    help: "Grammar-constrained outputs checked against their schemas before the response ended, by model, kind and result; result=\"invalid\" is a bug (the client got a 500).",
    labelNames: ["model", "kind", "result"] as const,
    registers: [this.registry],
  });

  private readonly grammarSteps = new Counter({
    name: "chatport_grammar_sampling_steps_total",
    help: "Tokens picked under a grammar, by model, kind and what came before the pick: outcome=\"boosted\" (the tokens the grammar accepts were boosted, so the first pick is accepted), \"free_text\" (inside a free string, nothing boosted), \"too_many\" (more accepted tokens than are boosted), \"may_end\" (the grammar may end and end tokens cannot be boosted), \"off\" (no boost: logprobs, a repetition penalty, a small vocabulary); \"grammar_end\" counts ends written without a pick, where the grammar allowed nothing else. A pick that is not boosted may cost llama.cpp a pass over the whole vocabulary.",
    labelNames: ["model", "kind", "outcome"] as const,
    registers: [this.registry],
  });

  /** What local engines report about grammars and constrained outputs. */
  readonly structuredOutputs: StructuredOutputObserver = {
    grammarCompiled: (model: string, kind: GrammarKind, seconds: number) => this.grammarCompile.observe({ model, kind }, seconds),
    grammarLookup: (model: string, kind: GrammarKind, hit: boolean) => this.grammarLookups.inc({ model, kind, result: hit ? "hit" : "miss" }),
    outputChecked: (model: string, kind: GrammarKind, valid: boolean) => this.outputChecks.inc({ model, kind, result: valid ? "valid" : "invalid" }),
    grammarSteps: (model: string, kind: GrammarKind, outcome: string, count: number) => this.grammarSteps.inc({ model, kind, outcome }, count),
  };

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "chatport_process_" });
  }

  /** Gauges read at scrape time from the engines and the upstream pool; the engines' grammar reports. */
  attach(models: ModelRegistry, pool: ProviderPool): void {
    for (const engine of models.list()) engine.observeStructuredOutputs?.(this.structuredOutputs);
    const load = (pick: (l: { active: number; waiting: number; capacity: number }) => number) =>
      function (this: Gauge<"model">): void {
        this.reset();
        for (const engine of models.list()) this.set({ model: engine.card.id }, pick(engine.load()));
      };
    new Gauge({
      name: "chatport_queue_depth",
      help: "Requests waiting for a sequence (local) or in backoff (upstream), by model.",
      labelNames: ["model"] as const,
      registers: [this.registry],
      collect: load((l) => l.waiting),
    });
    new Gauge({
      name: "chatport_active_requests",
      help: "Sequences generating (local) or requests outstanding upstream, by model.",
      labelNames: ["model"] as const,
      registers: [this.registry],
      collect: load((l) => l.active),
    });
    new Gauge({
      name: "chatport_capacity",
      help: "Parallel sequences (local) or upstream concurrency (upstream), by model.",
      labelNames: ["model"] as const,
      registers: [this.registry],
      collect: load((l) => l.capacity),
    });
    new Gauge({
      name: "chatport_kv_cache_usage_ratio",
      help: "Share of a local model's KV cache holding tokens (0–1), by model.",
      labelNames: ["model"] as const,
      registers: [this.registry],
      collect(this: Gauge<"model">) {
        this.reset();
        for (const engine of models.list()) {
          const kv = engine.kvCache?.();
          if (kv !== undefined && kv.size > 0) this.set({ model: engine.card.id }, kv.used / kv.size);
        }
      },
    });
    const deployments = (set: (g: Gauge<"provider" | "model">, d: ReturnType<ProviderPool["snapshot"]>[number]) => void) =>
      function (this: Gauge<"provider" | "model">): void {
        this.reset();
        for (const d of pool.snapshot()) set(this, d);
      };
    new Gauge({
      name: "chatport_upstream_breaker_state",
      help: "Circuit breaker of an upstream deployment: 0 closed, 1 half-open, 2 open.",
      labelNames: ["provider", "model"] as const,
      registers: [this.registry],
      collect: deployments((g, d) => g.set({ provider: d.provider, model: d.model }, breakerValue[d.breaker])),
    });
    new Gauge({
      name: "chatport_upstream_healthy",
      help: "1 when an upstream deployment's provider passed its last health check.",
      labelNames: ["provider", "model"] as const,
      registers: [this.registry],
      collect: deployments((g, d) => g.set({ provider: d.provider, model: d.model }, d.healthy ? 1 : 0)),
    });
    new Gauge({
      name: "chatport_upstream_outstanding_requests",
      help: "Requests in flight to an upstream deployment.",
      labelNames: ["provider", "model"] as const,
      registers: [this.registry],
      collect: deployments((g, d) => g.set({ provider: d.provider, model: d.model }, d.outstanding)),
    });
    pool.observeAttempts((d, seconds, verdict) => this.observeAttempt(d, seconds, verdict));
  }

  observeAttempt(deployment: { provider: string; model: string }, seconds: number, verdict: Verdict): void {
    this.upstreamLatency.observe({ ...deployment, verdict }, seconds);
    if (verdict === "failure") this.upstreamErrors.inc(deployment);
  }

  observeHttp(method: string, route: string, code: number): void {
    this.httpRequests.inc({ method, route, code: String(code) });
  }

  observeRequest(o: RequestObservation): void {
    const model = o.model;
    this.requestCount++;
    const labels = { model, status: o.status, code: String(o.httpStatus), key: o.keyName };
    this.requests.inc({ api: o.api, ...labels });
    if (o.api === "chat") this.chatRequests.inc(labels);
    this.duration.observe({ model, stream: String(o.stream) }, o.latencyMs / 1000);
    if (o.ttftMs !== null) this.ttft.observe({ model }, o.ttftMs / 1000);
    const usage = o.usage;
    this.rates.add(usage?.completionTokens ?? 0);
    if (usage === null) return;
    this.promptTokens.inc({ model }, usage.promptTokens);
    this.cachedTokens.inc({ model }, usage.cachedTokens);
    this.completionTokens.inc({ model }, usage.completionTokens);
    let decodeMs = 0;
    for (const gap of usage.decodeMs) {
      this.itl.observe({ model }, gap / 1000);
      decodeMs += gap;
    }
    if (decodeMs > 0 && usage.decodeMs.length > 0) this.tokensPerSecond.observe({ model }, (usage.decodeMs.length / decodeMs) * 1000);
  }

  /** What the dashboard's live view shows. */
  stats(models: ModelRegistry): Record<string, unknown> {
    const { requestsPerSecond, tokensPerSecond } = this.rates.rates();
    const load = models.list().map((e) => ({ id: e.card.id, ...e.load() }));
    return {
      uptime_s: Math.round((Date.now() - this.startedAt) / 1000),
      requests_total: this.requestCount,
      requests_per_second: requestsPerSecond,
      output_tokens_per_second: tokensPerSecond,
      queue_depth: load.reduce((sum, l) => sum + l.waiting, 0),
      models: load,
    };
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
