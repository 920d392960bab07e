/**
 * The gateway end to end, once on the embedded default (SQLite, in-process
 * counters) and once on PostgreSQL + Redis: managed keys through the admin
 * API and the CLI, 401/403/429 in OpenAI shape, RPM/TPM windows, budgets,
 * and a ledger that matches what clients were told.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import { openStore } from "../src/store/open-store.js";
import { settingDefault } from "../src/settings.js";
import type { Store } from "../src/store/types.js";
import { tinyModelPath } from "./helpers/models.js";
import { assertMatchesSchema } from "./helpers/openapi.js";
import { createTestSchema, type TestSchema } from "./helpers/postgres.js";
import { deleteRedisPrefix, testRedisPrefix, testRedisUrl } from "./helpers/redis.js";
import { cliPath, postJson, startServer, tempDbPath, type RunningServer } from "./helpers/server.js";

const run = promisify(execFile);
const adminKey = "admin-secret-for-tests-0123456789";

interface Backend {
  name: string;
  /** Storage flags for `serve`, `keys` and `usage`. */
  args: string[];
  env: NodeJS.ProcessEnv;
  openStore(): Promise<Store>;
  cleanup(): Promise<void>;
}

async function sqliteBackend(): Promise<Backend> {
  const dbPath = tempDbPath();
  return {
    name: "SQLite",
    args: ["--db-path", dbPath],
    env: {},
    openStore: () => openStore({ sqlitePath: dbPath, sqliteSync: settingDefault("sqliteSync") }),
    cleanup: async () => {},
  };
}

async function postgresBackend(): Promise<Backend> {
  const schema: TestSchema = await createTestSchema();
  const prefix = testRedisPrefix("gateway");
  return {
    name: "PostgreSQL + Redis",
    args: ["--database-url", schema.url, "--redis-url", testRedisUrl],
    env: { CHATPORT_REDIS_PREFIX: prefix },
    openStore: () => openStore({ databaseUrl: schema.url, sqlitePath: "unused", sqliteSync: settingDefault("sqliteSync") }),
    cleanup: async () => {
      await schema.drop();
      await deleteRedisPrefix(prefix);
    },
  };
}

interface WireKey {
  id: string;
  name: string;
  prefix: string;
  status: string;
  secret?: string;
}

async function admin(server: RunningServer, method: string, route: string, body?: unknown, key = adminKey): Promise<Response> {
  return fetch(server.baseURL.replace("/v1", "/admin") + route, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function createKey(server: RunningServer, body: Record<string, unknown>): Promise<WireKey & { secret: string }> {
  const res = await admin(server, "POST", "/keys", body);
  assert.equal(res.status, 201, await res.clone().text());
  return (await res.json()) as WireKey & { secret: string };
}

const chat = (server: RunningServer, key: string, body: Record<string, unknown> = {}): Promise<Response> =>
  postJson(server.baseURL, "/chat/completions", { model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 3, ...body }, {
    authorization: `Bearer ${key}`,
  });

async function errorOf(res: Response): Promise<{ type: string; code: string | null; message: string }> {
  const body = (await res.json()) as { error: { type: string; code: string | null; message: string } };
  assertMatchesSchema("ErrorResponse", body);
  return body.error;
}

async function cli(backend: Backend, args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [cliPath, ...args, ...backend.args], {
    env: { ...process.env, ...backend.env, CHATPORT_LOG_LEVEL: "warn" },
  });
  return stdout;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until `check` passes or `ms` elapse; returns how long it took. */
async function within(ms: number, check: () => Promise<boolean>): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) assert.fail(`not within ${ms} ms`);
    await sleep(25);
  }
  return Date.now() - start;
}

for (const makeBackend of [sqliteBackend, postgresBackend]) {
  describe(`gateway on ${makeBackend === sqliteBackend ? "SQLite" : "PostgreSQL + Redis"}`, () => {
    let backend: Backend;
    let server: RunningServer;
    let store: Store;

    before(async () => {
      backend = await makeBackend();
      const model = await tinyModelPath();
      const config = tempDbPath().replace(/chatport\.sqlite$/, "config.json");
      fs.writeFileSync(
        config,
        JSON.stringify({ models: [{ id: "tiny", source: model, prices: { input: 1, cachedInput: 0.5, output: 4 } }, { id: "tiny2", source: model }] }),
      );
      server = await startServer({
        models: {},
        args: ["--config", config, "--threads", "1", "--parallel", "4", "--ctx", "512", ...backend.args],
        adminKey,
        env: backend.env,
      });
      store = await backend.openStore();
    });
    after(async () => {
      await server?.stop();
      await store?.close();
      await backend?.cleanup();
    });

    test("admin API: needs the admin key; creates a key whose secret is shown once and never stored", async () => {
      assert.equal((await admin(server, "GET", "/keys", undefined, "wrong")).status, 401);
      assert.equal((await fetch(server.baseURL.replace("/v1", "/admin/keys"))).status, 401);
      const bad = await admin(server, "POST", "/keys", { name: "" });
      assert.equal(bad.status, 400);
      assert.equal((await errorOf(bad)).type, "invalid_request_error");

      const key = await createKey(server, { name: "alice", owner: "team-a", models: ["tiny"] });
      assert.match(key.secret, /^sk-/);
      assert.equal(key.status, "active");
      assert.ok(key.secret.startsWith(key.prefix));
      const list = (await (await admin(server, "GET", "/keys")).json()) as { data: WireKey[] };
      assert.ok(list.data.some((k) => k.id === key.id));
      assert.doesNotMatch(JSON.stringify(list), new RegExp(key.secret), "the secret is shown only at creation");
      const shown = await (await admin(server, "GET", `/keys/${key.id}`)).text();
      assert.doesNotMatch(shown, new RegExp(key.secret));
      assert.equal((await admin(server, "GET", "/keys/key_nope")).status, 404);
      assert.doesNotMatch(server.logs.join("\n"), new RegExp(key.secret), "the secret never reaches the logs");
      assert.doesNotMatch(server.logs.join("\n"), new RegExp(adminKey));
    });

    test("401 for missing, unknown, revoked and expired keys; 403 for a model the key may not use", async () => {
      const key = await createKey(server, { name: "bob", models: ["tiny"] });
      const ok = await chat(server, key.secret);
      assert.equal(ok.status, 200, await ok.clone().text());

      const missing = await postJson(server.baseURL, "/chat/completions", { model: "tiny", messages: [{ role: "user", content: "hi" }] });
      assert.equal(missing.status, 401);
      assert.equal((await errorOf(missing)).code, "invalid_api_key");
      const unknown = await chat(server, "sk-not-a-real-key");
      assert.equal(unknown.status, 401);
      assert.equal((await errorOf(unknown)).code, "invalid_api_key");

      const forbidden = await chat(server, key.secret, { model: "tiny2" });
      assert.equal(forbidden.status, 403);
      const forbiddenError = await errorOf(forbidden);
      assert.equal(forbiddenError.type, "permission_error");
      assert.equal(forbiddenError.code, "model_not_permitted");
      const client = new OpenAI({ baseURL: server.baseURL, apiKey: key.secret, maxRetries: 0 });
      assert.deepEqual((await client.models.list()).data.map((m) => m.id), ["tiny"], "a key sees only its models");

      const expiring = await createKey(server, { name: "short", expires_at: Math.floor(Date.now() / 1000) + 2 });
      assert.equal((await chat(server, expiring.secret)).status, 200);
      await sleep(2100);
      const expired = await chat(server, expiring.secret);
      assert.equal(expired.status, 401);
      assert.match((await errorOf(expired)).message, /expired/);

      // As HTTP clients that set a JSON content type on every POST send it: the header, no body.
      const revokeRes = await fetch(server.baseURL.replace("/v1", "/admin") + `/keys/${key.id}/revoke`, {
        method: "POST",
        headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json" },
      });
      assert.equal(revokeRes.status, 200, await revokeRes.clone().text());
      assert.equal(((await revokeRes.json()) as WireKey).status, "revoked");
      const revoked = await chat(server, key.secret);
      assert.equal(revoked.status, 401, "revocation through the admin API is immediate on this replica");
      assert.match((await errorOf(revoked)).message, /revoked/);
    });

    test("CLI: keys made with `chatport keys` work on the running server; `keys revoke` takes effect within a second", async () => {
      const created = JSON.parse(await cli(backend, ["keys", "create", "--name", "cli-key", "--rpm", "100", "--json"])) as WireKey & { secret: string };
      assert.match(created.secret, /^sk-/);
      assert.equal((await chat(server, created.secret)).status, 200);

      const listed = await cli(backend, ["keys", "list"]);
      assert.match(listed, new RegExp(created.id));
      assert.doesNotMatch(listed, new RegExp(created.secret));
      const shown = await cli(backend, ["keys", "show", created.id]);
      assert.match(shown, /status: +active/);
      assert.match(shown, /usage: +1 requests/);

      await cli(backend, ["keys", "revoke", created.id]);
      const took = await within(1000, async () => (await chat(server, created.secret)).status === 401);
      console.log(`# ${backend.name}: CLI revocation seen by the server after ${took} ms`);
    });

    test("RPM N allows exactly N requests in a minute; the next gets 429 rate_limit_exceeded with Retry-After and x-ratelimit headers", async () => {
      const key = await createKey(server, { name: "rpm", rpm: 3 });
      for (let i = 0; i < 3; i++) {
        const res = await chat(server, key.secret);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get("x-ratelimit-limit-requests"), "3");
        assert.equal(res.headers.get("x-ratelimit-remaining-requests"), String(2 - i));
      }
      const refused = await chat(server, key.secret);
      assert.equal(refused.status, 429);
      const retryAfter = Number(refused.headers.get("retry-after"));
      assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
      assert.equal(refused.headers.get("x-ratelimit-remaining-requests"), "0");
      assert.match(refused.headers.get("x-ratelimit-reset-requests") ?? "", /^\d+(\.\d+)?m?s$|^\d+m\d+(\.\d+)?s$/);
      const error = await errorOf(refused);
      assert.equal(error.type, "rate_limit_error");
      assert.equal(error.code, "rate_limit_exceeded");
      // The SDK sees it as a RateLimitError.
      const client = new OpenAI({ baseURL: server.baseURL, apiKey: key.secret, maxRetries: 0 });
      await assert.rejects(client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "x" }] }), OpenAI.RateLimitError);

      // Raising the limit through the admin API applies at once.
      const patched = await admin(server, "PATCH", `/keys/${key.id}`, { rpm: 5 });
      assert.equal(patched.status, 200);
      assert.equal(((await patched.json()) as { rpm: number }).rpm, 5);
      assert.equal((await admin(server, "PATCH", `/keys/${key.id}`, { rpm: -1 })).status, 400);
      const again = await chat(server, key.secret);
      assert.equal(again.status, 200);
      assert.equal(again.headers.get("x-ratelimit-limit-requests"), "5");
    });

    test("TPM: a minute's tokens are never exceeded; once they are used, requests are refused until the window moves", async () => {
      const key = await createKey(server, { name: "tpm", tpm: 40 });
      let used = 0;
      let lastPrompt = 0;
      let refused: Response | null = null;
      for (let i = 0; i < 20 && refused === null; i++) {
        const res = await chat(server, key.secret, { max_tokens: 8, ignore_eos: true });
        if (res.status === 429) {
          refused = res;
          break;
        }
        assert.equal(res.status, 200);
        const usage = ((await res.json()) as { usage: { total_tokens: number; prompt_tokens: number } }).usage;
        used += usage.total_tokens;
        lastPrompt = usage.prompt_tokens;
      }
      assert.ok(refused !== null, "a TPM limit refuses eventually");
      // Each request reserved its prompt and its capped completion: the window never holds more than the limit,
      // and the refusal came when not even the next prompt and one token fit.
      assert.ok(used <= 40, `never more than the limit (${used} tokens)`);
      assert.ok(used + lastPrompt + 1 > 40, `refused only when the next request could not fit (${used} tokens used)`);
      assert.equal((await errorOf(refused)).code, "rate_limit_exceeded");
      assert.equal(refused.headers.get("x-ratelimit-limit-tokens"), "40");
    });

    test("a token budget stops the key at the right count, streamed requests included (no include_usage)", async () => {
      const budget = 120;
      const key = await createKey(server, { name: "budget", budget: { unit: "tokens", amount: budget, period: "total" } });
      const client = new OpenAI({ baseURL: server.baseURL, apiKey: key.secret, maxRetries: 0 });
      let served = 0;
      for (let i = 0; i < 40; i++) {
        try {
          const stream = await client.chat.completions.create({
            model: "tiny",
            messages: [{ role: "user", content: `question ${i}` }],
            max_tokens: 30,
            stream: true,
            ignore_eos: true,
          } as OpenAI.ChatCompletionCreateParamsStreaming);
          for await (const _chunk of stream) void _chunk;
          served++;
        } catch (err) {
          assert.ok(err instanceof OpenAI.RateLimitError, String(err));
          assert.equal((err.error as { code?: string } | undefined)?.code, "insufficient_quota");
          break;
        }
      }
      const [spent] = await store.ledger.usage({ keyId: key.id });
      assert.ok(spent !== undefined && served > 0);
      assert.equal(spent.requests, served);
      // Prompt and completion were reserved before each request: never over the budget, and
      // stopped only when what is left cannot hold a prompt and a token.
      const rows = await store.ledger.usage({ keyId: key.id, groupBy: "day" });
      assert.equal(rows.length, 1);
      assert.ok(spent.totalTokens <= budget, `spent ${spent.totalTokens} of ${budget}`);
      assert.ok(budget - spent.totalTokens < 30, `stopped with ${budget - spent.totalTokens} left, less than one prompt`);
      const refused = await chat(server, key.secret);
      assert.equal(refused.status, 429);
      assert.equal((await errorOf(refused)).type, "insufficient_quota");
      console.log(`# ${backend.name}: budget ${budget} tokens, ${served} streams served, ${spent.totalTokens} tokens metered`);
    });

    test("the ledger equals the usage clients were given over 200 mixed requests (streaming, non-streaming, aborted)", async () => {
      // Complete requests on one key, aborted ones on another, so each key's ledger total can be checked exactly.
      const done = await createKey(server, { name: "ledger-complete" });
      const cut = await createKey(server, { name: "ledger-aborted" });
      const doneClient = new OpenAI({ baseURL: server.baseURL, apiKey: done.secret, maxRetries: 0 });
      const cutClient = new OpenAI({ baseURL: server.baseURL, apiKey: cut.secret, maxRetries: 0 });
      const told = { requests: 0, prompt: 0, completion: 0 };
      let aborted = 0;
      let chunksSeen = 0;
      const one = async (i: number): Promise<void> => {
        const messages = [{ role: "user" as const, content: `request number ${i} ${"x".repeat(i % 7)}` }];
        const maxTokens = 2 + (i % 5);
        if (i % 3 === 0) {
          const res = await doneClient.chat.completions.create({ model: "tiny", messages, max_tokens: maxTokens });
          told.prompt += res.usage?.prompt_tokens ?? NaN;
          told.completion += res.usage?.completion_tokens ?? NaN;
          told.requests++;
        } else if (i % 3 === 1) {
          const stream = await doneClient.chat.completions.create({
            model: "tiny",
            messages,
            max_tokens: maxTokens,
            stream: true,
            stream_options: { include_usage: true },
          });
          for await (const chunk of stream) {
            if (chunk.usage) {
              told.prompt += chunk.usage.prompt_tokens;
              told.completion += chunk.usage.completion_tokens;
            }
          }
          told.requests++;
        } else {
          const controller = new AbortController();
          const stream = await cutClient.chat.completions.create(
            { model: "tiny", messages, max_tokens: 400, stream: true, ignore_eos: true } as OpenAI.ChatCompletionCreateParamsStreaming,
            { signal: controller.signal },
          );
          let seen = 0;
          try {
            for await (const chunk of stream) {
              if (chunk.choices[0]?.delta.content) seen++;
              if (seen === 1 + (i % 4)) controller.abort();
            }
          } catch {
            // aborted by us
          } finally {
            chunksSeen += seen;
          }
          aborted++;
        }
      };
      const queue = Array.from({ length: 200 }, (_, i) => i);
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          for (let i = queue.shift(); i !== undefined; i = queue.shift()) await one(i);
        }),
      );

      const [complete] = await store.ledger.usage({ keyId: done.id });
      assert.ok(complete !== undefined);
      assert.deepEqual(
        { requests: complete.requests, prompt: complete.promptTokens, completion: complete.completionTokens },
        told,
        "every complete response has its row, with the usage the client was given",
      );
      // Aborted streams are metered once the engine stops; that happens right after the disconnect.
      await within(5000, async () => ((await store.ledger.usage({ keyId: cut.id }))[0]?.requests ?? 0) === aborted);
      const [cutUsage] = await store.ledger.usage({ keyId: cut.id });
      assert.ok(cutUsage !== undefined);
      assert.ok(cutUsage.completionTokens >= chunksSeen, "aborted streams are metered for what they generated");
      assert.ok(cutUsage.completionTokens < aborted * 400, "and stopped soon after the disconnect");
      const viaApi = (await (await admin(server, "GET", `/usage?key=${done.id}`)).json()) as { data: Array<{ requests: number; total_tokens: number }> };
      assert.equal(viaApi.data[0]?.requests, told.requests);
      assert.equal(viaApi.data[0]?.total_tokens, told.prompt + told.completion);
      const viaCli = JSON.parse(await cli(backend, ["usage", "--key", done.id, "--group-by", "model", "--json"])) as Array<{ group: string; requests: number }>;
      assert.deepEqual(viaCli.map((r) => [r.group, r.requests]), [["tiny", told.requests]]);
      console.log(
        `# ${backend.name}: ${told.requests} complete (${told.prompt}+${told.completion} tokens, ledger equal), ${aborted} aborted after ${chunksSeen} chunks, metered ${cutUsage.completionTokens} completion tokens`,
      );
    });
  });
}
