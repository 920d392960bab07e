/**
 * What clients and the network throw at a server: slowloris headers and
 * bodies, a reader that stops reading, a thousand aborts, a burst of ten
 * times capacity, oversized headers, CORS, SIGTERM with streams in flight,
 * and kill -9 followed by a restart. Every test prints its figures.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import { startFakeUpstream, type FakeUpstream } from "../src/upstream/fake-upstream.js";
import { openStore } from "../src/store/open-store.js";
import { settingDefault } from "../src/settings.js";
import { tinyModelPath } from "./helpers/models.js";
import { postJson, startServer, tempDbPath, type RunningServer } from "./helpers/server.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const origin = (s: RunningServer): URL => new URL(s.baseURL);

interface Health {
  inflight: number;
  connections: number;
  models: Array<{ id: string; active: number; waiting: number }>;
}
const health = async (s: RunningServer): Promise<Health> => (await (await fetch(s.baseURL.replace("/v1", "/health"))).json()) as Health;

function rssMB(pid: number | undefined): number {
  return Number(execFileSync("ps", ["-o", "rss=", "-p", String(pid)]).toString().trim()) / 1024;
}

/** Opens a raw socket and resolves how long the server took to close it (or rejects after `limitMs`). */
function timeUntilClosed(socket: net.Socket, limitMs: number): Promise<number> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server kept the socket open for ${limitMs} ms`)), limitMs);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(Date.now() - start);
    });
    socket.on("error", () => undefined);
    socket.resume();
  });
}

async function until(ms: number, check: () => Promise<boolean>): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) assert.fail(`condition not met within ${ms} ms`);
    await sleep(25);
  }
  return Date.now() - start;
}

describe("idle keep-alive connections", () => {
  let idleServer: RunningServer;
  before(async () => {
    // The default keep-alive, short client timeouts; no model is needed to answer /health.
    idleServer = await startServer({ models: {}, args: ["--upstream", "none=http://127.0.0.1:9/v1#none"], env: { CHATPORT_CLIENT_TIMEOUT_MS: "1000" } });
  });
  after(async () => idleServer?.stop());

  test("an idle keep-alive connection stays open past the client timeouts: the client closes first, never the server under its next request", async () => {
    const { hostname, port } = origin(idleServer);
    const socket = net.connect(Number(port), hostname);
    socket.on("error", () => undefined);
    await new Promise((r) => socket.once("connect", r));
    let received = "";
    socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
    let closedAt: number | null = null;
    socket.on("close", () => (closedAt = Date.now()));
    const request = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n";
    const responses = (): number => received.split("HTTP/1.1 200 OK").length - 1;
    socket.write(request);
    await until(5000, async () => responses() === 1);
    // The server tells the client how long it keeps the connection (65 s), above the 4–5 s clients use themselves.
    assert.match(received, /\r\nkeep-alive: timeout=65\r\n/i);
    // Idle longer than the old 5 s keep-alive (Node closes 1 s after it) and than this server's header (1 s) and request (3 s) timeouts.
    await sleep(7500);
    assert.equal(closedAt, null, "the server closed an idle keep-alive connection");
    socket.write(request);
    await until(5000, async () => responses() === 2);
    socket.destroy();
  });
});

describe("slow and broken clients", () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer({
      models: { tiny: await tinyModelPath() },
      args: ["--threads", "1", "--parallel", "2", "--ctx", "2048", "--max-waiting", "4"],
      // Idle keep-alive sockets closed after 5 s (+ Node's 1 s): the leak checks below wait for the SDK's idle sockets to go.
      env: { CHATPORT_CLIENT_TIMEOUT_MS: "1000", CHATPORT_KEEP_ALIVE_TIMEOUT_MS: "5000", CHATPORT_LOG_LEVEL: "debug" },
    });
  });
  after(async () => server?.stop());

  test("slowloris: headers that never finish are dropped; others are served meanwhile", async () => {
    const { hostname, port } = origin(server);
    const socket = net.connect(Number(port), hostname);
    await new Promise((r) => socket.once("connect", r));
    socket.write("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n");
    const drip = setInterval(() => socket.write("X-Slow: 1\r\n"), 300);
    const closed = timeUntilClosed(socket, 8000);
    const res = await server.client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 2 });
    assert.equal(res.choices.length, 1);
    const ms = await closed.finally(() => clearInterval(drip));
    console.log(`# slowloris headers: dropped after ${ms} ms (timeout 1000 ms)`);
  });

  test("slow body: a request body that stalls is dropped", async () => {
    const { hostname, port } = origin(server);
    const socket = net.connect(Number(port), hostname);
    await new Promise((r) => socket.once("connect", r));
    socket.write("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"model\":");
    const ms = await timeUntilClosed(socket, 10_000);
    console.log(`# slowloris body: dropped after ${ms} ms (limit 3000 ms)`);
  });

  test("a client that stops reading a stream is dropped without stalling others; its sequence is freed", async () => {
    const { hostname, port } = origin(server);
    const baseline = (await health(server)).connections;
    const socket = net.connect(Number(port), hostname);
    socket.on("error", () => undefined);
    await new Promise((r) => socket.once("connect", r));
    // Full text in every chunk makes the stream quadratic: it fills the socket buffers fast.
    const body = JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "go" }], max_tokens: 1900, ignore_eos: true, stream: true, fullTextEnabled: true });
    socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    socket.pause(); // and never read
    const started = Date.now();
    await until(5000, async () => (await health(server)).connections > baseline);
    // Meanwhile another client is served.
    const other = await server.client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "me too" }], max_tokens: 4 });
    assert.equal(other.choices.length, 1);
    // The server drops the stalled socket and frees its sequence.
    await until(30_000, async () => {
      const h = await health(server);
      return h.connections <= baseline && h.models[0]?.active === 0 && h.inflight === 0;
    });
    console.log(`# stalled reader: dropped and its sequence freed ${Date.now() - started} ms after it stopped reading (timeout 1000 ms)`);
    socket.destroy();
  });

  test("1,000 aborted streams leak no sequences, sockets or memory", async () => {
    const before = rssMB(server.process.pid);
    let aborted = 0;
    const client = new OpenAI({ baseURL: server.baseURL, apiKey: "x", maxRetries: 0 });
    const worker = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++) {
        const controller = new AbortController();
        try {
          const stream = await client.chat.completions.create(
            { model: "tiny", messages: [{ role: "user", content: `abort ${i}` }], max_tokens: 200, stream: true, ignore_eos: true } as OpenAI.ChatCompletionCreateParamsStreaming,
            { signal: controller.signal },
          );
          for await (const _chunk of stream) {
            controller.abort();
          }
        } catch {
          // aborted by us
        }
        aborted++;
      }
    };
    const started = Date.now();
    await Promise.all([worker(500), worker(500)]);
    const settled = await until(10_000, async () => {
      const h = await health(server);
      return h.inflight === 0 && h.models[0]?.active === 0 && h.models[0]?.waiting === 0;
    });
    // Idle keep-alive sockets close after 5 s; then only the health check's own connection may remain.
    const socketsClosed = await until(8000, async () => (await health(server)).connections <= 2);
    const h = await health(server);
    const afterMB = rssMB(server.process.pid);
    console.log(
      `# 1,000 aborts: ${aborted} in ${Date.now() - started} ms; settled after ${settled} ms; sockets back to ${h.connections} after ${socketsClosed} ms; RSS ${before.toFixed(0)} → ${afterMB.toFixed(0)} MB`,
    );
    assert.equal(aborted, 1000);
    assert.ok(afterMB - before < 100, `RSS grew ${(afterMB - before).toFixed(0)} MB`);
  });

  test("a burst of 10× capacity: the excess gets fast 503 with Retry-After, the admitted complete, nothing hangs", async () => {
    const capacity = 2 + 4; // parallel + max-waiting
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: capacity * 10 }, async (_, i) => {
        const t0 = Date.now();
        const res = await postJson(server.baseURL, "/chat/completions", { model: "tiny", messages: [{ role: "user", content: `burst ${i}` }], max_tokens: 24, ignore_eos: true });
        const body = (await res.json()) as { choices?: unknown[] };
        return { status: res.status, ms: Date.now() - t0, retryAfter: res.headers.get("retry-after"), ok: body.choices?.length === 1 };
      }),
    );
    const served = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 503);
    const slowestRefusal = Math.max(...refused.map((r) => r.ms));
    console.log(`# burst of ${results.length}: ${served.length} served, ${refused.length} refused (slowest refusal ${slowestRefusal} ms), all settled in ${Date.now() - started} ms`);
    assert.equal(served.length + refused.length, results.length, "only 200 or 503");
    assert.ok(served.length >= capacity && served.every((r) => r.ok));
    assert.ok(refused.every((r) => Number(r.retryAfter) >= 1));
    assert.ok(slowestRefusal < 2000, "refusals are fast");
  });

  test("prompts and completions never reach the logs (debug level included)", async () => {
    const marker = "PROMPT-MARKER-7f3a";
    const res = await server.client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: `${marker} secret plans` }], max_tokens: 4 });
    const text = res.choices[0]?.message.content ?? "";
    await server.client.chat.completions.create({ model: "nope", messages: [{ role: "user", content: marker }] }).catch(() => undefined);
    const logs = server.logs.join("\n");
    assert.doesNotMatch(logs, new RegExp(marker));
    if (text.trim().length > 8) assert.ok(!logs.includes(text), "completion text is not logged");
  });

  test("oversized headers get 431; CORS is off by default", async () => {
    const res = await fetch(server.baseURL + "/models", { headers: { "x-big": "a".repeat(20_000) } });
    assert.equal(res.status, 431);
    const cors = await fetch(server.baseURL + "/models", { headers: { origin: "https://evil.example" } });
    assert.equal(cors.headers.get("access-control-allow-origin"), null);
  });
});

describe("overload in front of an upstream", () => {
  test("a burst of 10× an upstream's capacity: fast 503 for the excess, the admitted complete", async () => {
    const fake = await startFakeUpstream({ models: ["m"] });
    fake.fault = { kind: "ok", firstByteDelayMs: 300 };
    const dir = path.dirname(tempDbPath());
    const config = path.join(dir, "config.json");
    fs.writeFileSync(
      config,
      JSON.stringify({
        providers: [{ id: "small", baseUrl: fake.url, maxConcurrent: 2, healthCheckMs: 0 }],
        upstreamModels: [{ id: "m", deployments: [{ provider: "small", model: "m" }] }],
      }),
    );
    const server = await startServer({ models: {}, args: ["--config", config, "--db-path", path.join(dir, "db.sqlite")] });
    try {
      const capacity = 2 * 2; // in flight + waiting
      const results = await Promise.all(
        Array.from({ length: capacity * 10 }, async (_, i) => {
          const t0 = Date.now();
          const res = await postJson(server.baseURL, "/chat/completions", { model: "m", messages: [{ role: "user", content: `b ${i}` }], max_tokens: 2 });
          await res.arrayBuffer();
          return { status: res.status, ms: Date.now() - t0, retryAfter: res.headers.get("retry-after") };
        }),
      );
      const served = results.filter((r) => r.status === 200).length;
      const refused = results.filter((r) => r.status === 503);
      console.log(`# upstream burst of ${results.length}: ${served} served, ${refused.length} refused in ≤ ${Math.max(...refused.map((r) => r.ms))} ms`);
      assert.equal(served + refused.length, results.length);
      assert.ok(served >= capacity);
      assert.ok(refused.length > 0 && refused.every((r) => r.retryAfter !== null && r.ms < 1000));
    } finally {
      await server.stop();
      await fake.close();
    }
  });
});

describe("CORS when configured", () => {
  test("only the configured origins get CORS headers, preflight included", async () => {
    const server = await startServer({ models: { tiny: await tinyModelPath() }, args: ["--threads", "1", "--cors", "https://app.example"] });
    try {
      const pre = await fetch(server.baseURL + "/chat/completions", {
        method: "OPTIONS",
        headers: { origin: "https://app.example", "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type" },
      });
      assert.ok(pre.status === 204 || pre.status === 200);
      assert.equal(pre.headers.get("access-control-allow-origin"), "https://app.example");
      const other = await fetch(server.baseURL + "/models", { headers: { origin: "https://evil.example" } });
      assert.notEqual(other.headers.get("access-control-allow-origin"), "https://evil.example");
    } finally {
      await server.stop();
    }
  });
});

describe("shutdown and restart", () => {
  let fake: FakeUpstream;
  before(async () => {
    fake = await startFakeUpstream({ models: ["slow"] });
    fake.fault = { kind: "ok", chunkDelayMs: 20 };
  });
  after(async () => fake?.close());

  /** Starts three 40-chunk streams (≈ 0.8 s each), waits for their first chunk, and collects what each received. */
  async function streamsInFlight(server: RunningServer): Promise<Array<Promise<{ text: string; done: boolean }>>> {
    const started: Array<Promise<void>> = [];
    const streams = Array.from({ length: 3 }, (_, i) => {
      let markStarted: () => void = () => undefined;
      started.push(new Promise<void>((r) => (markStarted = r)));
      return (async () => {
        const res = await postJson(server.baseURL, "/chat/completions", { model: "slow", messages: [{ role: "user", content: `w${i} x y z` }], max_tokens: 40, stream: true });
        let text = "";
        const decoder = new TextDecoder();
        try {
          for await (const part of res.body ?? []) {
            text += decoder.decode(part as Uint8Array, { stream: true });
            markStarted();
          }
        } catch {
          // cut
        }
        markStarted();
        return { text, done: text.endsWith("data: [DONE]\n\n") };
      })();
    });
    await Promise.all(started);
    return streams;
  }

  test("SIGTERM: in-flight streams finish, new requests are refused, every row is written, exit 0", async () => {
    const dbPath = tempDbPath();
    const server = await startServer({ models: {}, args: ["--upstream", `slow=${fake.url}`, "--db-path", dbPath] });
    const streams = await streamsInFlight(server);
    const exited = new Promise<number | null>((r) => server.process.once("exit", (code) => r(code)));
    server.process.kill("SIGTERM");
    await sleep(100);
    const late = await postJson(server.baseURL, "/chat/completions", { model: "slow", messages: [{ role: "user", content: "late" }] }).then(
      (r) => r.status,
      () => "refused",
    );
    const results = await Promise.all(streams);
    const code = await exited;
    const store = await openStore({ sqlitePath: dbPath, sqliteSync: settingDefault("sqliteSync") });
    const [usage] = await store.ledger.usage({ model: "slow" });
    await store.close();
    console.log(`# SIGTERM: ${results.filter((r) => r.done).length}/3 streams completed, late request: ${late}, exit ${code}, ledger rows ${usage?.requests}`);
    assert.ok(results.every((r) => r.done), "in-flight streams ran to [DONE]");
    assert.ok(late === "refused" || late === 503, `late request got ${late}`);
    assert.equal(code, 0);
    assert.equal(usage?.requests, 3);
  });

  test("SIGTERM past the grace period: streams are cut, still metered, exit 0", async () => {
    const dbPath = tempDbPath();
    fake.fault = { kind: "ok", chunkDelayMs: 200 };
    try {
      const server = await startServer({ models: {}, args: ["--upstream", `slow=${fake.url}`, "--db-path", dbPath], env: { CHATPORT_SHUTDOWN_GRACE_MS: "300" } });
      const streams = await streamsInFlight(server);
      const exited = new Promise<number | null>((r) => server.process.once("exit", (code) => r(code)));
      server.process.kill("SIGTERM");
      const results = await Promise.all(streams);
      const code = await exited;
      const store = await openStore({ sqlitePath: dbPath, sqliteSync: settingDefault("sqliteSync") });
      const [usage] = await store.ledger.usage({ model: "slow" });
      await store.close();
      console.log(`# SIGTERM, 300 ms grace: ${results.filter((r) => !r.done).length}/3 streams cut, exit ${code}, ledger rows ${usage?.requests}`);
      assert.ok(results.every((r) => !r.done));
      assert.equal(code, 0);
      assert.equal(usage?.requests, 3, "cut streams are metered");
    } finally {
      fake.fault = { kind: "ok", chunkDelayMs: 20 };
    }
  });

  test("kill -9 and restart: keys and the ledger are intact", async () => {
    const dbPath = tempDbPath();
    const adminKey = "admin-restart-0123456789";
    const args = ["--model", `tiny=${await tinyModelPath()}`, "--threads", "1", "--db-path", dbPath, "--admin-key", adminKey];
    const first = await startServer({ models: {}, args });
    const created = (await (
      await fetch(first.baseURL.replace("/v1", "/admin/keys"), {
        method: "POST",
        headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json" },
        body: JSON.stringify({ name: "survivor" }),
      })
    ).json()) as { secret: string; id: string };
    const client = new OpenAI({ baseURL: first.baseURL, apiKey: created.secret, maxRetries: 0 });
    const res = await client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "before" }], max_tokens: 3 });
    first.process.kill("SIGKILL");
    await new Promise((r) => first.process.once("exit", r));

    const second = await startServer({ models: {}, args });
    try {
      const again = new OpenAI({ baseURL: second.baseURL, apiKey: created.secret, maxRetries: 0 });
      await again.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "after" }], max_tokens: 3 });
      const usage = (await (
        await fetch(second.baseURL.replace("/v1", `/admin/usage?key=${created.id}`), { headers: { authorization: `Bearer ${adminKey}` } })
      ).json()) as { data: Array<{ requests: number; completion_tokens: number }> };
      assert.equal(usage.data[0]?.requests, 2, "the row written before the kill is there");
      assert.ok((usage.data[0]?.completion_tokens ?? 0) >= (res.usage?.completion_tokens ?? 0));
    } finally {
      await second.stop();
    }
  });
});
