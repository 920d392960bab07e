/**
 * `chatport bench schemas` itself, through the CLI, on a data folder of its
 * own and a real trained model (stories260K, from ../shared): `--model`
 * chooses the GGUF the outputs are generated with, a schema whose output
 * ends is validated, and a generation cut by the token limit is counted as a
 * `length` cut that keeps the tail of what ran long.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import type { SchemaBenchReport } from "../src/bench/schema-bench.js";
import { cliPath } from "./helpers/server.js";
import { missingSharedFile, storiesModelPath } from "./helpers/shared-files.js";

const stories = storiesModelPath();

test("bench schemas --model generates with the given GGUF, validates what ends and reports length cuts with their tail", { skip: stories === null ? missingSharedFile("models/stories260K.gguf") : false, timeout: 180_000 }, async () => {
  const data = fs.mkdtempSync(path.join(os.tmpdir(), "chatport-schema-bench-data-"));
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "chatport-schema-bench-out-"));
  try {
    fs.mkdirSync(path.join(data, "Mini"));
    // Ends after a handful of tokens: an object with one boolean.
    fs.writeFileSync(path.join(data, "Mini", "a-flag.json"), JSON.stringify({ type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"], additionalProperties: false }));
    // Cannot end within 64 tokens: a string of at least 1,000 characters.
    fs.writeFileSync(path.join(data, "Mini", "b-long.json"), JSON.stringify({ type: "string", minLength: 1000 }));
    const { stdout } = await promisify(execFile)(process.execPath, [cliPath, "bench", "schemas", "--model", stories ?? "", "--data", data, "--subsets", "Mini", "--max-tokens", "64", "--seed", "1", "--out", out]);
    assert.match(stdout, /\| Mini \| 2 \|/);
    const json = fs.readdirSync(out).find((f) => f.startsWith("schemas-") && f.endsWith(".json"));
    assert.ok(json !== undefined, fs.readdirSync(out).join(", "));
    const report = JSON.parse(fs.readFileSync(path.join(out, json), "utf8")) as SchemaBenchReport;
    assert.equal(report.config.modelPath, "stories260K.gguf");
    assert.equal(report.config.maxTokens, 64);
    const byFile = new Map(report.cases.map((c) => [c.file, c]));
    assert.equal(byFile.get("a-flag.json")?.outcome, "valid", JSON.stringify(byFile.get("a-flag.json")));
    const cut = byFile.get("b-long.json");
    assert.equal(cut?.outcome, "length", JSON.stringify(cut));
    assert.equal(cut.tokens, 64);
    assert.match(cut.detail ?? "", /^…"?[^"]+$/, "the tail of the cut output: inside the string that never closed");
    const [subset] = report.subsets;
    assert.deepEqual({ schemas: subset?.schemas, accepted: subset?.accepted, valid: subset?.valid, invalid: subset?.invalid, lengthCuts: subset?.lengthCuts }, { schemas: 2, accepted: 2, valid: 1, invalid: 0, lengthCuts: 1 });
  } finally {
    fs.rmSync(data, { recursive: true, force: true });
    fs.rmSync(out, { recursive: true, force: true });
  }
});
