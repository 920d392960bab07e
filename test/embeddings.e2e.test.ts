/**
 * POST /v1/embeddings end to end with the official openai SDK against a real
 * server process: local embedding models (the tiny test model with mean
 * pooling, plain and configured as Matryoshka), a chat model beside them,
 * and an upstream model on the fake upstream. Float and base64 vectors,
 * batches, token-id inputs, exact usage (the tokenizer's count), ledger
 * rows, keys and limits, the 400s, and pass-through with retries.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import OpenAI from "openai";
import type { LlamaModel } from "node-llama-cpp";
import { base64Float32, unitVector } from "../src/protocol/embeddings-response.js";
import { openStore } from "../src/store/open-store.js";
import { settingDefault } from "../src/settings.js";
import type { Store, UsageTotals } from "../src/store/types.js";
import { fakeEmbedding, fakeEmbeddingTokens } from "../src/upstream/fake-embeddings.js";
import { startFakeUpstream, type FakeUpstream } from "../src/upstream/fake-upstream.js";
import { tinyEmbeddingModelPath, tinyModelPath } from "./helpers/models.js";
import { createKey, postJson, startServer, tempDbPath, type RunningServer } from "./helpers/server.js";
import { parseMetrics, sum } from "./helpers/prometheus.js";
import { loadVocab } from "./helpers/tokenizer.js";

const adminKey = "admin-embeddings-tests-0123456789";
const fakeKey = "sk-fake-embeddings-provider-1";
/** Tokens per sequence: an embedding input may hold one less. */
const ctx = 64;

let server: RunningServer;
let fake: FakeUpstream;
let store: Store;
let client: OpenAI;
let vocab: LlamaModel;
let dbFile: string;

before(async () => {
  const chat = await tinyModelPath();
  const emb = await tinyEmbeddingModelPath();
  vocab = await loadVocab(emb);
  fake = await startFakeUpstream({ apiKey: fakeKey, models: ["fake-embedder"] });
  const dbPath = tempDbPath();
  dbFile = dbPath;
  const configFile = path.join(path.dirname(dbPath), "config.json");
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      models: [{ id: "chat", source: chat }],
      embeddingModels: [
        { id: "emb", source: emb, prices: { input: 1, output: 0 } },
        { id: "emb-m", source: emb, matryoshka: true },
      ],
      providers: [{ id: "fake", baseUrl: fake.url, apiKeyEnv: "FAKE_KEY", healthCheckMs: 0 }],
      upstreamModels: [{ id: "remote-emb", deployments: [{ provider: "fake", model: "fake-embedder" }], retries: 2 }],
    }),
  );
  server = await startServer({
    models: {},
    args: ["--config", configFile, "--threads", "1", "--parallel", "2", "--ctx", String(ctx), "--db-path", dbPath],
    adminKey,
    env: { FAKE_KEY: fakeKey },
  });
  store = await openStore({ sqlitePath: dbPath, sqliteSync: settingDefault("sqliteSync") });
  const key = await createKey(server, adminKey, { name: "embeddings" });
  client = new OpenAI({ baseURL: server.baseURL, apiKey: key.secret, maxRetries: 0, timeout: 60_000 });
});

after(async () => {
  await server?.stop();
  await store?.close();
  await fake?.close();
});

const norm = (v: ArrayLike<number>): number => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));
const tokensOf = (text: string): number => vocab.tokenize(text, false).length;

/** The embeddings request count, chat-completion count and prompt tokens /metrics reports for `model`. */
async function metricsOf(model: string): Promise<{ requests: number; chatRequests: number; promptTokens: number }> {
  const { samples } = parseMetrics(await (await fetch(server.baseURL.replace("/v1", "/metrics"))).text());
  return {
    requests: sum(samples, "chatport_requests_total", { api: "embeddings", model, status: "ok" }),
    chatRequests: sum(samples, "chatport_chat_requests_total", { model }),
    promptTokens: sum(samples, "chatport_prompt_tokens_total", { model }),
  };
}

async function totals(model: string): Promise<UsageTotals> {
  const [row] = await store.ledger.usage({ model });
  return row ?? { requests: 0, promptTokens: 0, cachedTokens: 0, completionTokens: 0, reasoningTokens: 0, totalTokens: 0, cost: 0, estimatedRequests: 0 };
}

/** Calls `fn` and checks the SDK error it must throw: its status, param and code. */
async function refused(fn: () => Promise<unknown>, status: number, param: string | null, code?: string): Promise<void> {
  await assert.rejects(fn, (err: unknown) => {
    assert.ok(err instanceof OpenAI.APIError, String(err));
    assert.equal(err.status, status, err.message);
    if (param !== null) assert.equal(err.param, param, err.message);
    if (code !== undefined) assert.equal(err.code, code, err.message);
    return true;
  });
}

describe("local embedding model", () => {
  test("float and base64 carry the same float32 unit vector; the SDK's default (base64, decoded) too", async () => {
    const input = "The quick brown fox";
    const float = await client.embeddings.create({ model: "emb", input, encoding_format: "float" });
    assert.equal(float.object, "list");
    assert.equal(float.model, "emb");
    assert.equal(float.data.length, 1);
    const [item] = float.data;
    assert.equal(item?.object, "embedding");
    assert.equal(item?.index, 0);
    const vector = item?.embedding ?? [];
    assert.equal(vector.length, 64);
    assert.ok(Math.abs(norm(vector) - 1) < 1e-5, `norm ${norm(vector)}`);
    assert.equal(float.usage.prompt_tokens, tokensOf(input));
    assert.equal(float.usage.total_tokens, float.usage.prompt_tokens);

    // Asked explicitly, the SDK hands base64 back as it came: little-endian float32.
    const base64 = await client.embeddings.create({ model: "emb", input, encoding_format: "base64" });
    const encoded = base64.data[0]?.embedding as unknown as string;
    assert.equal(typeof encoded, "string");
    // JSON floats are written short; each reads back as exactly the float32 base64 carries.
    assert.deepEqual(Array.from(base64Float32(encoded) ?? []), vector.map((x) => Math.fround(x)));

    const sdkDefault = await client.embeddings.create({ model: "emb", input });
    assert.deepEqual(sdkDefault.data[0]?.embedding, vector.map((x) => Math.fround(x)));
  });

  test("a batch: one vector per input in index order, the same text the same vector; usage exact; one ledger row with no completion tokens", async () => {
    const inputs = ["alpha beta gamma", "delta", "alpha beta gamma", "epsilon zeta eta theta"];
    const before = await totals("emb");
    const metricsBefore = await metricsOf("emb");
    const res = await client.embeddings.create({ model: "emb", input: inputs, encoding_format: "float" });
    assert.deepEqual(res.data.map((d) => d.index), [0, 1, 2, 3]);
    for (const d of res.data) assert.ok(Math.abs(norm(d.embedding) - 1) < 1e-5);
    assert.deepEqual(res.data[0]?.embedding, res.data[2]?.embedding);
    assert.notDeepEqual(res.data[0]?.embedding, res.data[1]?.embedding);
    // Each vector is the one that input gets alone.
    const alone = await client.embeddings.create({ model: "emb", input: "delta", encoding_format: "float" });
    assert.deepEqual(res.data[1]?.embedding, alone.data[0]?.embedding);
    const expected = inputs.reduce((s, t) => s + tokensOf(t), 0);
    assert.equal(res.usage.prompt_tokens, expected);

    const after = await totals("emb");
    assert.equal(after.requests - before.requests, 2);
    assert.equal(after.promptTokens - before.promptTokens, expected + tokensOf("delta"));
    assert.equal(after.completionTokens - before.completionTokens, 0);
    assert.ok(Math.abs(after.cost - before.cost - (expected + tokensOf("delta")) / 1e6) < 1e-12, "priced per input token");
    assert.equal(after.estimatedRequests - before.estimatedRequests, 0);
    const metricsAfter = await metricsOf("emb");
    assert.equal(metricsAfter.requests - metricsBefore.requests, 2);
    assert.equal(metricsAfter.chatRequests - metricsBefore.chatRequests, 0, "embeddings are not chat completions");
    assert.equal(metricsAfter.promptTokens - metricsBefore.promptTokens, expected + tokensOf("delta"));
  });

  test("token ids: an array of ids, and an array of arrays, embed as the text they tokenize from", async () => {
    const texts = ["hello world", "another sentence here"];
    const ids = texts.map((t) => vocab.tokenize(t, false).map(Number));
    const fromText = await client.embeddings.create({ model: "emb", input: texts, encoding_format: "float" });
    const single = await client.embeddings.create({ model: "emb", input: ids[0] ?? [], encoding_format: "float" });
    assert.deepEqual(single.data[0]?.embedding, fromText.data[0]?.embedding);
    assert.equal(single.usage.prompt_tokens, ids[0]?.length);
    const several = await client.embeddings.create({ model: "emb", input: ids, encoding_format: "float" });
    assert.deepEqual(several.data.map((d) => d.embedding), fromText.data.map((d) => d.embedding));
    assert.equal(several.usage.prompt_tokens, fromText.usage.prompt_tokens);
  });

  test("concurrent requests share the contexts' queue and each gets its own vectors", async () => {
    const texts = Array.from({ length: 8 }, (_, i) => `request number ${i} with some words`);
    const alone = await client.embeddings.create({ model: "emb", input: texts, encoding_format: "float" });
    const together = await Promise.all(texts.map((input) => client.embeddings.create({ model: "emb", input, encoding_format: "float" })));
    together.forEach((res, i) => assert.deepEqual(res.data[0]?.embedding, alone.data[i]?.embedding, `request ${i}`));
  });

  test("dimensions: a Matryoshka-configured model truncates, then normalises; others refuse it", async () => {
    const full = await client.embeddings.create({ model: "emb-m", input: "matryoshka doll", encoding_format: "float" });
    const short = await client.embeddings.create({ model: "emb-m", input: "matryoshka doll", encoding_format: "float", dimensions: 16 });
    const vector = short.data[0]?.embedding ?? [];
    assert.equal(vector.length, 16);
    const expected = Array.from(unitVector((full.data[0]?.embedding ?? []).slice(0, 16)));
    vector.forEach((x, i) => assert.ok(Math.abs(x - (expected[i] ?? 0)) < 1e-6));
    await refused(() => client.embeddings.create({ model: "emb-m", input: "x", dimensions: 65 }), 400, "dimensions", "invalid_value");
    await refused(() => client.embeddings.create({ model: "emb", input: "x", dimensions: 16 }), 400, "dimensions", "unsupported_parameter");
  });

  test("bad input is a 400 naming the field", async () => {
    const bad: Array<[unknown, string]> = [
      [[], "input"],
      ["", "input"],
      [["ok", ""], "input[1]"],
      [[[1, 2], []], "input[1]"],
      [["ok", [1, 2]], "input[1]"],
      [[1, -2], "input[1]"],
      [[[1], [2, 1.5]], "input[1][1]"],
      [{ text: "no" }, "input"],
    ];
    for (const [input, param] of bad) {
      const res = await postJson(server.baseURL, "/embeddings", { model: "emb", input }, { authorization: `Bearer ${client.apiKey}` });
      const body = (await res.json()) as { error: { param: string | null; type: string } };
      assert.equal(res.status, 400, JSON.stringify(input));
      assert.equal(body.error.type, "invalid_request_error");
      assert.equal(body.error.param, param, JSON.stringify(input));
    }
    await refused(() => client.embeddings.create({ model: "emb", input: [[1], [999_999]] }), 400, "input[1]", "invalid_value");
    await refused(() => client.embeddings.create({ model: "emb", input: "x", encoding_format: "int8" as "float" }), 400, "encoding_format");
  });

  test("an input longer than the model's limit is a 400 naming it (the limit is per input, not per request)", async () => {
    const long = Array.from({ length: 200 }, (_, i) => `w${i}`).join(" ");
    assert.ok(tokensOf(long) >= ctx);
    await refused(() => client.embeddings.create({ model: "emb", input: ["short", long] }), 400, "input[1]", "context_length_exceeded");
    await refused(() => client.embeddings.create({ model: "emb", input: long }), 400, "input", "context_length_exceeded");
    const fits = Array.from({ length: 20 }, () => "fits just fine");
    const many = await client.embeddings.create({ model: "emb", input: fits, encoding_format: "float" });
    assert.equal(many.data.length, 20);
  });

  test("a chat model asked for embeddings, or an embedding model asked for chat, is a clear 400", async () => {
    await refused(() => client.embeddings.create({ model: "chat", input: "x" }), 400, "model", "model_not_supported");
    await refused(() => client.chat.completions.create({ model: "emb", messages: [{ role: "user", content: "hi" }] }), 400, "model", "model_not_supported");
    await refused(() => client.embeddings.create({ model: "nope", input: "x" }), 404, "model", "model_not_found");
  });
});

/** The ledger row of the request sent with `x-request-id: requestId`, once it is there. */
async function rowOf(requestId: string): Promise<{ status: string; prompt_tokens: number; completion_tokens: number } | undefined> {
  for (let tries = 0; tries < 600; tries++) {
    const db = new Database(dbFile, { readonly: true });
    const row = db.prepare("select status, prompt_tokens, completion_tokens from ledger where request_id = ?").get(requestId) as
      | { status: string; prompt_tokens: number; completion_tokens: number }
      | undefined;
    db.close();
    if (row !== undefined) return row;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return undefined;
}

describe("a client that leaves", () => {
  test("stops the work, and what was computed is metered as client_disconnected", async () => {
    // 2048 inputs of nearly the model's context (64 tokens): the most one request may ask for.
    const inputs = Array.from({ length: 2048 }, (_, i) => `input number ${i} of a batch nobody waits for: ${"and so on ".repeat(12)}`);
    const total = inputs.reduce((s, t) => s + tokensOf(t), 0);
    const requestId = `embeddings-disconnect-${Date.now()}`;
    const url = new URL(`${server.baseURL}/embeddings`);
    const req = http.request(url, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${client.apiKey}`, "x-request-id": requestId } });
    req.on("error", () => undefined);
    req.end(JSON.stringify({ model: "emb", input: inputs, encoding_format: "float" }));
    // Gone as soon as the server is working on it (it counts the request in flight), long before 2048 are done.
    const healthURL = `${server.baseURL.replace(/\/v1$/, "")}/health`;
    for (let i = 0; i < 500; i++) {
      const health = (await (await fetch(healthURL)).json()) as { inflight?: number };
      if ((health.inflight ?? 0) > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    req.destroy();
    const row = await rowOf(requestId);
    assert.ok(row !== undefined, "the request has its row");
    assert.equal(row.status, "client_disconnected");
    assert.equal(row.completion_tokens, 0);
    assert.ok(row.prompt_tokens < total, `${row.prompt_tokens} of ${total} tokens metered`);
  });
});

describe("keys and limits apply as to chat", () => {
  test("a key's model list, token window and request window", async () => {
    const chatOnly = await createKey(server, adminKey, { name: "chat-only", models: ["chat"] });
    const limited = new OpenAI({ baseURL: server.baseURL, apiKey: chatOnly.secret, maxRetries: 0 });
    await refused(() => limited.embeddings.create({ model: "emb", input: "x" }), 403, "model", "model_not_permitted");

    const small = await createKey(server, adminKey, { name: "small-tpm", tpm: 6 });
    const tpm = new OpenAI({ baseURL: server.baseURL, apiKey: small.secret, maxRetries: 0 });
    await refused(() => tpm.embeddings.create({ model: "emb", input: "one two three four five six seven eight nine ten" }), 429, null, "rate_limit_exceeded");

    const oneRpm = await createKey(server, adminKey, { name: "one-rpm", rpm: 1 });
    const rpm = new OpenAI({ baseURL: server.baseURL, apiKey: oneRpm.secret, maxRetries: 0 });
    const first = await rpm.embeddings.create({ model: "emb", input: "once" }).withResponse();
    assert.equal(first.response.headers.get("x-ratelimit-limit-requests"), "1");
    await refused(() => rpm.embeddings.create({ model: "emb", input: "twice" }), 429, null, "rate_limit_exceeded");
    const rows = await store.ledger.usage({ keyId: oneRpm.id });
    assert.equal(rows[0]?.requests, 1);
    assert.equal(rows[0]?.promptTokens, tokensOf("once"));
  });
});

describe("upstream embedding model", () => {
  test("the client's body goes to the upstream's /v1/embeddings, renamed; vectors and usage come back as the upstream sent them", async () => {
    const inputs = ["upstream one", "upstream number two"];
    const before = await totals("remote-emb");
    const seen = fake.requests.length;
    const res = await client.embeddings.create({ model: "remote-emb", input: inputs, encoding_format: "float", user: "u-1" });
    const request = fake.requests[seen];
    assert.equal(request?.path, "/v1/embeddings");
    assert.equal(request?.body?.model, "fake-embedder");
    assert.deepEqual(request?.body?.input, inputs);
    assert.equal(request?.body?.user, "u-1");
    assert.equal(res.model, "remote-emb");
    res.data.forEach((d, i) => assert.deepEqual(d.embedding.map((x) => Math.fround(x)), Array.from(fakeEmbedding(inputs[i]))));
    const tokens = inputs.reduce((s, t) => s + fakeEmbeddingTokens(t), 0);
    assert.equal(res.usage.prompt_tokens, tokens);
    const after = await totals("remote-emb");
    assert.equal(after.requests - before.requests, 1);
    assert.equal(after.promptTokens - before.promptTokens, tokens);
    assert.equal(after.completionTokens - before.completionTokens, 0);
    assert.equal(after.estimatedRequests - before.estimatedRequests, 0);
  });

  test("base64 and dimensions pass through; the SDK's default decodes", async () => {
    const res = await client.embeddings.create({ model: "remote-emb", input: [[5, 6, 7]], encoding_format: "base64", dimensions: 4 });
    const decoded = base64Float32(res.data[0]?.embedding as unknown as string);
    assert.deepEqual(Array.from(decoded ?? []), Array.from(fakeEmbedding([5, 6, 7], 4)));
    assert.equal(res.usage.prompt_tokens, 3);
    const sdkDefault = await client.embeddings.create({ model: "remote-emb", input: "decoded by the sdk" });
    assert.deepEqual(sdkDefault.data[0]?.embedding, Array.from(fakeEmbedding("decoded by the sdk")));
  });

  test("an upstream 5xx is retried; an upstream 400 reaches the client as a 400", async () => {
    const seen = fake.requests.length;
    fake.queue.push({ kind: "status", status: 500 });
    const res = await client.embeddings.create({ model: "remote-emb", input: "retried", encoding_format: "float" });
    assert.equal(res.data.length, 1);
    assert.equal(fake.requests.length - seen, 2);
    fake.queue.push({ kind: "status", status: 400, body: { error: { message: "dimensions not supported", type: "invalid_request_error", param: "dimensions", code: null } } });
    await refused(() => client.embeddings.create({ model: "remote-emb", input: "x", dimensions: 3 }), 400, null);
  });
});
