import assert from "node:assert/strict";
import { test } from "node:test";
import { SlotPool } from "../src/engines/llama/slot-pool.js";

test("among equal scores the lowest slot wins, also after slots come back out of order", async () => {
  const pool = new SlotPool(["s0", "s1", "s2", "s3"], 0);
  const signal = new AbortController().signal;
  const none = (): number => 0;
  const taken = [await pool.acquire(none, signal), await pool.acquire(none, signal), await pool.acquire(none, signal)];
  assert.deepEqual(taken, ["s0", "s1", "s2"]);
  pool.release("s2");
  pool.release("s0");
  assert.equal(await pool.acquire(none, signal), "s0");
  assert.equal(await pool.acquire(none, signal), "s2");
  assert.equal(await pool.acquire((s) => (s === "s3" ? 10 : 0), signal), "s3", "a better score still wins");
});
