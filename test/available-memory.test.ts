/**
 * The memory a process may allocate (src/engines/llama/available-memory.ts):
 * a cgroup's limit and usage read from cgroup v2 and v1 trees laid out as the
 * kernel does (written to a temporary directory), and the live reading.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { availableMemory, cgroupMemory, describeAvailableMemory } from "../src/engines/llama/available-memory.js";

const GiB = 2 ** 30;

/** A directory tree from `{ "a/memory.max": "…" }`; returns its root. */
function tree(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "chatport-cgroup-"));
  for (const [file, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), content);
  }
  return root;
}

describe("cgroup memory", () => {
  test("v2: the level with the least room binds, its inactive page cache not counted as used", async () => {
    const root = tree({
      "proc/self/cgroup": "0::/system.slice/chatport.service\n",
      "sys/cgroup.controllers": "cpu memory\n",
      "sys/memory.current": String(20 * GiB),
      "sys/system.slice/memory.max": String(8 * GiB),
      "sys/system.slice/memory.current": String(5 * GiB),
      "sys/system.slice/memory.stat": `anon 1\ninactive_file ${2 * GiB}\nactive_file 7\n`,
      "sys/system.slice/chatport.service/memory.max": String(10 * GiB),
      "sys/system.slice/chatport.service/memory.current": String(4 * GiB),
      "sys/system.slice/chatport.service/memory.stat": "inactive_file 0\n",
    });
    // The service has 6 GiB of room under its own limit, the slice 8 − (5 − 2) = 5 GiB.
    assert.deepEqual(await cgroupMemory(path.join(root, "proc/self/cgroup"), path.join(root, "sys")), { limit: 8 * GiB, usage: 3 * GiB });
  });

  test("v2 without a limit anywhere, and inside a cgroup namespace (the mount is the process's own cgroup)", async () => {
    const unlimited = tree({ "proc": "0::/user.slice\n", "sys/cgroup.controllers": "memory\n", "sys/user.slice/memory.max": "max\n", "sys/user.slice/memory.current": "100\n" });
    assert.equal(await cgroupMemory(path.join(unlimited, "proc"), path.join(unlimited, "sys")), null);
    const namespaced = tree({ "proc": "0::/\n", "sys/cgroup.controllers": "memory\n", "sys/memory.max": String(2 * GiB), "sys/memory.current": String(GiB), "sys/memory.stat": "inactive_file 1000\n" });
    assert.deepEqual(await cgroupMemory(path.join(namespaced, "proc"), path.join(namespaced, "sys")), { limit: 2 * GiB, usage: GiB - 1000 });
  });

  test("v1: memory.stat's hierarchical limit; usage less total_inactive_file; 2^63 is no limit", async () => {
    const limited = tree({
      "proc": "9:cpu,cpuacct:/\n4:memory:/docker/abc\n0::/\n",
      "sys/memory/docker/abc/memory.limit_in_bytes": "9223372036854771712\n",
      "sys/memory/docker/abc/memory.usage_in_bytes": String(3 * GiB),
      "sys/memory/docker/abc/memory.stat": `cache 5\nhierarchical_memory_limit ${4 * GiB}\ntotal_inactive_file ${GiB}\n`,
    });
    assert.deepEqual(await cgroupMemory(path.join(limited, "proc"), path.join(limited, "sys")), { limit: 4 * GiB, usage: 2 * GiB });
    const unlimited = tree({
      "proc": "4:memory:/x\n",
      "sys/memory/x/memory.limit_in_bytes": "9223372036854771712\n",
      "sys/memory/x/memory.usage_in_bytes": "100\n",
      "sys/memory/x/memory.stat": "hierarchical_memory_limit 9223372036854771712\n",
    });
    assert.equal(await cgroupMemory(path.join(unlimited, "proc"), path.join(unlimited, "sys")), null);
  });

  test("this machine: the smaller of MemAvailable and the cgroup's room", async () => {
    const memory = await availableMemory();
    assert.equal(memory.system <= os.totalmem(), true);
    assert.equal(memory.bytes, memory.cgroup === null ? memory.system : Math.min(memory.system, memory.cgroup.limit - memory.cgroup.usage));
    assert.ok(memory.bytes > 0);
    assert.match(describeAvailableMemory(memory), /^MemAvailable [\d.]+ (GiB|MiB); (no cgroup memory limit|cgroup limit .* in use)$/);
    console.log(`# ${describeAvailableMemory(memory)}`);
  });
});
