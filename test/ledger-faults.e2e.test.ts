/**
 * What the ledger says about requests that failed: a real chatport in front
 * of a fake upstream the test breaks on purpose (a stream that stalls, is
 * reset, carries an in-band error or a data event that is not JSON, or never
 * sends its usage chunk), and early failures that share a client's
 * x-request-id. Each request's ledger rows are read from the SQLite file.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import SqliteDatabase from "better-sqlite3";
import { fakePromptTokens, startFakeUpstream, type FakeFault, type FakeUpstream } from "../src/upstream/fake-upstream.js";
import { tinyModelPath } from "./helpers/models.js";
import { readSse } from "./helpers/sse.js";
import { postJson, startServer, tempDbPath, type RunningServer } from "./helpers/server.js";

const apiKey = "sk-ledger-faults-static-0123";
const adminKey = "admin-ledger-faults-0123456789";
const fakeKey = "sk-fake-provider-ledger-4";

let fake: FakeUpstream;
let gateway: RunningServer;
let dbPath: string;

interface LedgerRecord {
  id: string;
  request_id: string;
  model: string;
  prompt_tokens: number;
  completion_tokens: number;
  status: string;
  http_status: number;
  usage_estimated: number;
}

before(async () => {
  fake = await startFakeUpstream({ apiKey: fakeKey, models: ["fake-model"] });
  dbPath = tempDbPath();
  const configFile = path.join(path.dirname(dbPath), "config.json");
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      providers: [
        // A short idle timeout: a stalled stream is given up after 1.5 s of silence.
        { id: "f", baseUrl: fake.url, apiKeyEnv: "FAKE_KEY", healthCheckMs: 0, timeouts: { connectMs: 1000, firstByteMs: 5000, idleMs: 1500 } },
      ],
      // The faults are on purpose: the breaker must not take the deployment out.
      breaker: { failureThreshold: 1000, cooldownMs: 1000 },
      upstreamModels: [{ id: "fake", deployments: [{ provider: "f", model: "fake-model" }], retries: 0 }],
    }),
  );
  gateway = await startServer({
    // A local model with a small context, for prompts refused as too long.
    models: { tiny: await tinyModelPath() },
    args: ["--config", configFile, "--db-path", dbPath, "--threads", "1", "--parallel", "1", "--ctx", "64"],
    apiKey,
    adminKey,
    env: { FAKE_KEY: fakeKey },
  });
});

after(async () => {
  await gateway?.stop();
  await fake?.close();
});

/** Every ledger row carrying this x-request-id. */
function rowsOf(requestId: string): LedgerRecord[] {
  const db = new SqliteDatabase(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare("select * from ledger where request_id = ? order by created_at").all(requestId) as LedgerRecord[];
  } finally {
    db.close();
  }
}

const messages = [{ role: "user", content: "one two three four five six" }];

/** A streamed request to the fake model that meets `fault` upstream; its SSE payloads and ledger row. */
async function streamWith(fault: FakeFault, includeUsage = true): Promise<{ status: number; payloads: string[]; row: LedgerRecord }> {
  fake.queue.push(fault);
  const requestId = `ledger-${randomUUID()}`;
  const res = await postJson(
    gateway.baseURL,
    "/chat/completions",
    { model: "fake", messages, max_tokens: 8, stream: true, ...(includeUsage ? { stream_options: { include_usage: true } } : {}) },
    { authorization: `Bearer ${apiKey}`, "x-request-id": requestId },
  );
  const { payloads } = await readSse(res);
  const rows = rowsOf(requestId);
  assert.equal(rows.length, 1, "one ledger row");
  return { status: res.status, payloads, row: rows[0] as LedgerRecord };
}

/** The error event a failed stream ends with (and no [DONE]). */
function assertEndsInError(payloads: string[]): { message: string; type: string } {
  assert.notEqual(payloads.at(-1), "[DONE]", "a failed stream does not end with [DONE]");
  const last = JSON.parse(payloads.at(-1) as string) as { error?: { message: string; type: string } };
  assert.ok(last.error !== undefined, `the last event is an error: ${payloads.at(-1)}`);
  return last.error;
}

/** Content deltas the client received. */
function contentChunks(payloads: string[]): number {
  return payloads.filter((p) => p !== "[DONE]" && ((JSON.parse(p) as { choices?: Array<{ delta?: { content?: string } }> }).choices?.[0]?.delta?.content ?? "") !== "").length;
}

describe("a stream cut by a failure is booked as an error with the tokens generated", () => {
  const prompt = fakePromptTokens({ messages });

  test("a complete stream: ok, the upstream's own usage, not estimated", async () => {
    const { status, payloads, row } = await streamWith({ kind: "ok" });
    assert.equal(status, 200);
    assert.equal(payloads.at(-1), "[DONE]");
    assert.equal(row.status, "ok");
    assert.equal(row.http_status, 200);
    assert.equal(row.prompt_tokens, prompt);
    assert.equal(row.completion_tokens, 8);
    assert.equal(row.usage_estimated, 0);
  });

  const cut: Array<[string, FakeFault]> = [
    ["reset after 3 chunks", { kind: "drop", afterChunks: 3 }],
    ["stalled after 3 chunks", { kind: "stall", afterChunks: 3 }],
    ["an in-band error after 3 chunks", { kind: "error-event", afterChunks: 3 }],
  ];
  for (const [name, fault] of cut) {
    for (const includeUsage of [true, false]) {
      test(`${name} (include_usage ${includeUsage}): the client gets an error event, the row says error with 3 tokens, usage estimated`, async () => {
        const { status, payloads, row } = await streamWith(fault, includeUsage);
        assert.equal(status, 200, "the stream had started");
        assertEndsInError(payloads);
        assert.equal(contentChunks(payloads), 3);
        assert.equal(row.status, "error");
        assert.equal(row.completion_tokens, 3, "the tokens actually generated");
        assert.ok(row.prompt_tokens > 0, "the prompt is estimated, not 0");
        assert.equal(row.usage_estimated, 1);
      });
    }
  }

  test("a data event that is not JSON is an error, not a silently dropped chunk", async () => {
    const { payloads, row } = await streamWith({ kind: "garbage", afterChunks: 2 });
    const error = assertEndsInError(payloads);
    assert.match(error.message, /not JSON|malformed|invalid/i);
    assert.equal(contentChunks(payloads), 2, "nothing after the bad event reaches the client");
    assert.equal(row.status, "error");
    assert.equal(row.completion_tokens, 2);
  });

  test("a complete stream without a usage chunk: ok, prompt tokens estimated, the row says so", async () => {
    const { payloads, row } = await streamWith({ kind: "noUsage" });
    assert.equal(payloads.at(-1), "[DONE]");
    const usage = (JSON.parse(payloads.at(-2) as string) as { usage?: { prompt_tokens: number } }).usage;
    assert.ok(usage !== undefined && usage.prompt_tokens > 0, "the client's usage chunk carries the estimate");
    assert.equal(row.status, "ok");
    assert.equal(row.completion_tokens, 8);
    assert.equal(row.prompt_tokens, usage.prompt_tokens);
    assert.ok(row.prompt_tokens >= prompt, `a conservative estimate: ${row.prompt_tokens} >= the upstream's own ${prompt}`);
    assert.equal(row.usage_estimated, 1);
  });

  test("/admin/usage counts the requests whose usage is estimated", async () => {
    const res = await fetch(gateway.baseURL.replace("/v1", "/admin/usage?model=fake"), { headers: { authorization: `Bearer ${adminKey}` } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { data: Array<{ requests: number; estimated_requests: number }> };
    const db = new SqliteDatabase(dbPath, { readonly: true });
    const expected = db.prepare("select count(*) as n from ledger where model = 'fake' and usage_estimated = 1").get() as { n: number };
    db.close();
    assert.ok(expected.n > 0);
    assert.equal(body.data[0]?.estimated_requests, expected.n);
  });
});

describe("a client's x-request-id is a correlation id, not the ledger's key", () => {
  const cases: Array<[string, () => Record<string, unknown>, number, string]> = [
    [
      "an upstream 502",
      () => {
        fake.queue.push({ kind: "status", status: 500 });
        return { model: "fake", messages, max_tokens: 4 };
      },
      502,
      "upstream_error",
    ],
    [
      "a prompt too long for a local model",
      () => ({ model: "tiny", messages: [{ role: "user", content: Array.from({ length: 300 }, (_, i) => `w${i * 7919}`).join(" ") }], max_tokens: 4 }),
      400,
      "context_length_exceeded",
    ],
  ];
  for (const [name, request, status, code] of cases) {
    test(`two requests failing early (${name}) with the same x-request-id both get their status and a row each`, async () => {
      const requestId = `shared-${randomUUID()}`;
      for (let i = 0; i < 2; i++) {
        const res = await postJson(gateway.baseURL, "/chat/completions", request(), { authorization: `Bearer ${apiKey}`, "x-request-id": requestId });
        const body = (await res.json()) as { error?: { code: string | null } };
        assert.equal(res.status, status, `request ${i + 1}: ${JSON.stringify(body)}`);
        assert.equal(body.error?.code, code);
        assert.equal(res.headers.get("x-request-id"), requestId, "the client's id is echoed");
      }
      const rows = rowsOf(requestId);
      assert.equal(rows.length, 2, "a row for each request");
      assert.notEqual(rows[0]?.id, rows[1]?.id);
      for (const row of rows) {
        assert.equal(row.status, "error");
        assert.equal(row.http_status, status);
        assert.ok(!row.id.includes(requestId), "the row's key is made by the server");
      }
    });
  }
});
