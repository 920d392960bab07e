import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { cgroupCpuLimit, parseCfsQuota, parseCpuMax, usableCpus } from "../src/engines/llama/cpu-budget.js";

test("cgroup v2 cpu.max: unlimited, whole and fractional quotas", () => {
  assert.equal(parseCpuMax("max 100000\n"), null);
  assert.equal(parseCpuMax("200000 100000\n"), 2);
  assert.equal(parseCpuMax("150000 100000"), 1);
  assert.equal(parseCpuMax("50000 100000"), 1, "never below one thread");
  assert.equal(parseCpuMax("garbage"), null);
});

test("cgroup v1 cfs quota", () => {
  assert.equal(parseCfsQuota("-1", "100000"), null);
  assert.equal(parseCfsQuota("400000", "100000"), 4);
});

test("a cgroup directory with a quota caps the threads; none leaves the affinity mask", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "cgroup-"));
  try {
    assert.equal(cgroupCpuLimit(root), null);
    fs.writeFileSync(path.join(root, "cpu.max"), "100000 100000\n");
    assert.equal(cgroupCpuLimit(root), 1);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  assert.ok(usableCpus() >= 1 && usableCpus() <= os.availableParallelism());
});
