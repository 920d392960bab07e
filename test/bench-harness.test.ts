/**
 * The benchmark harness itself, on the tiny model in its quick mode: it runs
 * every system it has and writes complete reports. No timing is asserted —
 * speed lives in `npm run bench`, not in tests.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import type { BenchReport } from "../src/bench/report.js";
import { tinyModelPath } from "./helpers/models.js";
import { cliPath } from "./helpers/server.js";

test("chatport bench --quick measures node-llama-cpp and chatport and writes JSON, Markdown and SVG", { timeout: 180_000 }, async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "chatport-bench-"));
  // Run from a folder of its own: the bench must leave no ledger in the directory it is run from (the checkout, for `npm run bench`).
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "chatport-bench-cwd-"));
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [cliPath, "bench", "--model", await tinyModelPath(), "--quick", "--threads", "1", "--out", out, "--no-llama-server", "--stagger-ms", "20"],
      // chatport inherits its settings from the environment, and the report says which it ran with (never a secret).
      { cwd, env: { ...process.env, CHATPORT_MAX_STALL: "2", CHATPORT_UPSTREAM_API_KEY: "sk-bench-secret" } },
    );
    assert.match(stderr, /\[bench .*\] chatport: 2 stream\(s\)/, "progress is shown while it runs");
    assert.match(stdout, /\| chatport \| 2 \|/);
    const files = fs.readdirSync(out);
    const json = files.find((f) => f.endsWith(".json"));
    assert.ok(json !== undefined && files.some((f) => f.endsWith(".md")) && files.some((f) => f.endsWith(".svg")), files.join(", "));
    const text = fs.readFileSync(path.join(out, json), "utf8");
    assert.doesNotMatch(text, /sk-bench-secret/);
    const report = JSON.parse(text) as BenchReport;
    assert.equal(report.config.staggerMs, 20);
    assert.equal(report.config.chatportEnv?.CHATPORT_MAX_STALL, "2");
    const markdown = fs.readFileSync(path.join(out, files.find((f) => f.endsWith(".md"))!), "utf8");
    assert.match(markdown, /started 20 ms apart/);
    assert.match(markdown, /`CHATPORT_MAX_STALL=2`/);
    const systems = new Set(report.levels.map((l) => `${l.system}@${l.concurrency}`));
    for (const key of ["node-llama-cpp@1", "node-llama-cpp@2", "chatport@1", "chatport@2"]) assert.ok(systems.has(key), key);
    for (const level of report.levels) {
      assert.ok(level.aggregateTps > 0 && level.ttftP50 > 0 && Number.isFinite(level.itlP50), JSON.stringify(level));
    }
    const chatport = report.prompts.find((p) => p.system === "chatport");
    assert.ok((chatport?.cachedTokens ?? 0) > 100, "the shared-prefix run reports cached tokens");
    assert.match(fs.readFileSync(path.join(out, files.find((f) => f.endsWith(".svg"))!), "utf8"), /<polyline/);
    assert.deepEqual(fs.readdirSync(cwd), [], "no ledger (.chatport/) was written where the bench ran");
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
    fs.rmSync(cwd, { recursive: true, force: true });
  }
});
