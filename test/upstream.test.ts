/**
 * The upstream engine against real HTTP servers on 127.0.0.1 (fake upstreams
 * with injected faults): streaming pass-through and timing, field
 * pass-through, balancing, retries and failover, Retry-After, the circuit
 * breaker, timeouts, error mapping, cancellation and health checks. Drives
 * UpstreamEngine.generate directly; the HTTP route is tested end to end
 * elsewhere.
 */
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import type { ChatDelta, ChatEvent, UsageCounts } from "../src/protocol/chat-events.js";
import { parseChatRequest } from "../src/protocol/chat-request.js";
import { ChatResponseBuilder } from "../src/protocol/chat-response.js";
import { ApiError } from "../src/protocol/errors.js";
import { fakePromptTokens, startFakeUpstream, type FakeUpstream, type FakeUpstreamOptions } from "../src/upstream/fake-upstream.js";
import { ProviderPool } from "../src/upstream/provider-pool.js";
import type { BreakerConfig, DeploymentConfig, ProviderConfig, UpstreamModelConfig } from "../src/upstream/types.js";
import { UpstreamEngine, type UpstreamEngineOptions } from "../src/upstream/upstream-engine.js";
import { settingDefault } from "../src/settings.js";
import { seededRandom } from "./helpers/random.js";

const MODEL = "public-model";

const keyOf = (id: string): string => `sk-${id}-very-secret-key`;

function providerConfig(id: string, upstream: FakeUpstream | string, overrides: Partial<ProviderConfig> = {}): ProviderConfig {
  return {
    id,
    baseUrl: typeof upstream === "string" ? upstream : upstream.url,
    apiKey: keyOf(id),
    timeouts: { connectMs: 1000, firstByteMs: 3000, idleMs: 3000 },
    maxConcurrent: 64,
    headers: { "X-Org": "chatport-tests" },
    healthCheckMs: 0,
    ...overrides,
  };
}

interface Setup {
  fakes: FakeUpstream[];
  pool: ProviderPool;
  engine: UpstreamEngine;
}

interface SetupOptions {
  /** One entry per provider/deployment: its fake options, deployment fields and provider overrides. */
  deployments: Array<{
    fake?: FakeUpstreamOptions;
    weight?: number;
    priority?: number;
    provider?: Partial<ProviderConfig>;
  }>;
  model?: Partial<UpstreamModelConfig>;
  breaker?: BreakerConfig;
  engine?: UpstreamEngineOptions;
}

async function setup(t: TestContext, options: SetupOptions): Promise<Setup> {
  const fakes: FakeUpstream[] = [];
  const providers: ProviderConfig[] = [];
  const deployments: DeploymentConfig[] = [];
  for (const [i, d] of options.deployments.entries()) {
    const id = `prov-${String.fromCharCode(97 + i)}`;
    const fake = await startFakeUpstream({ apiKey: keyOf(id), ...d.fake });
    fakes.push(fake);
    providers.push(providerConfig(id, fake, d.provider));
    deployments.push({ provider: id, model: `upstream-${i}`, weight: d.weight ?? 1, priority: d.priority ?? 0 });
  }
  const pool = new ProviderPool(providers, { breaker: options.breaker ?? { failureThreshold: 5, cooldownMs: 10_000 } });
  const engine = new UpstreamEngine(
    { id: MODEL, deployments, strategy: "weighted", retries: 2, contextLength: 32768, acceptsMedia: false, ...options.model },
    pool,
    { backoffBaseMs: 10, backoffCapMs: 50, random: seededRandom(42), ...options.engine },
  );
  t.after(async () => {
    await pool.close();
    await Promise.all(fakes.map((f) => f.close()));
  });
  return { fakes, pool, engine };
}

interface Run {
  events: ChatEvent[];
  /** performance.now() at each event. */
  times: number[];
  error: unknown;
}

function body(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: MODEL, messages: [{ role: "user", content: "alpha beta gamma" }], ...overrides };
}

async function run(engine: UpstreamEngine, raw: Record<string, unknown>, signal?: AbortSignal, onEvent?: (event: ChatEvent) => void): Promise<Run> {
  const request = parseChatRequest(raw);
  const out: Run = { events: [], times: [], error: null };
  try {
    for await (const event of engine.generate(request, signal ?? new AbortController().signal)) {
      out.events.push(event);
      out.times.push(performance.now());
      onEvent?.(event);
    }
  } catch (err) {
    out.error = err;
  }
  return out;
}

const deltas = (r: Run): ChatDelta[] => r.events.filter((e): e is ChatDelta => e.type === "delta");
const text = (r: Run): string => deltas(r).map((d) => d.content ?? "").join("");

function usageOf(r: Run): UsageCounts {
  const usages = r.events.filter((e) => e.type === "usage");
  assert.equal(usages.length, 1, "exactly one usage event");
  const last = r.events[r.events.length - 1];
  assert.equal(last?.type, "usage", "usage is the last event");
  return (last as { usage: UsageCounts }).usage;
}

function ok(r: Run): void {
  if (r.error !== null) throw r.error;
}

function apiError(r: Run): ApiError {
  assert.ok(r.error instanceof ApiError, `expected an ApiError, got ${String(r.error)}`);
  return r.error;
}

async function waitFor(condition: () => boolean, ms = 2000): Promise<void> {
  const until = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await delay(5);
  }
}

test("streaming: events arrive as upstream chunks arrive; include_usage forced upstream; usage is the upstream's", async (t) => {
  const { fakes, engine } = await setup(t, { deployments: [{ fake: { fault: { kind: "ok", chunkDelayMs: 50 } } }] });
  const raw = body({ stream: true, max_tokens: 6 });
  const r = await run(engine, raw);
  ok(r);
  const ds = deltas(r);
  assert.equal(ds.length, 6);
  assert.equal(text(r), "alpha beta gamma alpha beta gamma");
  const first = r.events.indexOf(ds[0] as ChatEvent);
  const last = r.events.indexOf(ds[5] as ChatEvent);
  const spread = (r.times[last] ?? 0) - (r.times[first] ?? 0);
  assert.ok(spread > 0.6 * 250, `events spread over ${spread.toFixed(0)} ms, upstream over 250 ms: bunched`);
  assert.deepEqual(
    r.events.filter((e) => e.type === "finish"),
    [{ type: "finish", index: 0, reason: "stop" }],
  );

  const sent = fakes[0]?.requests[0];
  assert.ok(sent?.body);
  assert.equal(sent.body.model, "upstream-0", "model replaced by the upstream name");
  assert.deepEqual(sent.body.stream_options, { include_usage: true }, "include_usage forced although the client did not ask");
  assert.equal(sent.body.max_tokens, 6);
  assert.deepEqual(sent.body.messages, raw.messages, "the client's body is forwarded");
  assert.equal(sent.headers.authorization, `Bearer ${keyOf("prov-a")}`, "the provider key is sent upstream");
  assert.equal(sent.headers["x-org"], "chatport-tests", "provider headers are sent");

  const usage = usageOf(r);
  assert.equal(usage.promptTokens, fakePromptTokens(raw));
  assert.equal(usage.completionTokens, 6);
  assert.ok(usage.prefillMs >= 0 && usage.decodeMs.length === 5);
});

test("non-streaming: the JSON body becomes the same events; a gateway cap on max tokens reaches the upstream", async (t) => {
  const { fakes, engine } = await setup(t, { deployments: [{}] });
  const raw = body({ max_completion_tokens: 50 });
  const request = { ...parseChatRequest(raw), maxTokens: 4 };
  const events: ChatEvent[] = [];
  for await (const e of engine.generate(request, new AbortController().signal)) events.push(e);
  assert.equal(events.map((e) => (e.type === "delta" ? (e.content ?? "") : "")).join(""), "alpha beta gamma alpha");
  assert.deepEqual(events[1], { type: "finish", index: 0, reason: "stop" });
  const usage = (events[2] as { usage: UsageCounts }).usage;
  assert.equal(usage.completionTokens, 4);
  assert.equal(usage.promptTokens, fakePromptTokens(raw));
  assert.equal(fakes[0]?.requests[0]?.body?.max_completion_tokens, 4);
  assert.equal(fakes[0]?.requests[0]?.body?.stream_options, undefined);
});

test("tool calls, reasoning and logprobs pass through, streaming and not", async (t) => {
  const { engine } = await setup(t, { deployments: [{}] });
  const tools = [{ type: "function", function: { name: "lookup", parameters: { type: "object", properties: { input: { type: "string" } } } } }];

  for (const stream of [true, false]) {
    const r = await run(engine, body({ stream, tools }));
    ok(r);
    const builder = new ChatResponseBuilder({
      model: MODEL,
      systemFingerprint: engine.systemFingerprint,
      n: 1,
      includeUsage: false,
      fullText: false,
      usageTimings: false,
      logprobs: false,
      legacyFunctions: false,
    });
    for (const e of r.events) builder.accept(e);
    const message = builder.completion().choices[0];
    assert.deepEqual(message?.message.tool_calls, [{ id: "call_fake_0", type: "function", function: { name: "lookup", arguments: '{"input":"alpha"}' } }], `stream=${stream}`);
    assert.equal(message?.finish_reason, "tool_calls");
    assert.equal(usageOf(r).completionTokens, 3);
  }

  for (const stream of [true, false]) {
    const r = await run(engine, body({ stream, reasoning_effort: "low", logprobs: true, top_logprobs: 2, max_tokens: 5 }));
    ok(r);
    const ds = deltas(r);
    assert.equal(ds.map((d) => d.reasoning ?? "").join(""), "think0 think1", `stream=${stream}`);
    assert.equal(text(r), "alpha beta gamma");
    const logprobs = ds.flatMap((d) => d.logprobs ?? []);
    assert.equal(logprobs.length, 5);
    assert.deepEqual(logprobs[2], {
      token: "alpha",
      logprob: -0.30000000000000004,
      bytes: [...Buffer.from("alpha")],
      topLogprobs: [
        { token: "alpha", logprob: -0.30000000000000004, bytes: [...Buffer.from("alpha")] },
        { token: "alt1", logprob: -1.3, bytes: [...Buffer.from("alt1")] },
      ],
    });
    const usage = usageOf(r);
    assert.equal(usage.reasoningTokens, 2);
    assert.equal(usage.completionTokens, 5);
  }
});

test("weighted balancing: 3:1 weights give 75% ± 5% over 500 requests", async (t) => {
  const { fakes, engine } = await setup(t, { deployments: [{ weight: 3 }, { weight: 1 }], engine: { random: seededRandom(7) } });
  const total = 500;
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < total) {
        next += 1;
        ok(await run(engine, body({ max_tokens: 1 })));
      }
    }),
  );
  const a = fakes[0]?.requests.length ?? 0;
  const b = fakes[1]?.requests.length ?? 0;
  assert.equal(a + b, total);
  assert.ok(Math.abs(a / total - 0.75) <= 0.05, `deployment a got ${a}/${total}`);
});

test("priority tiers: the lower tier takes all traffic; the next tier only when it is unavailable", async (t) => {
  const { fakes, engine } = await setup(t, { deployments: [{ priority: 0, weight: 1 }, { priority: 1, weight: 100 }] });
  for (let i = 0; i < 20; i++) ok(await run(engine, body({ max_tokens: 1 })));
  assert.equal(fakes[0]?.requests.length, 20);
  assert.equal(fakes[1]?.requests.length, 0);
  await fakes[0]?.stop();
  const r = await run(engine, body({ max_tokens: 2 }));
  ok(r);
  assert.equal(text(r), "alpha beta");
  assert.equal(fakes[1]?.requests.length, 1);
});

test("least-outstanding sends new requests to the idle deployment", async (t) => {
  const slowWhenAsked = { fault: (req: { body: Record<string, unknown> | null }) => ({ kind: "ok" as const, firstByteDelayMs: req.body?.user === "slow" ? 300 : 0 }) };
  const { fakes, engine } = await setup(t, { deployments: [{ fake: slowWhenAsked }, { fake: slowWhenAsked }], model: { strategy: "least-outstanding" } });

  const slow = run(engine, body({ user: "slow", max_tokens: 1 }));
  for (let i = 0; i < 4; i++) ok(await run(engine, body({ max_tokens: 1 })));
  ok(await slow);
  const counts = fakes.map((f) => f.requests.length).sort();
  assert.deepEqual(counts, [1, 4], "the busy deployment got no quick request");

  // Ten at once: outstanding counts even them out exactly.
  const before = fakes.map((f) => f.requests.length);
  await Promise.all(Array.from({ length: 10 }, () => run(engine, body({ user: "slow", max_tokens: 1 })).then(ok)));
  assert.deepEqual(
    fakes.map((f, i) => f.requests.length - (before[i] ?? 0)),
    [5, 5],
  );
});

test("retry then failover: a 500, a refused connection, a reset or a drop before any event goes to the next deployment", async (t) => {
  const { fakes, pool, engine } = await setup(t, { deployments: [{ priority: 0 }, { priority: 1 }] });
  const [a, b] = fakes as [FakeUpstream, FakeUpstream];

  a.fault = { kind: "status", status: 500 };
  let r = await run(engine, body({ max_tokens: 3 }));
  ok(r);
  assert.equal(text(r), "alpha beta gamma");
  assert.equal(usageOf(r).completionTokens, 3, "billed once: the served attempt");
  assert.equal(a.requests.length, 1);
  assert.equal(b.requests.length, 1);
  assert.equal(pool.snapshot().find((s) => s.provider === "prov-a")?.failures, 1);

  a.fault = { kind: "reset" };
  r = await run(engine, body({ stream: true, max_tokens: 2 }));
  ok(r);
  assert.equal(text(r), "alpha beta");

  a.fault = { kind: "drop", afterChunks: 0 };
  r = await run(engine, body({ stream: true, max_tokens: 2 }));
  ok(r);
  assert.equal(text(r), "alpha beta", "dropped before the first event: retried");
  assert.equal(usageOf(r).completionTokens, 2);

  await a.stop();
  r = await run(engine, body({ stream: true, max_tokens: 2 }));
  ok(r);
  assert.equal(text(r), "alpha beta");
  assert.equal(b.requests.length, 4);

  // Every deployment failing: 502 naming the providers, after 1 + retries attempts.
  b.fault = { kind: "status", status: 503, body: { error: { message: `overloaded (key ${keyOf("prov-b")})`, type: "server_error" } } };
  r = await run(engine, body());
  const err = apiError(r);
  assert.equal(err.status, 502);
  assert.equal(err.code, "upstream_error");
  assert.match(err.message, /prov-a/);
  assert.match(err.message, /prov-b/);
  assert.match(err.message, /overloaded/);
  assert.ok(!err.message.includes(keyOf("prov-b")), err.message);
  assert.ok(!err.message.includes("127.0.0.1"), "no URLs in messages");
  assert.equal(r.events.length, 0, "nothing yielded before the error");
});

test("429 with Retry-After: a short one is waited out, a long one fails over or is passed on", async (t) => {
  const single = await setup(t, { deployments: [{}] });
  const [a] = single.fakes as [FakeUpstream];
  a.queue.push({ kind: "status", status: 429, headers: { "retry-after": "1" } });
  let started = performance.now();
  let r = await run(single.engine, body({ max_tokens: 1 }));
  ok(r);
  assert.ok(performance.now() - started >= 900, "waited for Retry-After");
  assert.equal(a.requests.length, 2);

  a.fault = { kind: "status", status: 429, headers: { "retry-after": "30" } };
  r = await run(single.engine, body());
  const err = apiError(r);
  assert.equal(err.status, 429);
  assert.equal(err.headers["retry-after"], "30");
  assert.equal(a.requests.length, 3, "a long Retry-After is not waited for");

  const pair = await setup(t, { deployments: [{ priority: 0 }, { priority: 1 }] });
  const [p, q] = pair.fakes as [FakeUpstream, FakeUpstream];
  p.fault = { kind: "status", status: 429, headers: { "retry-after": "30" } };
  started = performance.now();
  r = await run(pair.engine, body({ max_tokens: 1 }));
  ok(r);
  assert.ok(performance.now() - started < 500, "failed over at once");
  r = await run(pair.engine, body({ max_tokens: 1 }));
  ok(r);
  assert.equal(p.requests.length, 1, "the rate-limited deployment is left alone while it cools down");
  assert.equal(q.requests.length, 2);
});

test("circuit breaker: opens after N failures, refuses while open, recovers through one half-open probe", async (t) => {
  const { fakes, pool, engine } = await setup(t, {
    deployments: [{ priority: 0 }, { priority: 1 }],
    breaker: { failureThreshold: 2, cooldownMs: 300 },
  });
  const [a, b] = fakes as [FakeUpstream, FakeUpstream];
  const state = (): string | undefined => pool.snapshot().find((s) => s.provider === "prov-a")?.breaker;
  a.fault = { kind: "status", status: 500 };
  for (let i = 0; i < 2; i++) ok(await run(engine, body({ max_tokens: 1 })));
  assert.equal(a.requests.length, 2);
  assert.equal(state(), "open");

  for (let i = 0; i < 10; i++) ok(await run(engine, body({ max_tokens: 1 })));
  assert.equal(a.requests.length, 2, "no request reaches the deployment while its breaker is open");
  assert.equal(b.requests.length, 12);

  // Still broken after the cooldown: the probe fails and the breaker re-opens.
  await delay(320);
  assert.equal(state(), "half-open");
  ok(await run(engine, body({ max_tokens: 1 })));
  assert.equal(a.requests.length, 3);
  assert.equal(state(), "open");

  a.fault = { kind: "ok", firstByteDelayMs: 100 };
  await delay(320);
  const concurrent = await Promise.all(Array.from({ length: 3 }, () => run(engine, body({ max_tokens: 1 }))));
  concurrent.forEach(ok);
  assert.equal(a.requests.length, 4, "exactly one probe while half-open");
  assert.equal(state(), "closed");
  ok(await run(engine, body({ max_tokens: 1 })));
  assert.equal(a.requests.length, 5, "closed again: the first tier takes traffic");
});

test("every breaker open: 503 upstream_unavailable with Retry-After, nothing sent", async (t) => {
  const { fakes, engine } = await setup(t, { deployments: [{}], breaker: { failureThreshold: 1, cooldownMs: 5000 }, model: { retries: 0 } });
  const [a] = fakes as [FakeUpstream];
  a.fault = { kind: "status", status: 500 };
  assert.equal(apiError(await run(engine, body())).status, 502);
  const err = apiError(await run(engine, body()));
  assert.equal(err.status, 503);
  assert.equal(err.code, "upstream_unavailable");
  assert.equal(err.headers["retry-after"], "5");
  assert.equal(a.requests.length, 1);
});

test("timeouts: a hanging upstream is a 504 after firstByteMs per attempt; an idle stream is a usage event then 502", async (t) => {
  const { fakes, engine } = await setup(t, {
    deployments: [{ fake: { fault: { kind: "hang" } }, provider: { timeouts: { connectMs: 500, firstByteMs: 150, idleMs: 150 } } }],
    model: { retries: 1 },
  });
  const [a] = fakes as [FakeUpstream];
  const started = performance.now();
  let r = await run(engine, body({ stream: true }));
  const elapsed = performance.now() - started;
  const err = apiError(r);
  assert.equal(err.status, 504);
  assert.equal(err.code, "upstream_timeout");
  assert.match(err.message, /prov-a/);
  assert.ok(elapsed >= 290 && elapsed < 2000, `two attempts of 150 ms took ${elapsed.toFixed(0)} ms`);
  assert.equal(a.requests.length, 2);
  await waitFor(() => a.aborted === 2);

  a.fault = { kind: "ok", chunkDelayMs: 400 };
  r = await run(engine, body({ stream: true, max_tokens: 4 }));
  assert.equal(deltas(r).length, 1, "the first chunk came at once");
  const usage = usageOf(r);
  assert.equal(usage.completionTokens, 1, "estimate: deltas received");
  const idle = apiError(r);
  assert.equal(idle.status, 502);
  assert.match(idle.message, /150 ms/);
  assert.equal(a.requests.length, 3, "not retried after the first event");
});

test("upstream 400 context_length_exceeded passes through with its code and is not retried (OpenAI and vLLM shapes)", async (t) => {
  const { fakes, pool, engine } = await setup(t, { deployments: [{}, {}], model: { retries: 3 } });
  const openAi = {
    error: { message: "This model's maximum context length is 4096 tokens.", type: "invalid_request_error", param: "messages", code: "context_length_exceeded" },
  };
  const vllm = {
    object: "error",
    message: "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.",
    type: "BadRequestError",
    param: null,
    code: 400,
  };
  for (const [i, payload] of [openAi, vllm].entries()) {
    for (const f of fakes) f.fault = { kind: "status", status: 400, body: payload };
    const err = apiError(await run(engine, body({ stream: i === 1 })));
    assert.equal(err.status, 400);
    assert.equal(err.type, "invalid_request_error");
    assert.equal(err.code, "context_length_exceeded");
    assert.equal(err.param, "messages");
    assert.match(err.message, /maximum context length is 4096/);
    assert.equal(fakes.reduce((s, f) => s + f.requests.length, 0), i + 1, "not retried");
  }
  const notFound = { error: { message: "The model does not exist.", type: "invalid_request_error", param: "model", code: "model_not_found" } };
  for (const f of fakes) f.fault = { kind: "status", status: 404, body: notFound };
  const err = apiError(await run(engine, body()));
  assert.deepEqual([err.status, err.code, err.param], [404, "model_not_found", "model"]);
  assert.ok(pool.snapshot().every((s) => s.failures === 0 && s.breaker === "closed"), "the request's fault is not the deployment's");
});

test("upstream 401: a 502 that names the provider and never shows the key", async (t) => {
  const { fakes, engine } = await setup(t, { deployments: [{ fake: { apiKey: "the-right-key" } }] });
  const [a] = fakes as [FakeUpstream];
  const r = await run(engine, body());
  const err = apiError(r);
  assert.equal(err.status, 502);
  assert.match(err.message, /prov-a/);
  assert.ok(!err.message.includes(keyOf("prov-a")), err.message);
  assert.ok(!JSON.stringify(err.toBody()).includes("very-secret"));
  assert.equal(a.requests[0]?.headers.authorization, `Bearer ${keyOf("prov-a")}`, "our key went upstream");
  assert.equal(a.requests.length, 1, "a bad key is not retried on the same deployment");
});

test("client disconnect aborts the upstream request: mid-stream, before the first byte and during backoff", async (t) => {
  const { fakes, engine } = await setup(t, { deployments: [{ fake: { fault: { kind: "ok", chunkDelayMs: 100 } } }], engine: { backoffBaseMs: 5000, backoffCapMs: 5000 } });
  const [a] = fakes as [FakeUpstream];

  let controller = new AbortController();
  let r = await run(engine, body({ stream: true, max_tokens: 30 }), controller.signal, (e) => {
    if (e.type === "delta") controller.abort();
  });
  assert.equal(r.error, null, "a cancel ends the stream without an error");
  assert.equal(usageOf(r).completionTokens, deltas(r).length);
  await waitFor(() => a.aborted === 1);
  assert.equal(engine.load().active, 0);

  a.fault = { kind: "hang" };
  controller = new AbortController();
  setTimeout(() => controller.abort(), 100);
  r = await run(engine, body({ stream: true }), controller.signal);
  assert.equal(r.error, null);
  assert.deepEqual(r.events.map((e) => e.type), ["usage"]);
  await waitFor(() => a.aborted === 2);

  a.fault = { kind: "status", status: 500 };
  controller = new AbortController();
  setTimeout(() => controller.abort(), 200);
  const started = performance.now();
  r = await run(engine, body(), controller.signal);
  assert.ok(performance.now() - started < 1000, "the backoff wait ends at once");
  assert.equal(r.error, null);
  assert.deepEqual(r.events.map((e) => e.type), ["usage"]);
});

test("a drop mid-stream after the first event: usage event, then a 502, no retry", async (t) => {
  const { fakes, engine } = await setup(t, { deployments: [{ priority: 0, fake: { fault: { kind: "drop", afterChunks: 3 } } }, { priority: 1 }] });
  const r = await run(engine, body({ stream: true, max_tokens: 10 }));
  assert.equal(deltas(r).length, 3);
  const usage = usageOf(r);
  assert.equal(usage.completionTokens, 3, "no upstream usage: one token per delta");
  assert.ok(usage.promptTokens > 0, "no upstream usage: the prompt is estimated, not 0");
  assert.equal(usage.estimated, true);
  const err = apiError(r);
  assert.equal(err.status, 502);
  assert.match(err.message, /prov-a/);
  assert.equal(fakes[0]?.requests.length, 1);
  assert.equal(fakes[1]?.requests.length, 0, "no failover after the first event");
});

test("health check: an unhealthy provider's deployments are skipped while a healthy one exists", async (t) => {
  const { fakes, pool, engine } = await setup(t, { deployments: [{}, {}], engine: { random: seededRandom(3) } });
  const [a, b] = fakes as [FakeUpstream, FakeUpstream];
  a.healthy = false;
  await pool.checkHealth();
  assert.deepEqual(
    pool.snapshot().map((s) => [s.provider, s.healthy]),
    [
      ["prov-a", false],
      ["prov-b", true],
    ],
  );
  assert.equal(a.modelListRequests, 1, "GET /models with the provider key (the fake checks it)");
  for (let i = 0; i < 20; i++) ok(await run(engine, body({ max_tokens: 1 })));
  assert.equal(a.requests.length, 0);
  assert.equal(b.requests.length, 20);

  b.healthy = false;
  await pool.checkHealth();
  ok(await run(engine, body({ max_tokens: 1 })));
  assert.equal(a.requests.length + b.requests.length, 21, "all unhealthy: still served");

  a.healthy = true;
  await pool.checkHealth("prov-a");
  assert.equal(pool.snapshot().find((s) => s.provider === "prov-a")?.healthy, true);
  ok(await run(engine, body({ max_tokens: 1 })));
  assert.equal(a.requests.length, 1);
});

test("periodic health checks run on their own and never keep the process alive", async (t) => {
  const fake = await startFakeUpstream({ apiKey: keyOf("prov-a") });
  const pool = new ProviderPool([providerConfig("prov-a", fake, { healthCheckMs: 50 })], { breaker: settingDefault("breaker") });
  pool.deployment({ provider: "prov-a", model: "m" });
  t.after(async () => {
    await pool.close();
    await fake.close();
  });
  await waitFor(() => fake.modelListRequests >= 2);
  fake.healthy = false;
  await waitFor(() => pool.snapshot()[0]?.healthy === false);
});

test("load() and the model card", async (t) => {
  const { engine } = await setup(t, { deployments: [{ fake: { fault: { kind: "ok", firstByteDelayMs: 100 } } }, {}] });
  assert.equal(engine.card.id, MODEL);
  assert.equal(engine.card.ownedBy, "chatport-upstream");
  assert.equal(engine.card.contextLength, 32768);
  assert.deepEqual(engine.load(), { active: 0, waiting: 0, capacity: 128 });
  const pending = run(engine, body({ max_tokens: 1 }));
  assert.equal(engine.load().active, 1);
  ok(await pending);
  assert.equal(engine.load().active, 0);
});
