/**
 * The Gatekeeper's budget reservations on a real store and a real Redis:
 * the prompt is reserved with the completion, a request in flight keeps its
 * reservation past the TTL (it is renewed), and settling frees what was not used.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { PreparedChat } from "../src/engines/engine.js";
import { Gatekeeper, type AdmitRequest, type Caller } from "../src/gateway/gatekeeper.js";
import { RedisCounters } from "../src/limits/redis-counters.js";
import { settingDefault } from "../src/settings.js";
import { openStore } from "../src/store/open-store.js";
import type { Store } from "../src/store/types.js";
import { deleteRedisPrefix, testRedisPrefix, testRedisUrl } from "./helpers/redis.js";
import { tempDbPath } from "./helpers/server.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const prompt = (promptTokens: number, completionRoom: number): PreparedChat => ({ promptTokens, promptEstimated: false, completionRoom });
const request = (p: PreparedChat, maxTokens: number | null = null): AdmitRequest => ({ model: "m", canonical: "m", n: 1, maxTokens, prompt: p, prices: undefined });

describe("Gatekeeper budget reservations (SQLite + Redis)", () => {
  const prefix = testRedisPrefix("gatekeeper");
  let store: Store;
  let counters: RedisCounters;
  const ttlMs = 900;
  let gatekeeper: Gatekeeper;

  before(async () => {
    store = await openStore({ sqlitePath: tempDbPath(), sqliteSync: settingDefault("sqliteSync") });
    counters = new RedisCounters({ url: testRedisUrl, prefix });
    await counters.open();
    gatekeeper = new Gatekeeper({ keys: store.keys, ledger: store.ledger, counters, staticKey: null, adminKey: null, reservationTtlMs: ttlMs });
  });
  after(async () => {
    await counters?.close();
    await store?.close();
    await deleteRedisPrefix(prefix);
  });

  const budgetCaller = async (amount: number): Promise<Caller> => {
    const created = await store.keys.create({ name: "budget", budget: { unit: "tokens", amount, period: "total" } });
    return { key: created.record };
  };

  test("the prompt is reserved with the completion: the cap is what the budget leaves after the prompt", async () => {
    const caller = await budgetCaller(1_000);
    const first = await gatekeeper.admit(caller, request(prompt(990, 4_000)));
    assert.equal(first.maxTokens, 10);
    await assert.rejects(gatekeeper.admit(caller, request(prompt(1, 4_000))), (err: { code?: string }) => err.code === "insufficient_quota");
    await first.settle({ promptTokens: 990, completionTokens: 5, cost: 0 });
    await assert.rejects(gatekeeper.admit(caller, request(prompt(5, 4_000))), (err: { code?: string }) => err.code === "insufficient_quota", "5 left: a 5-token prompt leaves no completion token");
    const last = await gatekeeper.admit(caller, request(prompt(4, 4_000)));
    assert.equal(last.maxTokens, 1);
    await last.settle({ promptTokens: 4, completionTokens: 1, cost: 0 });
  });

  test("the cap is bounded by the context after the prompt, and by the client's max_tokens", async () => {
    const caller = await budgetCaller(100_000);
    const noMax = await gatekeeper.admit(caller, request(prompt(300, 212)));
    assert.equal(noMax.maxTokens, 212);
    const asked = await gatekeeper.admit(caller, request(prompt(300, 212), 50));
    assert.equal(asked.maxTokens, 50);
    await Promise.all([noMax.settle({ promptTokens: 300, completionTokens: 0, cost: 0 }), asked.settle({ promptTokens: 300, completionTokens: 0, cost: 0 })]);
  });

  test("a request in flight keeps its reservation past the TTL; settling frees what it did not use", async () => {
    const caller = await budgetCaller(1_000);
    const long = await gatekeeper.admit(caller, request(prompt(100, 500)));
    assert.equal(long.maxTokens, 500, "600 reserved");
    // Several TTLs: renewed all along, it still holds its 600.
    await sleep(4 * ttlMs);
    const second = await gatekeeper.admit(caller, request(prompt(100, 500)));
    assert.equal(second.maxTokens, 300, "1000 - 600 held - 100 prompt");
    await second.settle({ promptTokens: 100, completionTokens: 0, cost: 0 });
    await long.settle({ promptTokens: 100, completionTokens: 50, cost: 0 });
    const third = await gatekeeper.admit(caller, request(prompt(100, 500)));
    assert.equal(third.maxTokens, 500, "250 spent, nothing held: 650 left, the context bounds");
    await third.settle({ promptTokens: 0, completionTokens: 0, cost: 0 });
  });
});
