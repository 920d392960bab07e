/**
 * A model's context sized to the memory, seen from outside on real
 * `chatport serve` processes: `--ctx auto` gives the tiny model its training
 * context (it fits anywhere); an explicit `--ctx` whose KV cache is bigger
 * than this machine's memory stops the server at start with one message,
 * before anything is allocated.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { readGgufFileInfo } from "node-llama-cpp";
import OpenAI from "openai";
import { attentionShape, kvBytesPerCell } from "../src/engines/llama/kv-cache-memory.js";
import { tinyModelPath } from "./helpers/models.js";
import { cliPath, startServer, tempDbPath } from "./helpers/server.js";

const adminKey = "admin-context-fit-0123456789";

interface AdminModel {
  id: string;
  context_length: number;
  kv_cache: { size: number; sequences: number; context_per_sequence: number; type: string; bytes: number } | null;
}

test("--ctx auto: the tiny model gets its training context; /admin/models and the `model loaded` line show it", async () => {
  const file = await tinyModelPath();
  const header = await readGgufFileInfo(file, { readTensorInfo: false });
  const trainContext = header.architectureMetadata.context_length;
  assert.equal(typeof trainContext, "number");
  const server = await startServer({ models: { tiny: file }, args: ["--threads", "1", "--parallel", "2", "--ctx", "auto"], adminKey });
  try {
    const models = (await (await fetch(server.baseURL.replace("/v1", "/admin/models"), { headers: { authorization: `Bearer ${adminKey}` } })).json()) as { data: AdminModel[] };
    const tiny = models.data.find((m) => m.id === "tiny");
    assert.equal(tiny?.context_length, trainContext);
    assert.equal(tiny?.kv_cache?.context_per_sequence, trainContext);
    assert.equal(tiny?.kv_cache?.size, 2 * trainContext!);
    const loaded = server.jsonLogs().find((line) => line.msg === "model loaded" && line.model === "tiny");
    assert.equal(loaded?.contextSize, trainContext);
    assert.equal(loaded?.contextSource, "auto");
    assert.equal(typeof loaded?.memoryAvailableMiB, "number");
    const client = new OpenAI({ baseURL: server.baseURL, apiKey: adminKey, maxRetries: 0 });
    const res = await client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 2 });
    assert.equal(res.choices.length, 1);
  } finally {
    await server.stop();
  }
});

test("an explicit --ctx × --parallel 256 bigger than this machine's memory: exit 1 with one message, nothing allocated", { timeout: 120_000 }, async () => {
  const file = await tinyModelPath();
  const header = await readGgufFileInfo(file, { readTensorInfo: false });
  const shape = attentionShape(header.metadata.general.architecture, header.metadata as Record<string, unknown>);
  assert.ok(shape);
  const perCell = kvBytesPerCell(shape, "f16", "f16");
  // A KV cache of twice the machine's memory, in whole 256-token blocks per sequence.
  const ctx = Math.ceil((2 * os.totalmem()) / (perCell * 256) / 256) * 256;
  const kvBytes = perCell * ctx * 256;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "chatport-ctx-"));
  const rssFile = path.join(dir, "peak-rss-kib");
  const serveArgs = [cliPath, "serve", "--host", "127.0.0.1", "--port", "0", "--threads", "1", "--db-path", tempDbPath(), "--model", `tiny=${file}`, "--ctx", String(ctx), "--parallel", "256"];
  // GNU time reports the process's peak resident memory, where it is installed.
  const timed = fs.existsSync("/usr/bin/time");
  const started = Date.now();
  const child = timed ? spawn("/usr/bin/time", ["-f", "%M", "-o", rssFile, process.execPath, ...serveArgs]) : spawn(process.execPath, serveArgs);
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  const seconds = (Date.now() - started) / 1000;

  assert.equal(code, 1, `exit code; stderr:\n${stderr}`);
  const lines = stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one message:\n${stderr}`);
  const message = lines[0]!;
  assert.ok(message.startsWith(`chatport: model tiny: --ctx ${ctx} × --parallel 256 needs `), message);
  assert.ok(message.includes(`KV cache ${(kvBytes / 2 ** 30).toFixed(2)} GiB = ${kvBytes} bytes, f16; ${perCell} B per token`), message);
  assert.ok(message.includes(`weights ${(fs.statSync(file).size / 2 ** 20).toFixed(1)} MiB = ${fs.statSync(file).size} bytes`), message);
  assert.match(message, /but only [\d.]+ GiB = \d+ bytes are available \(MemAvailable /);
  assert.match(message, /lower --ctx or --parallel, use --kv-cache-type q8_0 .* or --ctx auto/);
  assert.ok(!stdout.includes("model loaded"), "the model never loaded");
  if (timed) {
    const peakMiB = Number(fs.readFileSync(rssFile, "utf8").trim().split("\n").pop()) / 1024;
    assert.ok(peakMiB < 1024, `peak RSS ${peakMiB.toFixed(0)} MiB, against a ${(kvBytes / 2 ** 30).toFixed(0)} GiB cache`);
    console.log(`# refused in ${seconds.toFixed(1)} s, peak RSS ${peakMiB.toFixed(0)} MiB; ${message}`);
  } else {
    console.log(`# refused in ${seconds.toFixed(1)} s (no /usr/bin/time: peak RSS not measured); ${message}`);
  }
});
