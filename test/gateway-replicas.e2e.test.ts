/**
 * The gateway across processes: two replicas sharing PostgreSQL + Redis
 * enforce one RPM limit, one budget and one TPM limit (never overshot under
 * concurrency) and see each other's revocations, and a server
 * killed with SIGKILL mid-load has a ledger row for every response a client
 * received complete (SQLite and PostgreSQL).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { tinyModelPath } from "./helpers/models.js";
import { createTestSchema, type TestSchema } from "./helpers/postgres.js";
import { deleteRedisPrefix, testRedisPrefix, testRedisUrl } from "./helpers/redis.js";
import { postJson, startServer, tempDbPath, type RunningServer, createKey as createManagedKey } from "./helpers/server.js";

const adminKey = "admin-replicas-0123456789abcdef";
const serverArgs = ["--threads", "1", "--parallel", "2", "--ctx", "512"];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const createKey = (server: RunningServer, body: Record<string, unknown>): Promise<{ id: string; secret: string }> => createManagedKey(server, adminKey, body);

const chat = (server: RunningServer, secret: string, body: Record<string, unknown> = {}): Promise<Response> =>
  postJson(server.baseURL, "/chat/completions", { model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 2, ...body }, {
    authorization: `Bearer ${secret}`,
  });

describe("two replicas on one PostgreSQL + Redis", () => {
  let schema: TestSchema;
  let a: RunningServer;
  let b: RunningServer;
  const env = { CHATPORT_REDIS_PREFIX: testRedisPrefix("replicas") };

  before(async () => {
    schema = await createTestSchema();
    const model = await tinyModelPath();
    const args = [...serverArgs, "--database-url", schema.url, "--redis-url", testRedisUrl];
    [a, b] = await Promise.all([
      startServer({ models: { tiny: model }, args, adminKey, env }),
      startServer({ models: { tiny: model }, args, adminKey, env }),
    ]);
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await schema?.drop();
    await deleteRedisPrefix(env.CHATPORT_REDIS_PREFIX);
  });

  test("one global RPM limit: 30 requests spread over both replicas, exactly 10 served", async () => {
    const key = await createKey(a, { name: "shared", rpm: 10 });
    const statuses = await Promise.all(Array.from({ length: 30 }, (_, i) => chat(i % 2 === 0 ? a : b, key.secret).then((r) => r.status)));
    const served = statuses.filter((s) => s === 200).length;
    const limited = statuses.filter((s) => s === 429).length;
    console.log(`# replicas: ${served} served, ${limited} refused of 30 against RPM 10`);
    assert.equal(served, 10);
    assert.equal(limited, 20);
  });

  test("one budget and one TPM limit: 40 concurrent requests over both replicas never spend more than either", async () => {
    // A long prompt (about 280 tokens here), as in the report that found the overshoot (289).
    const content = `please summarise: ${"the quick brown fox jumps over the lazy dog ".repeat(13)}`;
    const spentBy = async (keyId: string): Promise<{ requests: number; tokens: number }> => {
      const [row] = await schema.query(
        `select count(*) as requests, coalesce(sum(prompt_tokens + completion_tokens), 0) as tokens from ${schema.name}.ledger where key_id = '${keyId}'`,
      );
      return { requests: Number(row?.requests), tokens: Number(row?.tokens) };
    };
    const burst = async (secret: string, body: Record<string, unknown>): Promise<{ served: number; refused: number; prompt: number }> => {
      const results = await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          const res = await chat(i % 2 === 0 ? a : b, secret, { messages: [{ role: "user", content }], ignore_eos: true, ...body });
          const json = (await res.json()) as { usage?: { prompt_tokens: number } };
          return { status: res.status, prompt: json.usage?.prompt_tokens ?? 0 };
        }),
      );
      assert.ok(results.every((r) => r.status === 200 || r.status === 429), `statuses ${results.map((r) => r.status).join(",")}`);
      return {
        served: results.filter((r) => r.status === 200).length,
        refused: results.filter((r) => r.status === 429).length,
        prompt: Math.max(...results.map((r) => r.prompt)),
      };
    };

    // A budget of 1,000 tokens, requests without max_tokens: each reserves its prompt and what the budget allows.
    const budgetKey = await createKey(a, { name: "shared-budget", budget: { unit: "tokens", amount: 1_000, period: "total" } });
    const budgetRun = await burst(budgetKey.secret, { max_tokens: undefined });
    const budgetSpent = await spentBy(budgetKey.id);
    console.log(
      `# replicas: budget 1000 tokens, 40 concurrent ${budgetRun.prompt}-token prompts: ${budgetRun.served} served, ${budgetRun.refused} refused, ${budgetSpent.tokens} tokens spent`,
    );
    assert.equal(budgetSpent.requests, budgetRun.served);
    assert.ok(budgetRun.served >= 1);
    assert.ok(budgetSpent.tokens <= 1_000, `spent ${budgetSpent.tokens} of a 1000-token budget`);

    // TPM 600: all 40 arrive together, so every admitted one is in the same window.
    const tpmKey = await createKey(a, { name: "shared-tpm", tpm: 600 });
    const tpmRun = await burst(tpmKey.secret, { max_tokens: 20 });
    const tpmSpent = await spentBy(tpmKey.id);
    console.log(`# replicas: TPM 600, 40 concurrent requests (${tpmRun.prompt}-token prompts, max_tokens 20): ${tpmRun.served} served, ${tpmSpent.tokens} tokens in the window`);
    assert.equal(tpmSpent.requests, tpmRun.served);
    assert.ok(tpmRun.served >= 1);
    assert.ok(tpmSpent.tokens <= 600, `${tpmSpent.tokens} tokens admitted in one window of TPM 600`);
  });

  test("a key revoked on one replica is refused by the other within a second", async () => {
    const key = await createKey(a, { name: "to-revoke" });
    assert.equal((await chat(b, key.secret)).status, 200, "replica B knows the key (and caches it)");
    const revoke = await fetch(a.baseURL.replace("/v1", `/admin/keys/${key.id}/revoke`), {
      method: "POST",
      headers: { authorization: `Bearer ${adminKey}` },
    });
    assert.equal(revoke.status, 200);
    const start = Date.now();
    while ((await chat(b, key.secret)).status !== 401) {
      assert.ok(Date.now() - start < 1000, "revocation reached replica B within a second");
      await sleep(10);
    }
    console.log(`# replicas: revocation on A refused on B after ${Date.now() - start} ms`);
  });
});

/** Drives load at a server and remembers the id of every response received complete. */
async function loadUntilKilled(server: RunningServer, secret: string, killAfterMs: number): Promise<{ complete: string[]; failed: number }> {
  const complete: string[] = [];
  let failed = 0;
  let stop = false;
  const worker = async (w: number): Promise<void> => {
    for (let i = 0; !stop; i++) {
      const stream = (i + w) % 2 === 0;
      try {
        const res = await chat(server, secret, { max_tokens: 6, stream, messages: [{ role: "user", content: `load ${w} ${i}` }] });
        const text = await res.text();
        if (res.status !== 200) throw new Error(`status ${res.status}`);
        if (stream) {
          // Complete means the terminating [DONE] arrived.
          if (!text.endsWith("data: [DONE]\n\n")) throw new Error("stream cut");
          complete.push((JSON.parse(text.split("\n")[0]?.slice("data: ".length) ?? "") as { id: string }).id);
        } else {
          complete.push((JSON.parse(text) as { id: string }).id);
        }
      } catch {
        failed++;
        if (stop) return;
      }
    }
  };
  const workers = Array.from({ length: 4 }, (_, w) => worker(w));
  await sleep(killAfterMs);
  server.process.kill("SIGKILL");
  stop = true;
  await Promise.all(workers);
  return { complete, failed };
}

describe("kill -9 mid-load loses no ledger row for a complete response", () => {
  for (const sync of ["full", "normal"] as const) {
    test(`SQLite (synchronous=${sync})`, async () => {
      const dbPath = tempDbPath();
      const server = await startServer({
        models: { tiny: await tinyModelPath() },
        args: [...serverArgs, "--db-path", dbPath],
        adminKey,
        env: { CHATPORT_SQLITE_SYNC: sync },
      });
      try {
        const key = await createKey(server, { name: "load" });
        const { complete, failed } = await loadUntilKilled(server, key.secret, 2500);
        const db = new Database(dbPath, { readonly: true });
        const ids = new Set(db.prepare("select id from ledger").pluck().all() as string[]);
        db.close();
        const missing = complete.filter((id) => !ids.has(id));
        console.log(`# kill -9 (SQLite, ${sync}): ${complete.length} complete responses, ${failed} cut, ${ids.size} ledger rows, ${missing.length} missing`);
        assert.ok(complete.length > 10, "the load ran");
        assert.deepEqual(missing, []);
      } finally {
        await server.stop();
      }
    });
  }

  test("PostgreSQL", async () => {
    const schema = await createTestSchema();
    const server = await startServer({ models: { tiny: await tinyModelPath() }, args: [...serverArgs, "--database-url", schema.url], adminKey });
    try {
      const key = await createKey(server, { name: "load" });
      const { complete, failed } = await loadUntilKilled(server, key.secret, 2500);
      const ids = new Set((await schema.query(`select id from ${schema.name}.ledger`)).map((r) => String(r.id)));
      const missing = complete.filter((id) => !ids.has(id));
      console.log(`# kill -9 (PostgreSQL): ${complete.length} complete responses, ${failed} cut, ${ids.size} ledger rows, ${missing.length} missing`);
      assert.ok(complete.length > 10, "the load ran");
      assert.deepEqual(missing, []);
    } finally {
      await server.stop();
      await schema.drop();
    }
  });
});
