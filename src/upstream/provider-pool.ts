/**
 * Live state of the upstream fleet: one undici connection pool per provider,
 * and per deployment (provider + upstream model name) its outstanding
 * requests, circuit breaker and counters. An active health check (GET
 * {baseUrl}/models) marks providers unhealthy so the balancer skips their
 * deployments while a healthy one exists.
 *
 * One ProviderPool is shared by every UpstreamEngine of a server; it owns the
 * sockets and timers, so it alone is closed at shutdown. Timers are unref'd:
 * they never keep the process alive.
 */
import { Pool } from "undici";
import type { UpstreamEndpoint } from "../protocol/chat-request.js";
import type { BreakerConfig, DeploymentConfig, ProviderConfig } from "./types.js";

export type BreakerState = "closed" | "open" | "half-open";


/**
 * closed → open after `failureThreshold` consecutive failures → after
 * `cooldownMs` half-open, where exactly one probe may pass → the probe's
 * success closes it, its failure re-opens it (a fresh cooldown). Any success
 * closes it. A threshold ≤ 0 disables the breaker.
 */
export class CircuitBreaker {
  private consecutive = 0;
  private open = false;
  private openedAt = 0;
  private probing = false;

  constructor(
    private readonly config: BreakerConfig,
    private readonly now: () => number,
  ) {}

  get consecutiveFailures(): number {
    return this.consecutive;
  }

  state(): BreakerState {
    if (!this.open) return "closed";
    return this.now() - this.openedAt >= this.config.cooldownMs ? "half-open" : "open";
  }

  /** Whether a request may pass now (does not claim the half-open probe). */
  allows(): boolean {
    if (!this.open) return true;
    return !this.probing && this.state() === "half-open";
  }

  /** Ms until an open breaker lets a probe through (0 when it would now). */
  msUntilProbe(): number {
    if (!this.open) return 0;
    return Math.max(0, this.openedAt + this.config.cooldownMs - this.now());
  }

  /** A request passes; returns whether it is the half-open probe. */
  admit(): boolean {
    if (this.open && !this.probing && this.state() === "half-open") {
      this.probing = true;
      return true;
    }
    return false;
  }

  success(): void {
    this.consecutive = 0;
    this.open = false;
    this.probing = false;
  }

  failure(probe: boolean): void {
    this.consecutive += 1;
    if (probe) {
      this.probing = false;
      this.open = true;
      this.openedAt = this.now();
    } else if (!this.open && this.config.failureThreshold > 0 && this.consecutive >= this.config.failureThreshold) {
      this.open = true;
      this.openedAt = this.now();
    }
  }

  /** A request ended without a verdict (cancelled by the client). */
  abandon(probe: boolean): void {
    if (probe) this.probing = false;
  }
}

/** One provider: its pool, request templates and health. */
export class ProviderState {
  readonly config: ProviderConfig;
  readonly pool: Pool;
  /** The pool's base path (`/v1`), and the query string every call keeps. */
  private readonly basePath: string;
  private readonly query: string;
  readonly modelsPath: string;
  /** Request headers (auth and the provider's own) for streaming and non-streaming calls. */
  readonly streamHeaders: Record<string, string>;
  readonly jsonHeaders: Record<string, string>;
  /** The same for the Anthropic Messages API (`messages`): its `x-api-key` and `anthropic-version` besides the Bearer key. */
  private readonly messagesStreamHeaders: Record<string, string>;
  private readonly messagesJsonHeaders: Record<string, string>;
  /** Strings that must never reach a client (the API key). */
  readonly secrets: readonly string[];
  outstanding = 0;
  healthy = true;
  /** Set while a health check is in flight. */
  checking = false;

  /** Path of `POST …/<endpoint>` on the pool's origin (`chat/completions`, `responses`, `messages/count_tokens`, …). */
  pathFor(endpoint: UpstreamEndpoint | "messages/count_tokens"): string {
    return `${this.basePath}/${endpoint}${this.query}`;
  }

  /** Request headers of a call to `endpoint`, streaming or not. */
  headersFor(endpoint: UpstreamEndpoint, stream: boolean): Record<string, string> {
    if (endpoint === "messages") return stream ? this.messagesStreamHeaders : this.messagesJsonHeaders;
    return stream ? this.streamHeaders : this.jsonHeaders;
  }

  constructor(config: ProviderConfig) {
    this.config = config;
    const url = new URL(config.baseUrl);
    const base = url.pathname.replace(/\/+$/, "");
    this.basePath = base;
    this.query = url.search;
    this.modelsPath = `${base}/models${url.search}`;
    this.pool = new Pool(url.origin, {
      connections: Math.max(1, config.maxConcurrent),
      pipelining: 1,
      connect: { timeout: config.timeouts.connectMs },
      // Our own timers (upstream-engine.ts) enforce first-byte and idle limits with ms precision.
      headersTimeout: 0,
      bodyTimeout: 0,
      keepAliveTimeout: 30_000,
    });
    const common: Record<string, string> = { ...lowerKeys(config.headers), "content-type": "application/json" };
    // A provider's own credential headers (`api-key`, `x-api-key`, …) are as secret as its key.
    const secrets: string[] = Object.entries(common)
      .filter(([name]) => credentialHeader.test(name))
      .map(([, value]) => value.replace(/^(Bearer|Basic)\s+/i, ""));
    if (config.apiKey !== null && config.apiKey !== "") {
      common.authorization = `Bearer ${config.apiKey}`;
      secrets.push(config.apiKey);
    }
    if (url.password !== "") secrets.push(decodeURIComponent(url.password));
    this.secrets = secrets;
    this.streamHeaders = { ...common, accept: "text/event-stream" };
    this.jsonHeaders = { ...common, accept: "application/json" };
    // Anthropic's servers read `x-api-key`, OpenAI-compatible ones that serve /v1/messages (vLLM, llama-server, LiteLLM) Bearer: both go.
    const anthropic: Record<string, string> = { "anthropic-version": "2023-06-01" };
    if (config.apiKey !== null && config.apiKey !== "") anthropic["x-api-key"] = config.apiKey;
    // The provider's own headers (an `anthropic-version` or `anthropic-beta` of its choice) win.
    const messages = { ...anthropic, ...common };
    this.messagesStreamHeaders = { ...messages, accept: "text/event-stream" };
    this.messagesJsonHeaders = { ...messages, accept: "application/json" };
  }

  hasCapacity(): boolean {
    return this.outstanding < this.config.maxConcurrent;
  }
}

/** Header names that carry credentials. */
const credentialHeader = /auth|key|token|secret|password|signature|cookie/i;

function lowerKeys(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) out[k.toLowerCase()] = v;
  return out;
}

export type Verdict = "success" | "failure" | "none";

/** A claimed slot on a deployment; hand it back with {@link DeploymentState.release}. */
export interface Lease {
  readonly probe: boolean;
  released: boolean;
  /** performance.now() when the attempt started. */
  readonly startedAt: number;
}

/** Told about every finished attempt (for metrics): how long it held the deployment and how it ended. */
export type AttemptObserver = (deployment: { provider: string; model: string }, seconds: number, verdict: Verdict) => void;

/** One model on one provider. Shared by every public model that names the same pair. */
export class DeploymentState {
  readonly provider: ProviderState;
  readonly model: string;
  readonly breaker: CircuitBreaker;
  outstanding = 0;
  requests = 0;
  failures = 0;
  /** Epoch ms before which the upstream asked us not to come back (429 Retry-After). */
  coolingUntil = 0;
  /** Set by the pool's owner to observe attempts (metrics). */
  observer: AttemptObserver | null = null;

  constructor(provider: ProviderState, model: string, breaker: CircuitBreaker) {
    this.provider = provider;
    this.model = model;
    this.breaker = breaker;
  }

  acquire(): Lease {
    this.outstanding += 1;
    this.provider.outstanding += 1;
    this.requests += 1;
    return { probe: this.breaker.admit(), released: false, startedAt: performance.now() };
  }

  release(lease: Lease, verdict: Verdict): void {
    if (lease.released) return;
    lease.released = true;
    this.outstanding -= 1;
    this.provider.outstanding -= 1;
    this.observer?.({ provider: this.provider.config.id, model: this.model }, (performance.now() - lease.startedAt) / 1000, verdict);
    if (verdict === "success") this.breaker.success();
    else if (verdict === "failure") {
      this.failures += 1;
      this.breaker.failure(lease.probe);
    } else this.breaker.abandon(lease.probe);
  }
}

export interface DeploymentSnapshot {
  provider: string;
  model: string;
  outstanding: number;
  breaker: BreakerState;
  consecutiveFailures: number;
  /** The provider passed its last health check (true until one fails, or without checks). */
  healthy: boolean;
  /** Attempts sent to this deployment (retries count each). */
  requests: number;
  failures: number;
}

export interface ProviderPoolOptions {
  /** The `breaker` setting (its default is declared in settings.ts). */
  breaker: BreakerConfig;
  /** Clock for breakers and Retry-After (tests); default Date.now. */
  now?: () => number;
}

export class ProviderPool {
  private readonly providers = new Map<string, ProviderState>();
  private readonly deployments = new Map<string, DeploymentState>();
  private observer: AttemptObserver | null = null;

  /** Calls `observer` after every attempt on every deployment, present and future (metrics). */
  observeAttempts(observer: AttemptObserver): void {
    this.observer = observer;
    for (const d of this.deployments.values()) d.observer = observer;
  }
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly breakerConfig: BreakerConfig;
  readonly now: () => number;
  private closed = false;

  constructor(providers: readonly ProviderConfig[], options: ProviderPoolOptions) {
    this.breakerConfig = options.breaker;
    this.now = options.now ?? Date.now;
    for (const config of providers) {
      if (this.providers.has(config.id)) throw new Error(`Duplicate upstream provider id: ${config.id}`);
      const state = new ProviderState(config);
      this.providers.set(config.id, state);
      if (config.healthCheckMs > 0) {
        const timer = setInterval(() => void this.checkProvider(state), config.healthCheckMs);
        timer.unref();
        this.timers.push(timer);
        const first = setTimeout(() => void this.checkProvider(state), 0);
        first.unref();
        this.timers.push(first);
      }
    }
  }

  provider(id: string): ProviderState {
    const state = this.providers.get(id);
    if (state === undefined) throw new Error(`Unknown upstream provider: ${id}`);
    return state;
  }

  /** The live state of a deployment (created on first use). */
  deployment(config: Pick<DeploymentConfig, "provider" | "model">): DeploymentState {
    const key = `${config.provider}\u0000${config.model}`;
    let state = this.deployments.get(key);
    if (state === undefined) {
      state = new DeploymentState(this.provider(config.provider), config.model, new CircuitBreaker(this.breakerConfig, this.now));
      state.observer = this.observer;
      this.deployments.set(key, state);
    }
    return state;
  }

  snapshot(): DeploymentSnapshot[] {
    return [...this.deployments.values()].map((d) => ({
      provider: d.provider.config.id,
      model: d.model,
      outstanding: d.outstanding,
      breaker: d.breaker.state(),
      consecutiveFailures: d.breaker.consecutiveFailures,
      healthy: d.provider.healthy,
      requests: d.requests,
      failures: d.failures,
    }));
  }

  /** Run the health check of every provider (or one) now; resolves when done. */
  async checkHealth(providerId?: string): Promise<void> {
    const targets = providerId === undefined ? [...this.providers.values()] : [this.provider(providerId)];
    await Promise.all(targets.map((p) => this.checkProvider(p)));
  }

  private async checkProvider(provider: ProviderState): Promise<void> {
    if (provider.checking || this.closed) return;
    provider.checking = true;
    const { connectMs, firstByteMs } = provider.config.timeouts;
    const signal = AbortSignal.timeout(connectMs + firstByteMs);
    try {
      const res = await provider.pool.request({ method: "GET", path: provider.modelsPath, headers: provider.jsonHeaders, signal });
      await res.body.dump();
      provider.healthy = res.statusCode >= 200 && res.statusCode < 300;
    } catch {
      provider.healthy = false;
    } finally {
      provider.checking = false;
    }
  }

  /** Stop health checks and close every pool (in-flight requests get 2 s, then are destroyed). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    await Promise.all(
      [...this.providers.values()].map(async ({ pool }) => {
        let timer: NodeJS.Timeout | undefined;
        const grace = new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), 2000);
          timer.unref();
        });
        const result = await Promise.race([pool.close().then(() => "closed" as const), grace]);
        clearTimeout(timer);
        if (result === "timeout") await pool.destroy();
      }),
    );
  }
}
