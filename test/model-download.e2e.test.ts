/**
 * `--model ID=hf:owner/repo/file.gguf` against a Hugging Face-style endpoint
 * on 127.0.0.1 (HF_ENDPOINT): downloaded once into the cache despite a dropped
 * connection, reused on the next start without the network, and a clear error when the
 * hub cannot be reached. (Byte-range resume of large files is the
 * downloader's own — node-llama-cpp / ipull — and needs files larger than
 * its chunk size, so it is not exercised on the tiny model here.)
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { spawn } from "node:child_process";
import { tinyModelPath } from "./helpers/models.js";
import { cliPath, repoRoot, startServer } from "./helpers/server.js";

interface Hit {
  method: string;
  url: string;
  range: string | undefined;
  bytes: number;
}

let hub: http.Server;
let hubUrl: string;
let modelBytes: Buffer;
const hits: Hit[] = [];
let dropFirstDownloadAt = 0;
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), "chatport-cache-"));
const filePath = "/acme/tiny-GGUF/resolve/main/tiny.gguf";

before(async () => {
  modelBytes = fs.readFileSync(await tinyModelPath());
  dropFirstDownloadAt = Math.floor(modelBytes.length / 2);
  hub = http.createServer((req, res) => {
    const hit: Hit = { method: req.method ?? "", url: req.url ?? "", range: req.headers.range, bytes: 0 };
    hits.push(hit);
    if (req.url?.split("?")[0] !== filePath) {
      res.writeHead(404).end();
      return;
    }
    const match = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
    const start = match ? Number(match[1]) : 0;
    const end = match?.[2] ? Number(match[2]) + 1 : modelBytes.length;
    const headers = {
      "content-type": "application/octet-stream",
      "accept-ranges": "bytes",
      "content-length": String(end - start),
      etag: '"tiny-v1"',
      ...(match ? { "content-range": `bytes ${start}-${end - 1}/${modelBytes.length}` } : {}),
    };
    res.writeHead(match ? 206 : 200, headers);
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    const body = modelBytes.subarray(start, end);
    if (dropFirstDownloadAt > 0 && start === 0 && body.length > dropFirstDownloadAt) {
      // Simulate a dropped connection halfway through the first full download.
      const cut = dropFirstDownloadAt;
      dropFirstDownloadAt = 0;
      hit.bytes = cut;
      res.write(body.subarray(0, cut), () => res.destroy());
      return;
    }
    hit.bytes = body.length;
    res.end(body);
  });
  await new Promise<void>((resolve) => hub.listen(0, "127.0.0.1", resolve));
  hubUrl = `http://127.0.0.1:${(hub.address() as AddressInfo).port}/`;
});

after(() => {
  hub?.closeAllConnections();
  hub?.close();
  fs.rmSync(cacheDir, { recursive: true, force: true });
});

function bodyBytesServed(): number {
  return hits.filter((h) => h.method === "GET" && h.url.startsWith(filePath)).reduce((sum, h) => sum + h.bytes, 0);
}

test("downloads once into the cache, survives a dropped transfer, and reuses the file", async () => {
  const env = { HF_ENDPOINT: hubUrl, CHATPORT_CACHE_DIR: cacheDir };
  let server = await startServer({ models: { hub: "hf:acme/tiny-GGUF/tiny.gguf" }, args: ["--threads", "1"], env }).catch(
    // The dropped connection may fail the first start; starting again must resume, not restart.
    () => startServer({ models: { hub: "hf:acme/tiny-GGUF/tiny.gguf" }, args: ["--threads", "1"], env }),
  );
  try {
    const res = await server.client.chat.completions.create({ model: "hub", messages: [{ role: "user", content: "hi" }], max_tokens: 3 });
    assert.equal(res.choices.length, 1);
    assert.ok(bodyBytesServed() >= modelBytes.length, "the file was transferred");
    const cached = fs.readdirSync(cacheDir).filter((f) => f.endsWith(".gguf"));
    assert.equal(cached.length, 1);
    assert.ok(fs.readFileSync(path.join(cacheDir, cached[0]!)).equals(modelBytes), "the cached file is byte-identical");
  } finally {
    await server.stop();
  }

  // Second start with the hub unreachable: the cached file is enough.
  const requestsBefore = hits.length;
  server = await startServer({
    models: { hub: "hf:acme/tiny-GGUF/tiny.gguf" },
    args: ["--threads", "1"],
    env: { ...env, HF_ENDPOINT: await deadEndpoint() },
  });
  try {
    assert.equal(hits.length, requestsBefore, "second start does not contact the hub");
    assert.equal((await server.client.models.list()).data[0]?.id, "hub");
  } finally {
    await server.stop();
  }
});

/** A loopback URL where nothing listens. */
async function deadEndpoint(): Promise<string> {
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  return `http://127.0.0.1:${port}/`;
}

test("an unreachable hub is a clear startup error at once, not a hang or a stack trace; the log first says what is fetched", async () => {
  const emptyCache = fs.mkdtempSync(path.join(os.tmpdir(), "chatport-empty-"));
  const child = spawn(process.execPath, [cliPath, "serve", "--port", "0", "--db-path", path.join(emptyCache, "db.sqlite"), "--model", "x=hf:acme/missing/model.gguf"], {
    cwd: repoRoot,
    // The stall watchdog is far away: the error must come from the reachability check, not from waiting it out.
    env: { ...process.env, HF_ENDPOINT: await deadEndpoint(), CHATPORT_CACHE_DIR: emptyCache, CHATPORT_DOWNLOAD_STALL_SECONDS: "3600" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  let stdout = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  // A guard, not a measurement: without the check the process would wait an hour.
  const guard = setTimeout(() => child.kill("SIGKILL"), 120_000);
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  clearTimeout(guard);
  fs.rmSync(emptyCache, { recursive: true, force: true });
  assert.equal(code, 1, `exited by itself (stdout: ${stdout.slice(-500)})`);
  assert.match(stderr, /Could not download hf:acme\/missing\/model\.gguf/);
  assert.match(stderr, /cannot reach 127\.0\.0\.1:\d+: ECONNREFUSED/);
  assert.match(stderr, /offline/);
  assert.doesNotMatch(stderr, /\n\s+at .*\(/, "no stack trace");
  const fetching = stdout
    .split("\n")
    .flatMap((line) => (line.startsWith("{") ? [JSON.parse(line) as Record<string, unknown>] : []))
    .find((entry) => entry.msg === "model not in the cache: downloading it");
  assert.equal(fetching?.source, "hf:acme/missing/model.gguf");
  assert.match(String(fetching?.from), /^127\.0\.0\.1:\d+$/);
});
