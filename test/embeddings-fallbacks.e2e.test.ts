/**
 * Embeddings fall back as chat does, with the official openai SDK's
 * `embeddings.create` against a real server process: a local embedding model
 * whose context an input overflows hands it to the next embedding model of
 * its chain (an upstream on the fake upstream), skipping a chat model in
 * between; an upstream's context-length refusal hands it to the local model;
 * any other failure, or a chain with no other embedding model the key may
 * use, is the client's error. One ledger row per request, for the model that
 * served it.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import SqliteDatabase from "better-sqlite3";
import OpenAI from "openai";
import { fakeEmbedding } from "../src/upstream/fake-embeddings.js";
import { startFakeUpstream, type FakeUpstream } from "../src/upstream/fake-upstream.js";
import { tinyEmbeddingModelPath, tinyModelPath } from "./helpers/models.js";
import { createKey, startServer, tempDbPath, type RunningServer } from "./helpers/server.js";

const adminKey = "admin-embeddings-fallbacks-0123456789";
const fakeKey = "sk-fake-embeddings-fallbacks";
/** Tokens per sequence: an embedding input may hold one less. */
const ctx = 32;
const long = Array.from({ length: 60 }, (_, i) => `word${i}`).join(" ");
const contextError = { error: { message: "This model's maximum context length is 8 tokens.", type: "invalid_request_error", param: "input", code: "context_length_exceeded" } };

let server: RunningServer;
let fake: FakeUpstream;
let dbPath: string;
let client: OpenAI;

interface LedgerRecord {
  model: string;
  status: string;
  http_status: number;
  prompt_tokens: number;
}

function ledgerRows(): LedgerRecord[] {
  const db = new SqliteDatabase(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare("select * from ledger order by created_at, rowid").all() as LedgerRecord[];
  } finally {
    db.close();
  }
}

before(async () => {
  const chat = await tinyModelPath();
  const emb = await tinyEmbeddingModelPath();
  fake = await startFakeUpstream({ apiKey: fakeKey, models: ["fake-embedder"] });
  dbPath = tempDbPath();
  const configFile = path.join(path.dirname(dbPath), "config.json");
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      models: [{ id: "chat", source: chat }],
      embeddingModels: [{ id: "emb", source: emb }],
      providers: [{ id: "fake", baseUrl: fake.url, apiKeyEnv: "FAKE_KEY", healthCheckMs: 0 }],
      upstreamModels: [
        { id: "remote-emb", deployments: [{ provider: "fake", model: "fake-embedder" }], retries: 0 },
        { id: "remote-short", deployments: [{ provider: "fake", model: "short-embedder" }], retries: 0 },
      ],
      fallbacks: { emb: ["chat", "remote-emb"], "remote-short": ["chat", "emb"] },
    }),
  );
  server = await startServer({
    models: {},
    args: ["--config", configFile, "--threads", "1", "--parallel", "1", "--ctx", String(ctx), "--db-path", dbPath],
    adminKey,
    env: { FAKE_KEY: fakeKey },
  });
  const key = await createKey(server, adminKey, { name: "fallbacks" });
  client = new OpenAI({ baseURL: server.baseURL, apiKey: key.secret, maxRetries: 0, timeout: 60_000 });
});

after(async () => {
  await server?.stop();
  await fake?.close();
});

/** The ledger rows a call adds. */
async function rowsOf(run: () => Promise<unknown>): Promise<LedgerRecord[]> {
  const before = ledgerRows().length;
  await run();
  return ledgerRows().slice(before);
}

describe("embeddings fallbacks", () => {
  test("an input that fits is served by the model asked for; nothing goes upstream", async () => {
    const before = fake.requests.length;
    const res = await client.embeddings.create({ model: "emb", input: "short text" });
    assert.equal(res.model, "emb");
    assert.equal(fake.requests.length, before);
  });

  test("an input past the local model's context falls back past the chat model to the upstream embedding model: its vectors, one row for it", async () => {
    const before = fake.requests.length;
    let res: OpenAI.CreateEmbeddingResponse | undefined;
    const rows = await rowsOf(async () => (res = await client.embeddings.create({ model: "emb", input: ["short", long] })));
    assert.ok(res);
    assert.equal(res.model, "remote-emb", "the response names the model that served it");
    assert.deepEqual(
      res.data.map((d) => d.embedding),
      [Array.from(fakeEmbedding("short")), Array.from(fakeEmbedding(long))],
    );
    const sent = fake.requests.slice(before);
    assert.deepEqual(
      sent.map((r) => [r.path, r.body?.model]),
      [["/v1/embeddings", "fake-embedder"]],
      "the chat model was skipped, not asked",
    );
    assert.deepEqual(
      rows.map((r) => [r.model, r.status, r.prompt_tokens]),
      [["remote-emb", "ok", res.usage.prompt_tokens]],
    );
  });

  test("an upstream's context-length refusal falls back to the local embedding model", async () => {
    fake.queue.push({ kind: "status", status: 400, body: contextError });
    let res: OpenAI.CreateEmbeddingResponse | undefined;
    const rows = await rowsOf(async () => (res = await client.embeddings.create({ model: "remote-short", input: "alpha beta", encoding_format: "float" })));
    assert.ok(res);
    assert.equal(res.model, "emb");
    assert.equal(res.data[0]?.embedding.length !== undefined && res.data[0].embedding.length > 0, true);
    assert.deepEqual(
      rows.map((r) => [r.model, r.status]),
      [["emb", "ok"]],
    );
  });

  test("other failures do not fall back; nor does a chain whose embedding models the key may not use", async () => {
    fake.queue.push({ kind: "status", status: 500 });
    await assert.rejects(client.embeddings.create({ model: "remote-short", input: "alpha" }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.APIError && err.status === 502, String(err));
      return true;
    });

    const narrow = await createKey(server, adminKey, { name: "no-local-emb", models: ["remote-short", "chat"] });
    const restricted = new OpenAI({ baseURL: server.baseURL, apiKey: narrow.secret, maxRetries: 0 });
    fake.queue.push({ kind: "status", status: 400, body: contextError });
    const rows = await rowsOf(() =>
      assert.rejects(restricted.embeddings.create({ model: "remote-short", input: "alpha" }), (err: unknown) => {
        assert.ok(err instanceof OpenAI.BadRequestError, String(err));
        assert.equal(err.code, "context_length_exceeded", "the last model's refusal, the chat model skipped");
        return true;
      }),
    );
    assert.deepEqual(
      rows.map((r) => [r.model, r.status, r.http_status]),
      [["remote-short", "error", 400]],
    );
  });
});
