/**
 * The limit counters: one suite runs against the in-process MemoryCounters
 * and against RedisCounters on a real Redis (CHATPORT_TEST_REDIS_URL, default
 * redis://127.0.0.1:6379), with fake times. Redis must be reachable: without
 * it these tests fail, they never skip. Each run uses its own random key
 * prefix and deletes its keys afterwards.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it, mock } from "node:test";
import { inspect } from "node:util";
import { Redis } from "ioredis";
import { MemoryCounters } from "../src/limits/memory-counters.js";
import { openCounters } from "../src/limits/open-counters.js";
import { PERIOD_TTL_MARGIN_SECONDS, budgetPeriodKey, periodStart, periodTtlSeconds } from "../src/limits/periods.js";
import { RedisCounters } from "../src/limits/redis-counters.js";
import type { BudgetDecision, Counters } from "../src/limits/types.js";
import { StorageUnavailableError } from "../src/protocol/errors.js";

const REDIS_URL = process.env.CHATPORT_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const PREFIX = `chatport-test-${randomUUID().slice(0, 8)}:`;
/** A fake clock far from the real one: window scores are whatever `now` says. */
const T = 1_800_000_000_000;
const MIN = 60_000;

const uniqueKey = (name: string): string => `${name}-${randomUUID()}`;
const reservationOf = (d: BudgetDecision): string | null => (d.loaded ? d.reservation : null);

async function waitFor(what: string, done: () => boolean, timeoutMs = 3_000): Promise<void> {
  const start = Date.now();
  while (!done()) {
    if (Date.now() - start > timeoutMs) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

interface Backend {
  name: string;
  /** One counters instance (a "replica"). */
  open(): Promise<Counters>;
  /** True when separate instances share state (Redis), false for per-process Maps. */
  shared: boolean;
}

/** Everything either implementation must do, identically. */
function counterSuite(backend: Backend): void {
  describe(`${backend.name}: shared behaviour`, () => {
    let c: Counters;
    const opened: Counters[] = [];
    const open = async (): Promise<Counters> => {
      const counters = await backend.open();
      opened.push(counters);
      return counters;
    };
    before(async () => {
      c = await open();
    });
    after(async () => {
      await Promise.all(opened.map((x) => x.close()));
    });

    it("RPM N allows exactly N in a window; the N+1th is refused until the oldest expires", async () => {
      const key = uniqueKey("rpm");
      for (let i = 0; i < 5; i++) {
        const d = await c.takeRequest(key, 5, T + i * 1_000);
        assert.equal(d.allowed, true, `request ${i + 1}`);
        assert.equal(d.limit, 5);
        assert.equal(d.remaining, 4 - i);
        // Full again once every request counted, this one too, has left the window.
        assert.equal(d.resetMs, MIN, "reset says when the window is full again, also while requests remain");
        assert.equal(d.retryMs, 0);
      }
      const refused = await c.takeRequest(key, 5, T + 10_000);
      assert.deepEqual(refused, { allowed: false, limit: 5, remaining: 0, resetMs: 4_000 + MIN - 10_000, retryMs: 50_000 });
      // Refusals are not counted: the next one still waits only for the oldest.
      assert.equal((await c.takeRequest(key, 5, T + 20_000)).retryMs, 40_000);
    });

    it("the window slides: room again exactly when the oldest request is 60 s old", async () => {
      const key = uniqueKey("slide");
      for (let i = 0; i < 3; i++) assert.equal((await c.takeRequest(key, 3, T + i * 1_000)).allowed, true);
      assert.deepEqual(await c.takeRequest(key, 3, T + MIN - 1), { allowed: false, limit: 3, remaining: 0, resetMs: 2_001, retryMs: 1 });
      const again = await c.takeRequest(key, 3, T + MIN);
      assert.equal(again.allowed, true, "the request at T has left the window");
      assert.equal(again.remaining, 0);
      assert.equal(again.resetMs, MIN);
      assert.deepEqual(await c.takeRequest(key, 3, T + MIN + 1), { allowed: false, limit: 3, remaining: 0, resetMs: MIN - 1, retryMs: 999 });
      // Long after: the whole window is free.
      assert.equal((await c.takeRequest(key, 3, T + 10 * MIN)).remaining, 2);
    });

    it("keys have separate windows, and a lowered limit refuses until enough entries expired", async () => {
      const a = uniqueKey("a");
      const b = uniqueKey("b");
      for (let i = 0; i < 4; i++) await c.takeRequest(a, 4, T + i * 1_000);
      assert.equal((await c.takeRequest(a, 4, T + 5_000)).allowed, false);
      assert.equal((await c.takeRequest(b, 4, T + 5_000)).remaining, 3);
      // 4 counted, limit now 2: room once 3 of them left, i.e. at T+2s+60s.
      assert.equal((await c.takeRequest(a, 2, T + 5_000)).retryMs, 2_000 + MIN - 5_000);
      // Limit 0: never room; "try again in a window".
      assert.equal((await c.takeRequest(a, 0, T + 5_000)).retryMs, MIN);
    });

    it("token window: a reservation holds up to what it wants if what it needs fits, counting what others hold", async () => {
      const key = uniqueKey("tpm");
      const first = await c.reserveTokens(key, 1_000, { need: 100, want: 300 }, T);
      assert.equal(first.allowed, true);
      assert.equal(first.granted, 300);
      assert.equal(first.remaining, 700);
      assert.equal(first.resetMs, MIN);
      assert.ok(first.entry !== null);
      // Only 700 left: granted less than wanted.
      const second = await c.reserveTokens(key, 1_000, { need: 100, want: 900 }, T + 10_000);
      assert.equal(second.granted, 700);
      assert.equal(second.remaining, 0);
      // Full: room when the 300 held at T leaves; empty when the entry at T+10s leaves.
      assert.deepEqual(await c.reserveTokens(key, 1_000, { need: 1, want: 1 }, T + 20_000), {
        allowed: false,
        limit: 1_000,
        remaining: 0,
        resetMs: 50_000,
        retryMs: 40_000,
        granted: 0,
        entry: null,
      });
      // The first request used 120 of its 300: 180 free now.
      await c.settleTokens(key, first.entry!, 120);
      const refused = await c.reserveTokens(key, 1_000, { need: 200, want: 200 }, T + 20_000);
      assert.equal(refused.allowed, false);
      assert.equal(refused.remaining, 180);
      assert.equal(refused.retryMs, 40_000, "200 fit once the 120 at T leave");
      const third = await c.reserveTokens(key, 1_000, { need: 150, want: 400 }, T + 20_000);
      assert.equal(third.granted, 180);
      // Settled to 0, an entry leaves the window; settling an entry that left does nothing.
      await c.settleTokens(key, third.entry!, 0);
      await c.settleTokens(key, second.entry!, 0.5);
      assert.equal((await c.reserveTokens(key, 1_000, { need: 0, want: 0 }, T + 20_000)).remaining, 1_000 - 120 - 0.5);
      await c.settleTokens(key, first.entry!, 5);
      assert.equal((await c.reserveTokens(key, 1_000, { need: 0, want: 0 }, T + MIN + 1)).remaining, 1_000 - 0.5, "the entry at T left");
      // A claim over the limit never fits.
      assert.equal((await c.reserveTokens(key, 1_000, { need: 1_001, want: 1_001 }, T + MIN + 1)).retryMs, MIN);
    });

    it("rejects nonsense arguments with a RangeError", async () => {
      const key = uniqueKey("args");
      await assert.rejects(c.takeRequest(key, -1, T), RangeError);
      await assert.rejects(c.takeRequest(key, 2.5, T), RangeError);
      await assert.rejects(c.takeRequest(key, 5, Number.NaN), RangeError);
      await assert.rejects(c.reserveTokens(key, 5, { need: 2, want: 1 }, T), RangeError);
      await assert.rejects(c.reserveTokens(key, 5, { need: -1, want: 1 }, T), RangeError);
      await assert.rejects(c.settleTokens(key, "x:1", -3), RangeError);
      await assert.rejects(c.initSpent(key, "total", 1, 0), RangeError);
      await assert.rejects(c.reserveBudget(key, "total", 10, { need: 1, want: 1 }, 0, T), RangeError);
      await assert.rejects(c.settleBudget(key, "total", "x:1", Number.POSITIVE_INFINITY), RangeError);
    });

    it("spent: null until loaded, init only once (NX), settle adds only to a loaded counter", async () => {
      const key = uniqueKey("spent");
      assert.equal(await c.getSpent(key, "2026-11"), null);
      assert.deepEqual(await c.reserveBudget(key, "2026-11", 100, { need: 1, want: 1 }, MIN, T), { loaded: false });
      // Adding to an unloaded counter must not make a partial sum look loaded.
      await c.settleBudget(key, "2026-11", "gone:1", 5);
      assert.equal(await c.getSpent(key, "2026-11"), null);
      await c.initSpent(key, "2026-11", 12.5, 3_600);
      assert.equal(await c.getSpent(key, "2026-11"), 12.5);
      await c.initSpent(key, "2026-11", 99, 3_600);
      assert.equal(await c.getSpent(key, "2026-11"), 12.5, "another replica's init does not overwrite");
      await c.settleBudget(key, "2026-11", "gone:1", 0.25);
      await c.settleBudget(key, "2026-11", "gone:2", 1);
      assert.equal(await c.getSpent(key, "2026-11"), 13.75);
      assert.equal(await c.getSpent(key, "2026-12"), null, "periods are separate");
      await c.initSpent(key, "total", 0, null);
      assert.equal(await c.getSpent(key, "total"), 0);
      assert.equal(await c.getSpent(uniqueKey("other"), "total"), null);
    });

    it("spent: initSpent's TTL ends the counter", async () => {
      const key = uniqueKey("spent-ttl");
      await c.initSpent(key, "2026-11-22", 3, 1);
      assert.equal(await c.getSpent(key, "2026-11-22"), 3);
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      assert.equal(await c.getSpent(key, "2026-11-22"), null);
    });

    it("budget: reservations count against what is left until settled or released", async () => {
      const key = uniqueKey("resv");
      await c.initSpent(key, "2026-11", 100, 3_600);
      const first = await c.reserveBudget(key, "2026-11", 1_000, { need: 10, want: 500 }, MIN, T);
      assert.deepEqual({ ...first, reservation: null }, { loaded: true, granted: 500, reservation: null, spent: 100, reserved: 0 });
      const second = await c.reserveBudget(key, "2026-11", 1_000, { need: 10, want: 500 }, MIN, T);
      assert.ok(second.loaded);
      assert.equal(second.granted, 400, "what is left after the spent and the other reservation");
      assert.equal(second.reserved, 500);
      const refused = await c.reserveBudget(key, "2026-11", 1_000, { need: 1, want: 1 }, MIN, T);
      assert.deepEqual(refused, { loaded: true, granted: 0, reservation: null, spent: 100, reserved: 900 });
      assert.ok(first.loaded && first.reservation !== null && second.reservation !== null);
      // The first used 50 of its 500; the second was refused further along (released).
      await c.settleBudget(key, "2026-11", first.reservation, 50);
      await c.releaseBudget(key, "2026-11", second.reservation);
      await c.releaseBudget(key, "2026-11", second.reservation);
      assert.equal(await c.getSpent(key, "2026-11"), 150);
      const third = await c.reserveBudget(key, "2026-11", 1_000, { need: 850, want: 900 }, MIN, T);
      assert.ok(third.loaded);
      assert.equal(third.granted, 850);
      await c.initSpent(key, "2026-12", 0, 3_600);
      assert.ok((await c.reserveBudget(key, "2026-12", 1_000, { need: 1_000, want: 1_000 }, MIN, T)).loaded, "periods are separate");
      // Nothing left at all: refused even when nothing is needed (a free completion).
      await c.initSpent(key, "total", 1_000, null);
      assert.deepEqual(await c.reserveBudget(key, "total", 1_000, { need: 0, want: 0 }, MIN, T), {
        loaded: true,
        granted: 0,
        reservation: null,
        spent: 1_000,
        reserved: 0,
      });
    });

    it("budget: each reservation expires on its own after its TTL, however busy the key is (a dead replica's too)", async () => {
      const key = uniqueKey("resv-expiry");
      await c.initSpent(key, "total", 0, null);
      const ttl = 10_000;
      // A replica reserves 600 and dies: never settled, never renewed.
      const dead = await c.reserveBudget(key, "total", 1_000, { need: 600, want: 600 }, ttl, T);
      assert.ok(dead.loaded && dead.granted === 600);
      // A request in flight on a live replica renews its reservation.
      const live = await c.reserveBudget(key, "total", 1_000, { need: 100, want: 100 }, ttl, T);
      assert.ok(live.loaded && live.reservation !== null);
      // Traffic on the key all along: none of it may keep the dead reservation alive.
      for (let t = T + 1_000; t < T + ttl; t += 1_000) {
        const busy = await c.reserveBudget(key, "total", 1_000, { need: 300, want: 300 }, ttl, t);
        assert.ok(busy.loaded && busy.reservation !== null, `room for 300 at +${t - T} ms`);
        assert.equal(busy.reserved, 700, "the dead 600 and the live 100 are still held");
        await c.releaseBudget(key, "total", busy.reservation);
        if (t === T + 5_000) await c.renewBudget(key, "total", live.reservation, ttl, t);
      }
      assert.equal(reservationOf(await c.reserveBudget(key, "total", 1_000, { need: 301, want: 301 }, ttl, T + ttl - 1)), null);
      // The TTL has passed: the dead reservation is gone, the renewed one is not.
      const after = await c.reserveBudget(key, "total", 1_000, { need: 900, want: 900 }, ttl, T + ttl);
      assert.ok(after.loaded);
      assert.equal(after.reserved, 100);
      assert.equal(after.granted, 900);
      // Renewing an expired reservation does not bring it back.
      await c.renewBudget(key, "total", dead.reservation!, ttl, T + ttl);
      assert.equal(reservationOf(await c.reserveBudget(key, "total", 1_000, { need: 1, want: 1 }, ttl, T + ttl)), null, "900 + 100 held");
      assert.equal((await c.reserveBudget(key, "total", 1_000, { need: 0, want: 0 }, ttl, T + 5_000 + ttl)).loaded, true);
      const late = await c.reserveBudget(key, "total", 1_000, { need: 100, want: 100 }, ttl, T + 5_000 + ttl);
      assert.ok(late.loaded && late.reserved === 900, "the renewed reservation expired a TTL after its renewal");
    });

    it("key changes reach listeners, asynchronously", async () => {
      const publisher = await open();
      // Redis: another replica hears it; Maps: only the same instance can.
      const receiver = backend.shared ? await open() : publisher;
      const got: string[] = [];
      const got2: string[] = [];
      receiver.onKeyChange((keyId) => got.push(keyId));
      receiver.onKeyChange((keyId) => got2.push(keyId));
      if (receiver instanceof RedisCounters) await receiver.open(); // certain the subscription is in place
      const key = uniqueKey("changed");
      const publishing = publisher.publishKeyChange(key);
      assert.deepEqual(got, [], "not called synchronously");
      await publishing;
      await waitFor("the key change", () => got.length === 1 && got2.length === 1);
      assert.deepEqual(got, [key]);
      assert.deepEqual(got2, [key]);
    });

    it("a listener that throws goes to onError; the others still hear the change", async () => {
      const errors: unknown[] = [];
      const counters =
        backend.name === "memory"
          ? new MemoryCounters({ onError: (e) => errors.push(e) })
          : new RedisCounters({ url: REDIS_URL, prefix: PREFIX, onError: (e) => errors.push(e) });
      opened.push(counters);
      if (counters instanceof RedisCounters) await counters.open();
      const got: string[] = [];
      counters.onKeyChange(() => {
        throw new Error("listener broke");
      });
      counters.onKeyChange((k) => got.push(k));
      await counters.publishKeyChange("k1");
      await waitFor("the key change", () => got.length === 1 && errors.length === 1);
      assert.match(String(errors[0]), /listener broke/);
    });

    it(
      backend.shared
        ? "exact across replicas: 2 instances × 50 concurrent takeRequest against limit 37 allow exactly 37"
        : "exact under concurrency: 100 concurrent takeRequest against limit 37 allow exactly 37",
      async () => {
        const replicas = backend.shared ? [await open(), await open()] : [c, c];
        const key = uniqueKey("race");
        const now = Date.now();
        const decisions = await Promise.all(replicas.flatMap((r) => Array.from({ length: 50 }, () => r.takeRequest(key, 37, now))));
        assert.equal(decisions.filter((d) => d.allowed).length, 37);
        const remaining = decisions.filter((d) => d.allowed).map((d) => d.remaining).sort((x, y) => x - y);
        assert.deepEqual(remaining, Array.from({ length: 37 }, (_, i) => i), "each slot handed out once");
        assert.equal((await replicas[0]!.takeRequest(key, 37, now)).allowed, false);
      },
    );

    it("calls after close reject", async () => {
      const counters = await open();
      await counters.close();
      await assert.rejects(counters.takeRequest(uniqueKey("closed"), 1, T), /close/);
    });
  });
}

/** Deletes every key under this run's prefix. */
async function deleteTestKeys(admin: Redis): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await admin.scan(cursor, "MATCH", `${PREFIX}*`, "COUNT", 1_000);
    cursor = next;
    if (keys.length > 0) await admin.del(...keys);
  } while (cursor !== "0");
}

describe("limits counters in memory", () => {
  counterSuite({ name: "memory", shared: false, open: async () => new MemoryCounters() });

  describe("memory: specifics", () => {
    it("memory stays bounded: idle windows, expired spent counters and reservations are swept", async () => {
      let real = Date.now();
      const clock = mock.method(Date, "now", () => real);
      const m = new MemoryCounters();
      try {
        for (let i = 0; i < 1_000; i++) {
          await m.takeRequest(`k${i}`, 10);
          await m.reserveTokens(`k${i}`, 10, { need: 5, want: 5 });
          await m.initSpent(`k${i}`, "2026-11-22", 1, 300);
          await m.reserveBudget(`k${i}`, "2026-11-22", 10, { need: 1, want: 1 }, 10 * MIN);
        }
        await m.initSpent("forever", "total", 1, null);
        assert.deepEqual(m.stats(), { requestWindows: 1_000, tokenWindows: 1_000, spent: 1_001, reserved: 1_000 });
        real += 2 * MIN;
        await m.takeRequest("fresh", 10);
        assert.deepEqual(m.stats(), { requestWindows: 1, tokenWindows: 0, spent: 1_001, reserved: 1_000 });
        real += 10 * MIN;
        await m.takeRequest("fresh", 10);
        assert.deepEqual(m.stats(), { requestWindows: 1, tokenWindows: 0, spent: 1, reserved: 0 });
        assert.equal(await m.getSpent("forever", "total"), 1);
      } finally {
        clock.mock.restore();
        await m.close();
      }
    });

  });
});

/** Pings once with its own connection; rejects with a message that says how to fix it. */
async function pingRedis(): Promise<Redis> {
  const admin = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 3_000, retryStrategy: () => null });
  let lastError = "";
  admin.on("error", (error: Error) => (lastError = error.message)); // reported by the failed ping below
  try {
    assert.equal(await admin.ping(), "PONG");
    return admin;
  } catch (error) {
    admin.disconnect();
    throw new Error(
      `Redis is required for test/limits.test.ts and is not reachable at ${REDIS_URL} (set CHATPORT_TEST_REDIS_URL): ${String(error)} ${lastError}`,
      { cause: error },
    );
  }
}

// Its own test so that a missing Redis shows up as a failed test, not only as
// the cancelled tests of the suite below.
it("Redis is reachable for the Redis counter tests", async () => {
  await (await pingRedis()).quit();
});

describe("limits counters on Redis", () => {
  let admin: Redis;

  before(async () => {
    admin = await pingRedis();
  });

  after(async () => {
    if (admin?.status !== "ready") return;
    await deleteTestKeys(admin);
    await admin.quit();
  });

  counterSuite({
    name: "redis",
    shared: true,
    open: async () => {
      const counters = new RedisCounters({ url: REDIS_URL, prefix: PREFIX });
      await counters.open();
      return counters;
    },
  });

  describe("redis: specifics", () => {
    let c: RedisCounters;
    before(async () => {
      c = new RedisCounters({ url: REDIS_URL, prefix: PREFIX });
      await c.open();
    });
    after(async () => {
      await c.close();
    });

    it("keys live under the prefix and expire: windows after 60 s, reservations with their latest", async () => {
      const key = uniqueKey("ttl");
      await c.takeRequest(key, 5);
      await c.reserveTokens(key, 10, { need: 1, want: 1 });
      await c.initSpent(key, "2026-11", 1, 3_600);
      await c.initSpent(key, "total", 1, null);
      const held = await c.reserveBudget(key, "2026-11", 10, { need: 1, want: 1 }, 30_000);
      const keys = (await admin.keys(`${PREFIX}*${key}`)).sort();
      assert.deepEqual(keys, [
        `${PREFIX}req:${key}`,
        `${PREFIX}resv:2026-11:${key}`,
        `${PREFIX}spent:2026-11:${key}`,
        `${PREFIX}spent:total:${key}`,
        `${PREFIX}tok:${key}`,
      ]);
      const pttl = async (k: string): Promise<number> => admin.pttl(`${PREFIX}${k}`);
      for (const k of [`req:${key}`, `tok:${key}`]) assert.ok((await pttl(k)) > 55_000 && (await pttl(k)) <= MIN, k);
      assert.ok((await pttl(`resv:2026-11:${key}`)) > 25_000 && (await pttl(`resv:2026-11:${key}`)) <= 30_000);
      assert.ok((await pttl(`spent:2026-11:${key}`)) > 3_500_000);
      assert.equal(await pttl(`spent:total:${key}`), -1, "total never expires");
      // Settling keeps the spent counter's TTL.
      assert.ok(held.loaded && held.reservation !== null);
      await c.settleBudget(key, "2026-11", held.reservation, 2);
      assert.ok((await pttl(`spent:2026-11:${key}`)) > 3_500_000);
    });

    it("a replica killed with reservations in flight: they expire on their own while another replica keeps the key busy", async () => {
      const key = uniqueKey("dead-replica");
      const ttlMs = 1_500;
      const dying = new RedisCounters({ url: REDIS_URL, prefix: PREFIX });
      await dying.open();
      await dying.initSpent(key, "total", 0, null);
      for (let i = 0; i < 3; i++) assert.ok((await dying.reserveBudget(key, "total", 1_000, { need: 300, want: 300 }, ttlMs)).loaded);
      // Killed: it never settles, releases or renews.
      await dying.close();
      const start = Date.now();
      let room = 0;
      // The survivor's traffic on the same key, until the bound has passed.
      while (Date.now() - start <= ttlMs + 100) {
        const d = await c.reserveBudget(key, "total", 1_000, { need: 1, want: 1_000 }, ttlMs);
        assert.ok(d.loaded && d.reservation !== null);
        room = d.granted;
        await c.releaseBudget(key, "total", d.reservation);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.equal(room, 1_000, "the whole budget is free once the dead replica's reservations expired");
    });

    it("key ids with separators cannot collide", async () => {
      const base = uniqueKey("sep");
      await c.initSpent(`${base}:2026`, "11", 1, null);
      assert.equal(await c.getSpent(base, "2026:11"), null);
    });

    it("a Redis that is down makes calls reject with a clear error (a 503 for the client), within seconds", async () => {
      const down = new RedisCounters({ url: "redis://127.0.0.1:1", prefix: PREFIX });
      const start = Date.now();
      try {
        await assert.rejects(down.takeRequest("k", 1, T), (error: Error) => {
          assert.ok(error instanceof StorageUnavailableError);
          assert.equal(error.status, 503);
          assert.equal(error.headers["retry-after"], "5");
          assert.match(error.detail, /127\.0\.0\.1:1/);
          assert.match(error.detail, /takeRequest failed/);
          assert.match(error.detail, /ECONNREFUSED/);
          assert.doesNotMatch(error.message, /127\.0\.0\.1/, "the client is not told where Redis is");
          return true;
        });
        assert.ok(Date.now() - start < 5_000, `took ${Date.now() - start} ms`);
      } finally {
        await down.close();
      }
    });

    it("openCounters: Redis with a URL, Maps without", async () => {
      const redis = await openCounters({ redisUrl: REDIS_URL, prefix: PREFIX });
      try {
        assert.ok(redis instanceof RedisCounters);
        assert.equal(redis.prefix, PREFIX);
        const key = uniqueKey("open");
        await redis.takeRequest(key, 1, T);
        assert.equal((await c.takeRequest(key, 1, T)).allowed, false, "the same counters as another instance");
      } finally {
        await redis.close();
      }
      for (const redisUrl of [null, undefined, ""]) {
        const memory = await openCounters({ redisUrl });
        assert.ok(memory instanceof MemoryCounters);
        await memory.close();
      }
    });

    it("openCounters with an unreachable Redis rejects naming host:port, never the password", async () => {
      const start = Date.now();
      await assert.rejects(openCounters({ redisUrl: "redis://user:secretpw@127.0.0.1:1", prefix: PREFIX }), (error: Error) => {
        assert.match(error.message, /127\.0\.0\.1:1/);
        assert.doesNotMatch(inspect(error, { depth: 10 }), /secretpw/);
        assert.doesNotMatch(String(error.stack), /secretpw/);
        return true;
      });
      assert.ok(Date.now() - start < 5_000, `took ${Date.now() - start} ms`);
    });

    it("openCounters with a malformed URL rejects without repeating it", async () => {
      for (const redisUrl of ["user:secretpw@127.0.0.1:6379", "http://user:secretpw@127.0.0.1:6379", "redis://user:secretpw@[::1"]) {
        await assert.rejects(openCounters({ redisUrl }), (error: Error) => {
          assert.match(error.message, /invalid Redis URL/);
          assert.doesNotMatch(inspect(error, { depth: 10 }), /secretpw/);
          return true;
        });
      }
    });

    it("openCounters with a wrong password rejects without repeating it", async () => {
      // The test Redis has no password: AUTH fails either way.
      const url = new URL(REDIS_URL);
      url.username = "nobody";
      url.password = "secretpw";
      await assert.rejects(openCounters({ redisUrl: url.toString(), prefix: PREFIX }), (error: Error) => {
        assert.match(error.message, new RegExp(`${url.hostname.replace(/\./g, "\\.")}:${url.port || 6379}`));
        assert.doesNotMatch(inspect(error, { depth: 10 }), /secretpw/);
        return true;
      });
    });
  });

});

describe("budget periods (UTC)", () => {
  const at = (iso: string): Date => new Date(iso);

  it("period keys: day, month, total, at the boundaries", () => {
    assert.equal(budgetPeriodKey("daily", at("2026-11-22T00:00:00.000Z")), "2026-11-22");
    assert.equal(budgetPeriodKey("daily", at("2026-11-22T23:59:59.999Z")), "2026-11-22");
    assert.equal(budgetPeriodKey("daily", at("2026-11-23T00:00:00.000Z")), "2026-11-23");
    assert.equal(budgetPeriodKey("monthly", at("2026-11-30T23:59:59.999Z")), "2026-11");
    assert.equal(budgetPeriodKey("monthly", at("2026-12-01T00:00:00.000Z")), "2026-12");
    assert.equal(budgetPeriodKey("monthly", at("2026-12-31T23:59:59.999Z")), "2026-12");
    assert.equal(budgetPeriodKey("monthly", at("2027-01-01T00:00:00.000Z")), "2027-01");
    assert.equal(budgetPeriodKey("daily", at("2028-02-29T12:00:00Z")), "2028-02-29");
    assert.equal(budgetPeriodKey("total", at("2026-11-22T10:00:00Z")), "total");
    // UTC, whatever the offset the time was written with.
    assert.equal(budgetPeriodKey("daily", at("2026-11-22T23:30:00-05:00")), "2026-11-23");
    assert.equal(budgetPeriodKey("monthly", at("2026-12-01T00:30:00+01:00")), "2026-11");
  });

  it("period starts", () => {
    assert.equal(periodStart("daily", at("2026-11-22T15:04:05.123Z"))?.toISOString(), "2026-11-22T00:00:00.000Z");
    assert.equal(periodStart("daily", at("2026-11-22T00:00:00.000Z"))?.toISOString(), "2026-11-22T00:00:00.000Z");
    assert.equal(periodStart("monthly", at("2026-11-22T15:04:05Z"))?.toISOString(), "2026-11-01T00:00:00.000Z");
    assert.equal(periodStart("monthly", at("2027-01-01T00:00:00Z"))?.toISOString(), "2027-01-01T00:00:00.000Z");
    assert.equal(periodStart("total", at("2026-11-22T15:04:05Z")), null);
  });

  it("TTLs reach past the end of the period by the margin", () => {
    const m = PERIOD_TTL_MARGIN_SECONDS;
    assert.ok(m > 0 && m <= 24 * 3600);
    assert.equal(periodTtlSeconds("daily", at("2026-11-22T00:00:00.000Z")), 86_400 + m);
    assert.equal(periodTtlSeconds("daily", at("2026-11-22T23:59:59.500Z")), 1 + m, "rounded up");
    assert.equal(periodTtlSeconds("monthly", at("2026-12-31T12:00:00Z")), 43_200 + m, "December ends at the new year");
    assert.equal(periodTtlSeconds("monthly", at("2028-02-28T00:00:00Z")), 2 * 86_400 + m, "leap February");
    assert.equal(periodTtlSeconds("monthly", at("2026-11-01T00:00:00Z")), 30 * 86_400 + m);
    assert.equal(periodTtlSeconds("total", at("2026-11-22T00:00:00Z")), null);
  });

  it("an invalid Date is refused", () => {
    assert.throws(() => budgetPeriodKey("daily", new Date("nope")), RangeError);
    assert.throws(() => periodStart("monthly", new Date(Number.NaN)), RangeError);
    assert.throws(() => periodTtlSeconds("daily", new Date("nope")), RangeError);
  });
});
