/**
 * `reasoning_effort` mapped per family (families/reasoning-effort.ts): the
 * default (off only at `none`, budgets 64 / 512 / 2048 / uncapped) and the
 * on-or-off families (Gemma 4, Granite 3.3) that switch thinking off below
 * `low`. The served behaviour is checked end to end in
 * gemma-phi-smollm-families.e2e.test.ts.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { effortPlan } from "../src/engines/llama/families/reasoning-effort.js";
import { MODEL_FAMILIES } from "../src/engines/llama/families/registry.js";

const family = (name: string) => MODEL_FAMILIES.find((f) => f.name === name) ?? assert.fail(`no family ${name}`);

test("the default map: off only at none, budgets by level, nothing without an effort", () => {
  const qwen3 = family("qwen3");
  assert.deepEqual(effortPlan(qwen3, null), { thinking: null, budget: null });
  assert.deepEqual(effortPlan(qwen3, "none"), { thinking: false, budget: 0 });
  assert.deepEqual(effortPlan(qwen3, "minimal"), { thinking: true, budget: 64 });
  assert.deepEqual(effortPlan(qwen3, "low"), { thinking: true, budget: 512 });
  assert.deepEqual(effortPlan(qwen3, "medium"), { thinking: true, budget: 2048 });
  assert.deepEqual(effortPlan(qwen3, "high"), { thinking: true, budget: null });
});

test("Gemma 4 and Granite 3.3 think or not: off below low, the default budgets above", () => {
  for (const name of ["gemma4", "granite3"]) {
    const f = family(name);
    assert.equal(effortPlan(f, "none").thinking, false, name);
    assert.equal(effortPlan(f, "minimal").thinking, false, name);
    assert.deepEqual(effortPlan(f, "low"), { thinking: true, budget: 512 }, name);
    assert.deepEqual(effortPlan(f, "high"), { thinking: true, budget: null }, name);
  }
});
