/**
 * The one dispatch path, in process (Fastify inject): the real server, the
 * real UpstreamEngine and Gatekeeper, SQLite and in-process counters, a fake
 * upstream on 127.0.0.1. A model that refuses the prompt as too long hands
 * the request to its fallback, which is admitted against its own prices, and
 * the request is still one request (one row, one request of the window).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import pino from "pino";
import { Gatekeeper } from "../src/gateway/gatekeeper.js";
import { GatewayMetrics } from "../src/gateway/metrics.js";
import { ModelRegistry } from "../src/gateway/model-registry.js";
import { MemoryCounters } from "../src/limits/memory-counters.js";
import { buildServer } from "../src/server/app.js";
import { settingDefault } from "../src/settings.js";
import { openStore } from "../src/store/open-store.js";
import type { Store } from "../src/store/types.js";
import { startFakeUpstream, type FakeUpstream } from "../src/upstream/fake-upstream.js";
import { ProviderPool } from "../src/upstream/provider-pool.js";
import { UpstreamEngine } from "../src/upstream/upstream-engine.js";
import { tempDbPath } from "./helpers/server.js";

const upstreamKey = "sk-dispatch-upstream-key";
let fake: FakeUpstream;
let pool: ProviderPool;
let store: Store;
let counters: MemoryCounters;
let app: FastifyInstance;

before(async () => {
  fake = await startFakeUpstream({ apiKey: upstreamKey, models: ["short-model", "long-model"] });
  // The short model refuses every prompt as too long, at generation (as vLLM does), after its prepare accepted it.
  fake.fault = (req) =>
    req.body?.model === "short-model"
      ? {
          kind: "status",
          status: 400,
          body: { error: { message: "This model's maximum context length is 16 tokens.", type: "invalid_request_error", param: "messages", code: "context_length_exceeded" } },
        }
      : { kind: "ok" };
  pool = new ProviderPool(
    [{ id: "fake", baseUrl: fake.url, apiKey: upstreamKey, timeouts: { connectMs: 1000, firstByteMs: 3000, idleMs: 3000 }, maxConcurrent: 16, headers: {}, healthCheckMs: 0 }],
    { breaker: settingDefault("breaker") },
  );
  const upstream = (id: string, model: string): UpstreamEngine =>
    new UpstreamEngine({ id, deployments: [{ provider: "fake", model, weight: 1, priority: 0 }], strategy: "weighted", retries: 0, contextLength: 32768, acceptsMedia: false }, pool);
  const registry = new ModelRegistry();
  registry.add(upstream("short", "short-model"));
  registry.add(upstream("priced", "long-model"), { input: 1000, output: 1000 });
  registry.setFallbacks("short", ["priced"]);

  store = await openStore({ sqlitePath: tempDbPath(), sqliteSync: settingDefault("sqliteSync") });
  counters = new MemoryCounters();
  const gatekeeper = new Gatekeeper({ keys: store.keys, ledger: store.ledger, counters, staticKey: null, adminKey: null });
  app = buildServer({
    registry,
    metrics: new GatewayMetrics(),
    logger: pino({ level: "silent" }),
    store,
    counters,
    gatekeeper,
    adminKey: null,
    bodyLimit: 1 << 20,
    corsOrigins: [],
    clientTimeoutMs: 10_000,
    responseRetentionHours: 1,
    responseMaxBytes: 1 << 20,
    deployments: () => pool.snapshot(),
  });
  await app.ready();
});

after(async () => {
  await app?.close();
  await pool?.close();
  await counters?.close();
  await store?.close();
  await fake?.close();
});

const chat = (secret: string, model: string) =>
  app.inject({
    method: "POST",
    url: "/v1/chat/completions",
    headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
    payload: { model, messages: [{ role: "user", content: "a prompt the short model will not take" }], max_tokens: 3 },
  });

async function rowsOf(keyId: string): Promise<Array<{ model: string; requests: number; cost: number }>> {
  return (await store.ledger.usage({ keyId, groupBy: "model" })).map((r) => ({ model: String(r.group), requests: r.requests, cost: r.cost }));
}

describe("one dispatch path (in process)", () => {
  test("a fallback is admitted against its own prices: a budget the fallback's prompt exceeds refuses it", async () => {
    // "short" is free, "priced" charges $1000 per million tokens: its prompt alone is over this budget.
    const { record, secret } = await store.keys.create({ name: "tiny-budget", budget: { unit: "usd", amount: 0.000001, period: "total" } });
    const res = await chat(secret, "short");
    assert.equal(res.statusCode, 429, res.body);
    const body = res.json<{ error: { code: string; type: string } }>();
    assert.equal(body.error.code, "insufficient_quota");
    const rows = await rowsOf(record.id);
    assert.equal(rows.reduce((sum, r) => sum + r.requests, 0), 1, "one ledger row for the request");
  });

  test("a request served by a fallback is one request: one row, at the fallback's prices, one request of the window", async () => {
    const { record, secret } = await store.keys.create({ name: "two-rpm", rpm: 2, budget: { unit: "usd", amount: 100, period: "total" } });
    for (let i = 0; i < 2; i++) {
      const res = await chat(secret, "short");
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json<{ model: string }>().model, "priced");
      assert.equal(res.headers["x-ratelimit-remaining-requests"], String(1 - i));
    }
    const rows = await rowsOf(record.id);
    assert.deepEqual(rows.map((r) => [r.model, r.requests]), [["priced", 2]]);
    assert.ok(rows[0]!.cost > 0, "metered at the fallback's prices");
    const third = await chat(secret, "short");
    assert.equal(third.statusCode, 429);
  });

  test("the Responses surface takes the same path: fallback, admission, one row, streamed through the same sink", async () => {
    const { record, secret } = await store.keys.create({ name: "responses", budget: { unit: "usd", amount: 100, period: "total" } });
    const post = (stream: boolean) =>
      app.inject({
        method: "POST",
        url: "/v1/responses",
        headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
        payload: { model: "short", input: "a prompt the short model will not take", max_output_tokens: 3, store: false, stream },
      });
    const res = await post(false);
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json<{ model: string; object: string; output_text?: string; usage: { output_tokens: number } }>();
    assert.equal(body.object, "response");
    assert.equal(body.model, "priced");
    assert.equal(body.usage.output_tokens, 3);
    const streamed = await post(true);
    assert.equal(streamed.statusCode, 200);
    assert.match(String(streamed.headers["content-type"]), /^text\/event-stream/);
    const types = [...streamed.body.matchAll(/^event: (\S+)$/gm)].map((m) => m[1]);
    assert.equal(types[0], "response.created");
    assert.equal(types.at(-1), "response.completed");
    const rows = await rowsOf(record.id);
    assert.deepEqual(rows.map((r) => [r.model, r.requests]), [["priced", 2]]);
  });
});
