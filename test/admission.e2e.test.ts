/**
 * What a key's limits let through, end to end: a request without max_tokens
 * works under a budget (its cap is what the budget allows, bounded by what
 * the context leaves after the prompt), an upstream is never sent a cap
 * beyond the model's context (and none at all when no limit applies and the
 * client sent none), and x-ratelimit-reset-* says when the window is full
 * again, also while requests remain.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { startFakeUpstream, type FakeUpstream } from "../src/upstream/fake-upstream.js";
import { promptTokensUpperBound } from "../src/protocol/prompt-estimate.js";
import { tinyModelPath } from "./helpers/models.js";
import { postJson, startServer, tempDbPath, type RunningServer, createKey as createManagedKey } from "./helpers/server.js";

const adminKey = "admin-admission-tests-0123456789";
const fakeKey = "sk-fake-admission-provider-1";
const CTX = 512;
const UPSTREAM_CTX = 4_096;

let server: RunningServer;
let fake: FakeUpstream;

before(async () => {
  fake = await startFakeUpstream({ apiKey: fakeKey, models: ["fake-model"] });
  const dbPath = tempDbPath();
  const configFile = path.join(path.dirname(dbPath), "admission-config.json");
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      models: [{ id: "tiny", source: await tinyModelPath() }],
      providers: [{ id: "f", baseUrl: fake.url, apiKeyEnv: "FAKE_KEY", healthCheckMs: 0 }],
      upstreamModels: [{ id: "remote", deployments: [{ provider: "f", model: "fake-model" }], contextLength: UPSTREAM_CTX }],
    }),
  );
  server = await startServer({
    models: {},
    args: ["--config", configFile, "--threads", "1", "--parallel", "2", "--ctx", String(CTX), "--db-path", dbPath],
    adminKey,
    env: { FAKE_KEY: fakeKey },
  });
});

after(async () => {
  await server?.stop();
  await fake?.close();
});

const createKey = (body: Record<string, unknown>): Promise<{ id: string; secret: string }> => createManagedKey(server, adminKey, body);

interface Completion {
  choices: Array<{ finish_reason: string }>;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

const chat = (secret: string, body: Record<string, unknown>): Promise<Response> =>
  postJson(server.baseURL, "/chat/completions", { messages: [{ role: "user", content: "hello there" }], ...body }, { authorization: `Bearer ${secret}` });

describe("a request without max_tokens under a budget", () => {
  test("local model: answered, capped by the budget, and never beyond the context", async () => {
    const key = await createKey({ name: "budget-no-max", budget: { unit: "tokens", amount: 100_000, period: "total" } });
    // The budget is far larger than the context: the context bounds the completion.
    const res = await chat(key.secret, { model: "tiny", ignore_eos: true });
    assert.equal(res.status, 200, await res.clone().text());
    const body = (await res.json()) as Completion;
    assert.equal(body.choices[0]?.finish_reason, "length");
    assert.equal(body.usage.total_tokens, CTX, "the completion filled what the context left after the prompt");

    // A small budget: the completion is what the budget allows after the prompt.
    const small = await createKey({ name: "small-budget-no-max", budget: { unit: "tokens", amount: 60, period: "total" } });
    const capped = (await (await chat(small.secret, { model: "tiny", ignore_eos: true })).json()) as Completion;
    assert.equal(capped.usage.total_tokens, 60, "prompt + completion = the whole budget, no more");
    assert.equal(capped.choices[0]?.finish_reason, "length");
    const refused = await chat(small.secret, { model: "tiny" });
    assert.equal(refused.status, 429);
  });

  test("n choices share the cap: prompt + n × completion within the budget", async () => {
    const key = await createKey({ name: "budget-n", budget: { unit: "tokens", amount: 80, period: "total" } });
    const body = (await (await chat(key.secret, { model: "tiny", n: 3, ignore_eos: true })).json()) as Completion;
    assert.ok(body.usage.total_tokens <= 80, `spent ${body.usage.total_tokens}`);
    assert.ok(80 - body.usage.total_tokens < 3, "at most one token per choice left unused by the floor");
  });

  test("upstream model: the cap sent is what the budget allows, within the configured context after the estimated prompt", async () => {
    const key = await createKey({ name: "budget-remote", budget: { unit: "tokens", amount: 1_000_000, period: "total" } });
    const before = fake.requests.length;
    const res = await chat(key.secret, { model: "remote" });
    assert.equal(res.status, 200, await res.clone().text());
    const sent = fake.requests[before]?.body;
    assert.ok(sent !== undefined && sent !== null);
    const estimate = promptTokensUpperBound({ messages: [{ role: "user", content: "hello there" }] });
    assert.equal(sent.max_tokens, UPSTREAM_CTX - estimate, "the context left after the (over-)estimated prompt");
    assert.ok(estimate >= ((await res.json()) as Completion).usage.prompt_tokens, "the estimate is not below the upstream's count");

    const small = await createKey({ name: "small-remote", budget: { unit: "tokens", amount: estimate + 20, period: "total" } });
    await chat(small.secret, { model: "remote" });
    assert.equal(fake.requests.at(-1)?.body?.max_tokens, 20, "the budget after the estimated prompt");
  });

  test("upstream model: no limit and no max_tokens from the client, none is sent", async () => {
    const key = await createKey({ name: "free-remote" });
    const res = await chat(key.secret, { model: "remote" });
    assert.equal(res.status, 200);
    const sent = fake.requests.at(-1)?.body;
    assert.ok(sent !== undefined && sent !== null);
    assert.equal("max_tokens" in sent, false);
    assert.equal("max_completion_tokens" in sent, false);
  });
});

/** `20ms`, `1.5s`, `1m0s` → ms. */
function durationMs(text: string | null): number {
  const match = /^(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$|^(\d+)ms$/.exec(text ?? "");
  assert.ok(match !== null, `a duration: ${text}`);
  if (match[3] !== undefined) return Number(match[3]);
  return Number(match[1] ?? 0) * 60_000 + Number(match[2] ?? 0) * 1000;
}

describe("x-ratelimit-reset-*", () => {
  test("says when the window is full again, also while requests and tokens remain", async () => {
    const key = await createKey({ name: "reset-headers", rpm: 10, tpm: 10_000 });
    const res = await chat(key.secret, { model: "tiny", max_tokens: 2 });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-ratelimit-remaining-requests"), "9");
    for (const what of ["requests", "tokens"]) {
      const reset = durationMs(res.headers.get(`x-ratelimit-reset-${what}`));
      assert.ok(reset > 0 && reset <= 60_000, `reset-${what} ${res.headers.get(`x-ratelimit-reset-${what}`)}: the request just counted leaves the window within a minute`);
    }
    assert.ok(Number(res.headers.get("x-ratelimit-remaining-tokens")) < 10_000, "the request's tokens are held in the window");
  });
});
