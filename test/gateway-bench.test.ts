/**
 * `chatport bench gateway` itself, in a very short run: it starts the fake
 * upstream and both gateways, measures every phase and writes complete
 * reports. No timing is asserted — speed lives in `npm run bench -- gateway`.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import type { GatewayBenchReport } from "../src/bench/gateway-bench.js";
import { cliPath, repoRoot } from "./helpers/server.js";

const finite = (n: unknown): boolean => typeof n === "number" && Number.isFinite(n);

test("chatport bench gateway measures direct, the bare proxy, chatport, chatport+key and Portkey and writes JSON and Markdown", { timeout: 120_000 }, async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "chatport-gateway-bench-"));
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      // --concurrency, --max-tokens and --out are also `bench` options: they must still reach the subcommand.
      [cliPath, "bench", "gateway", "--duration", "0.5", "--warmup", "0.3", "--rate", "50", "--concurrency", "4", "--max-tokens", "8", "--stream-concurrency", "2", "--stream-tokens", "16", "--out", out],
      { cwd: repoRoot },
    );
    assert.match(stderr, /\[bench .*\] open loop 50 req\/s: round 1\/1/, "progress is shown while it runs");
    assert.match(stdout, /\| chatport\+key \|/);
    const files = fs.readdirSync(out);
    const json = files.find((f) => /^gateway-.*\.json$/.test(f));
    const md = files.find((f) => /^gateway-.*\.md$/.test(f));
    assert.ok(json !== undefined && md !== undefined, files.join(", "));
    const report = JSON.parse(fs.readFileSync(path.join(out, json), "utf8")) as GatewayBenchReport;

    assert.deepEqual(report.config.concurrency, 4);
    assert.equal(report.config.maxTokens, 8);
    assert.equal(report.config.streamTokens, 16);
    // Portkey 1.15.2's streams fail on Node 20 ("TypeError: immutable", Portkey-AI/gateway#1389): it then sits out the streaming phases, and the report says so.
    const portkeyStreams = !report.notes.some((n) => n.startsWith("portkey sat out the streaming phases"));
    for (const phase of [report.openLoop, report.closedLoop]) assert.deepEqual(phase.map((r) => r.system), ["direct", "bare-proxy", "chatport", "chatport+key", "portkey"]);
    for (const phase of [report.streaming, report.pacedStreaming]) {
      assert.deepEqual(phase.map((r) => r.system), ["direct", "bare-proxy", "chatport", "chatport+key", ...(portkeyStreams ? ["portkey"] : [])]);
    }
    for (const r of report.openLoop) {
      assert.equal(r.errors, 0, JSON.stringify(report.errorSamples));
      assert.ok(r.completed > 0 && finite(r.p50) && finite(r.p99), JSON.stringify(r));
    }
    for (const r of report.closedLoop) assert.ok(r.errors === 0 && r.completed > 0 && finite(r.rps), JSON.stringify(r));
    for (const r of [...report.streaming, ...report.pacedStreaming]) {
      assert.ok(r.errors === 0 && r.streams > 0 && finite(r.tokensPerSec) && finite(r.ttfcP50), JSON.stringify(r));
      // Every stream carried all its chunks.
      assert.equal(Math.round((r.tokensPerSec * r.seconds) / r.streams), 16, JSON.stringify(r));
    }
    assert.deepEqual(report.added.map((a) => a.system), ["bare-proxy", "chatport", "chatport+key", "portkey"]);
    assert.ok(report.targets.some((t) => t.name.startsWith("chatport − portkey: p99 added latency")), "chatport is compared with the peer");
    if (portkeyStreams) assert.ok(Object.keys(report.ratios).some((k) => k.startsWith("chatport/portkey stream tokens/s")));
    for (const a of report.added) assert.ok(finite(a.p50) && finite(a.p99), JSON.stringify(a));

    const ratios = Object.entries(report.ratios);
    for (const system of ["bare-proxy", "chatport", "chatport+key"]) {
      for (const what of ["max req/s", "stream tokens/s", "paced stream tokens/s", "p50 latency"]) {
        assert.ok(ratios.some(([k]) => k.startsWith(`${system}/direct ${what}`)), `${system} ${what}: ${Object.keys(report.ratios).join(", ")}`);
      }
    }
    for (const [k, v] of ratios) assert.ok(finite(v) && v > 0, `${k} = ${v}`);
    // Per gateway (not the bare proxy, an instrument): p50 and p99 added latency and two streaming ratios; then chatport − Portkey at p50 and p99.
    assert.equal(report.targets.length, 2 * 4 + (portkeyStreams ? 4 : 2) + 2);
    for (const t of report.targets) assert.ok(finite(t.value) && typeof t.met === "boolean", JSON.stringify(t));
    assert.ok(report.cpu.length === (portkeyStreams ? 20 : 18) && report.cpu.every((c) => finite(c.loadgenPct)), JSON.stringify(report.cpu));
    // The floor: CPU per request of every system's own serving process, and chatport's share above the bare proxy.
    assert.deepEqual(report.cpuPerRequest.map((r) => r.system), ["direct", "bare-proxy", "chatport", "chatport+key", "portkey"]);
    for (const r of report.cpuPerRequest) assert.ok(finite(r.cpuUs) && r.cpuUs >= 0, JSON.stringify(r));
    assert.ok(report.aboveFloor !== null && finite(report.aboveFloor.p50) && finite(report.aboveFloor.p99), JSON.stringify(report.aboveFloor));

    const markdown = fs.readFileSync(path.join(out, md), "utf8");
    assert.match(markdown, /^# chatport gateway benchmark/);
    assert.match(markdown, /Added latency/);
    assert.match(markdown, /\| bare-proxy \| \d+ \|/, "CPU per request of the floor");
    assert.match(markdown, /chatport's own share \(added latency above the bare proxy's/);
    assert.match(markdown, /\| chatport\/direct max req\/s @4 \| \d+\.\d\d \|/);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
