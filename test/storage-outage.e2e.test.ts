/**
 * Storage outages, for real: chatport reaches PostgreSQL and Redis through
 * TCP proxies that the test switches into a black hole (connections open,
 * no bytes) and back. While the database or Redis is unreachable requests
 * get 503 + Retry-After in OpenAI's envelope — neither a hang nor a 500 —,
 * a stream whose row cannot be written never ends as a success, and
 * /health/ready says 503 while /health (liveness) stays 200. When storage
 * comes back the replica recovers by itself, and every response a client
 * received complete has its ledger row.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { startFakeUpstream, type FakeUpstream } from "../src/upstream/fake-upstream.js";
import { createTestSchema, type TestSchema } from "./helpers/postgres.js";
import { deleteRedisPrefix, testRedisPrefix, testRedisUrl } from "./helpers/redis.js";
import { readSse } from "./helpers/sse.js";
import { startServer, type RunningServer } from "./helpers/server.js";
import { startTcpProxy, type TcpProxy } from "./helpers/tcp-proxy.js";

const staticKey = "sk-outage-static-0123456789";
const adminKey = "admin-outage-0123456789abcdef";
const fakeKey = "sk-fake-provider-outage-5";
/** No request may take longer than this, outage or not (the deadlines inside are 5–10 s). */
const HANG_BOUND_MS = 30_000;

let schema: TestSchema;
let redisPrefix: string;
let pgProxy: TcpProxy;
let redisProxy: TcpProxy;
let fake: FakeUpstream;
let server: RunningServer;
let managedKey: string;
/** Ids of every response a client received complete. */
const completed: string[] = [];

const body = { model: "fake", messages: [{ role: "user", content: "hello outage" }], max_tokens: 4 };

/** How long outage answers took, reported (not asserted) as test diagnostics. */
const took: string[] = [];

async function timed(what: string, request: Promise<Response>): Promise<Response> {
  const start = performance.now();
  const res = await request;
  took.push(`${what}: ${res.status} after ${Math.round(performance.now() - start)} ms`);
  return res;
}

function chat(key: string, extra: Record<string, unknown> = {}): Promise<Response> {
  return fetch(`${server.baseURL}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ ...body, ...extra }),
    signal: AbortSignal.timeout(HANG_BOUND_MS),
  });
}

function ready(): Promise<Response> {
  return fetch(server.baseURL.replace("/v1", "/health/ready"), { signal: AbortSignal.timeout(HANG_BOUND_MS) });
}

/** A successful non-streamed completion, remembered as complete. */
async function expectServed(key: string): Promise<void> {
  const res = await chat(key);
  assert.equal(res.status, 200, await res.clone().text());
  completed.push(((await res.json()) as { id: string }).id);
}

/** A 503 storage_unavailable with Retry-After, in OpenAI's envelope, naming what is down. */
async function expectUnavailable(res: Response, storage: "database" | "redis"): Promise<void> {
  assert.equal(res.status, 503);
  assert.ok(Number(res.headers.get("retry-after")) > 0, "Retry-After");
  const { error } = (await res.json()) as { error: { message: string; type: string; param: null; code: string } };
  assert.deepEqual(Object.keys(error).sort(), ["code", "message", "param", "type"]);
  assert.equal(error.type, "server_error");
  assert.equal(error.code, "storage_unavailable");
  assert.match(error.message, new RegExp(storage));
  assert.doesNotMatch(error.message, /127\.0\.0\.1|postgres:|redis:\/\//, "no addresses in client errors");
}

/** Polls readiness until it says 200 (the replica recovers by itself); bounded. */
async function untilReady(what: string): Promise<void> {
  const start = performance.now();
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const res = await ready();
    if (res.status === 200) {
      took.push(`${what} back: ready after ${Math.round(performance.now() - start)} ms`);
      return;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.fail("the replica did not become ready again within 60 s of storage coming back");
}

before(async () => {
  schema = await createTestSchema();
  redisPrefix = testRedisPrefix("outage");
  pgProxy = await startTcpProxy(Number(new URL(schema.url).port || 5432), new URL(schema.url).hostname);
  const redisTarget = new URL(testRedisUrl);
  redisProxy = await startTcpProxy(Number(redisTarget.port || 6379), redisTarget.hostname);
  fake = await startFakeUpstream({ apiKey: fakeKey, models: ["fake-model"] });

  const databaseUrl = new URL(schema.url);
  databaseUrl.host = pgProxy.address;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "chatport-outage-"));
  const configFile = path.join(dir, "config.json");
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      providers: [{ id: "f", baseUrl: fake.url, apiKeyEnv: "FAKE_KEY", healthCheckMs: 0 }],
      upstreamModels: [{ id: "fake", deployments: [{ provider: "f", model: "fake-model" }] }],
    }),
  );
  server = await startServer({
    models: {},
    args: ["--config", configFile],
    apiKey: staticKey,
    adminKey,
    env: {
      FAKE_KEY: fakeKey,
      DATABASE_URL: databaseUrl.toString(),
      REDIS_URL: `redis://${redisProxy.address}`,
      CHATPORT_REDIS_PREFIX: redisPrefix,
    },
  });
  const res = await fetch(server.baseURL.replace("/v1", "/admin/keys"), {
    method: "POST",
    headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "outage", rpm: 1000 }),
  });
  assert.equal(res.status, 201);
  managedKey = ((await res.json()) as { secret: string }).secret;
});

after(async () => {
  pgProxy?.restore();
  redisProxy?.restore();
  await server?.stop();
  await fake?.close();
  await Promise.all([pgProxy?.close(), redisProxy?.close()]);
  await deleteRedisPrefix(redisPrefix);
  await schema?.drop();
});

describe("storage outages", () => {
  test("with storage up: served, ready, live", async () => {
    await expectServed(managedKey);
    await expectServed(staticKey);
    const res = await ready();
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "ready", checks: { database: "ok", redis: "ok" } });
  });

  test("PostgreSQL black-holed: 503 + Retry-After (not a hang, not a 500); readiness 503, liveness 200; then recovery", async () => {
    pgProxy.blackhole();
    try {
      // The static key needs no key lookup: this is the ledger write's deadline.
      await expectUnavailable(await timed("database down, static key (ledger deadline)", chat(staticKey)), "database");
      // A managed key is looked up in the database (after its 0.5 s cache).
      await new Promise((r) => setTimeout(r, 600));
      await expectUnavailable(await timed("database down, managed key (key lookup)", chat(managedKey)), "database");

      // A stream whose row cannot be written ends in an error event, never [DONE].
      const stream = await chat(staticKey, { stream: true });
      assert.equal(stream.status, 200);
      const { payloads } = await readSse(stream);
      assert.notEqual(payloads.at(-1), "[DONE]");
      const last = JSON.parse(payloads.at(-1) as string) as { error?: { code: string } };
      assert.equal(last.error?.code, "storage_unavailable");

      const probe = await timed("database down, readiness", ready());
      assert.equal(probe.status, 503);
      assert.ok(Number(probe.headers.get("retry-after")) > 0);
      assert.equal(((await probe.json()) as { error: { code: string } }).error.code, "storage_unavailable");
      const live = await fetch(server.baseURL.replace("/v1", "/health"), { signal: AbortSignal.timeout(HANG_BOUND_MS) });
      assert.equal(live.status, 200, "liveness does not depend on storage");
    } finally {
      pgProxy.restore();
    }
    await untilReady("database");
    await expectServed(managedKey);
    await expectServed(staticKey);
  });

  test("Redis black-holed: 503 + Retry-After for keys with limits; readiness 503; then recovery", async () => {
    redisProxy.blackhole();
    try {
      await expectUnavailable(await timed("redis down, key with an RPM limit", chat(managedKey)), "redis");
      await expectUnavailable(await timed("redis down, the next request", chat(managedKey)), "redis");
      const probe = await timed("redis down, readiness", ready());
      assert.equal(probe.status, 503);
      assert.match(((await probe.json()) as { error: { message: string } }).error.message, /redis/);
    } finally {
      redisProxy.restore();
    }
    await untilReady("redis");
    await expectServed(managedKey);
  });

  test("every response a client received complete has its ledger row", async (t) => {
    for (const line of took) t.diagnostic(line);
    assert.ok(completed.length >= 5);
    const rows = await schema.query(`select id, status from ${schema.name}.ledger`);
    const ids = new Map(rows.map((r) => [String(r.id), String(r.status)]));
    for (const id of completed) assert.equal(ids.get(id), "ok", `row of ${id}`);
  });
});
