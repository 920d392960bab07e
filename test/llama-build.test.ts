/**
 * `--llama-build`: which llama.cpp binary `chatport serve` loads. Forcing the
 * prebuilt binary loads node-llama-cpp's platform package (checked from the
 * outside, in the process's mapped files, and in its log); forcing the native
 * build where there is none fails at start, saying what to run.
 */
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { test } from "node:test";
import assert from "node:assert/strict";
import { GgufFileType } from "node-llama-cpp";
import { describeMappedFiles, mappedBinary } from "../src/bench/loaded-binary.js";
import type { BenchReport } from "../src/bench/report.js";
import { binaryOptions, cpuFeaturesOf, prebuiltPackageName, type LlamaBinary } from "../src/engines/llama/llama-runtime.js";
import { prebuiltF16Advice } from "../src/engines/llama/prebuilt-f16-advice.js";
import { tinyModelPath } from "./helpers/models.js";
import { cliPath, repoRoot, startServer, tempDbPath } from "./helpers/server.js";

/** Where node-llama-cpp keeps the builds `npm run build:native` makes. */
const localBuilds = path.join(repoRoot, "node_modules", "node-llama-cpp", "llama", "localBuilds");

test("each build asks node-llama-cpp for one kind of binary", () => {
  assert.deepEqual(binaryOptions("native").usePrebuiltBinaries, false);
  assert.equal(binaryOptions("native").build, "never");
  assert.equal(binaryOptions("prebuilt").usePrebuiltBinaries, true);
  assert.equal(binaryOptions("prebuilt").existingPrebuiltBinaryMustMatchBuildOptions, false);
  // The prebuilt run must not find the native build's folder: its options differ from the native build's.
  assert.notDeepEqual(binaryOptions("prebuilt").cmakeOptions, binaryOptions("native").cmakeOptions);
  assert.deepEqual(binaryOptions("auto").cmakeOptions, binaryOptions("native").cmakeOptions);
  assert.equal(binaryOptions("auto").usePrebuiltBinaries, undefined);
});

test("the prebuilt package is named as node-llama-cpp names its platform packages", () => {
  assert.equal(prebuiltPackageName("linux", "x64", false), "@node-llama-cpp/linux-x64");
  assert.equal(prebuiltPackageName("linux", "x64", "cuda"), "@node-llama-cpp/linux-x64-cuda");
  assert.equal(prebuiltPackageName("linux", "arm", false), "@node-llama-cpp/linux-armv7l");
  assert.equal(prebuiltPackageName("darwin", "arm64", "metal"), "@node-llama-cpp/mac-arm64-metal");
  assert.equal(prebuiltPackageName("win32", "x64", "vulkan"), "@node-llama-cpp/win-x64-vulkan");
  assert.equal(prebuiltPackageName("aix", "ppc64", false), null);
});

test("CPU features are read from llama.cpp's system info", () => {
  const info = "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | AVX512 = 0 | LLAMAFILE = 1 | ";
  assert.deepEqual(cpuFeaturesOf(info), ["SSE3", "SSSE3", "AVX", "AVX2", "F16C", "FMA", "LLAMAFILE"]);
});

test("F16 weights on a prebuilt AVX-512 binary get the advice to build natively; nothing else does", () => {
  const prebuilt: LlamaBinary = { kind: "prebuilt", package: "@node-llama-cpp/linux-x64@3.21.1", llamaCpp: "ggml-org/llama.cpp v0.4.0", gpu: false, cmakeOptions: {}, cpuFeatures: ["AVX2", "F16C", "AVX512", "AVX512_VNNI"] };
  const { MOSTLY_F16: F16, MOSTLY_Q8_0: Q8_0, MOSTLY_Q4_K_M: Q4_K_M, MOSTLY_BF16: BF16 } = GgufFileType;
  assert.match(prebuiltF16Advice(prebuilt, F16, "x64") ?? "", /half the speed.*npm run build:native/);
  assert.equal(prebuiltF16Advice(prebuilt, Q8_0, "x64"), null);
  assert.equal(prebuiltF16Advice(prebuilt, Q4_K_M, "x64"), null);
  assert.equal(prebuiltF16Advice(prebuilt, BF16, "x64"), null, "not measured: no advice");
  assert.equal(prebuiltF16Advice(prebuilt, undefined, "x64"), null);
  assert.equal(prebuiltF16Advice({ ...prebuilt, kind: "native", package: null, cmakeOptions: { GGML_OPENMP: "OFF" } }, F16, "x64"), null);
  assert.equal(prebuiltF16Advice({ ...prebuilt, cpuFeatures: ["AVX2", "F16C", "FMA"] }, F16, "x64"), null, "the AVX2 variants were not measured slow");
  assert.equal(prebuiltF16Advice({ ...prebuilt, gpu: "cuda" }, F16, "x64"), null, "a GPU does the matrix work");
  assert.equal(prebuiltF16Advice(prebuilt, F16, "arm64"), null);
  assert.equal(prebuiltF16Advice(undefined, F16, "x64"), null);
});

test("a process's mapped files say which addon and CPU variant it runs", () => {
  const prebuilt = describeMappedFiles([
    "/usr/lib/x86_64-linux-gnu/libc.so.6",
    path.join(repoRoot, "node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/llama-addon.node"),
    path.join(repoRoot, "node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-cpu-zen4.so"),
  ]);
  const version = (JSON.parse(fs.readFileSync(path.join(repoRoot, "node_modules/@node-llama-cpp/linux-x64/package.json"), "utf8")) as { version: string }).version;
  assert.equal(prebuilt.addon, `prebuilt @node-llama-cpp/linux-x64@${version}`);
  assert.deepEqual(prebuilt.cpuVariants, ["zen4"]);
  const native = describeMappedFiles(["/x/node_modules/node-llama-cpp/llama/localBuilds/linux-x64-abc/Release/llama-addon.node"]);
  assert.equal(native.addon, "native build (localBuilds/linux-x64-abc)");
  assert.deepEqual(native.cpuVariants, []);
  assert.equal(describeMappedFiles(["/usr/lib/libc.so.6"]).addon, null);
});

test("--llama-build prebuilt serves with node-llama-cpp's prebuilt binary and says so", async () => {
  const server = await startServer({ models: { tiny: await tinyModelPath() }, args: ["--llama-build", "prebuilt"] });
  try {
    const completion = await server.client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 4, seed: 1 });
    assert.equal(completion.object, "chat.completion");
    const logs = server.jsonLogs();
    const binary = logs.find((l) => l.component === "llama.cpp" && l.llamaBuild === "prebuilt");
    assert.ok(binary !== undefined, `no binary log line in:\n${server.logs.join("\n")}`);
    assert.equal(binary.kind, "prebuilt");
    assert.match(String(binary.package), /^@node-llama-cpp\/[\w-]+@\d+\.\d+\.\d+/);
    assert.match(String(binary.msg), /^llama\.cpp binary: prebuilt @node-llama-cpp\//);
    const loaded = logs.find((l) => l.msg === "model loaded");
    assert.match(String(loaded?.binary), /^prebuilt @node-llama-cpp\//);
    // The tiny model's weights are F16: on an AVX-512 CPU the prebuilt binary's slow F16 kernel is told, and only there.
    const avx512 = process.arch === "x64" && /\bAVX512/.test(String(binary.cpuFeatures));
    const advice = logs.find((l) => l.level === 40 && l.weights === "F16");
    assert.equal(advice !== undefined, avx512, `F16 advice expected: ${avx512}; logs:\n${server.logs.join("\n")}`);
    if (advice !== undefined) assert.match(String(advice.msg), /npm run build:native/);
    if (process.platform === "linux") {
      // From the outside: the addon the process mapped is the platform package's.
      assert.match(mappedBinary(server.process.pid)?.addon ?? "", /^prebuilt @node-llama-cpp\//);
    }
  } finally {
    await server.stop();
  }
});

test("--llama-build native without a native build fails at start, saying how to make one", async (t) => {
  if (fs.existsSync(localBuilds) && fs.readdirSync(localBuilds).length > 0) {
    t.skip(`this checkout has a native build (${localBuilds})`);
    return;
  }
  const model = await tinyModelPath();
  const child = spawn(process.execPath, [cliPath, "serve", "--host", "127.0.0.1", "--port", "0", "--db-path", tempDbPath(), "--model", `tiny=${model}`], {
    env: { ...process.env, CHATPORT_LLAMA_BUILD: "native", CHATPORT_LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  clearTimeout(timer);
  assert.equal(code, 1, output);
  assert.match(output, /--llama-build native: no local llama\.cpp build/);
  assert.match(output, /npm run build:native/);
  assert.doesNotMatch(output, /listening/i);
});

test("an unknown --llama-build is refused before anything loads", async () => {
  const child = spawn(process.execPath, [cliPath, "serve", "--port", "0", "--db-path", tempDbPath(), "--llama-build", "fastest"], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  assert.notEqual(code, 0);
  assert.match(output, /llamaBuild|llama-build/);
  assert.match(output, /auto|prebuilt|native/);
});

test("chatport bench --llama-builds runs chatport once per binary, each row named by it", { timeout: 240_000 }, async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "chatport-bench-builds-"));
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "chatport-bench-cwd-"));
  const native = fs.existsSync(localBuilds) && fs.readdirSync(localBuilds).length > 0;
  try {
    const { stderr } = await promisify(execFile)(
      process.execPath,
      [cliPath, "bench", "--model", await tinyModelPath(), "--quick", "--threads", "1", "--out", out, "--no-llama-server", "--skip-direct", "--llama-builds", "prebuilt,native"],
      { cwd },
    );
    const json = fs.readdirSync(out).find((f) => f.endsWith(".json"));
    assert.ok(json !== undefined);
    const report = JSON.parse(fs.readFileSync(path.join(out, json), "utf8")) as BenchReport;
    const systems = new Set(report.levels.map((l) => l.system));
    assert.ok(systems.has("chatport prebuilt"), [...systems].join(", "));
    assert.ok(!systems.has("chatport"), "with builds chosen, no row is left unnamed");
    if (process.platform === "linux") assert.match(report.binaries?.["chatport prebuilt"] ?? "", /^prebuilt @node-llama-cpp\//);
    if (native) {
      assert.ok(systems.has("chatport native"));
      assert.match(report.binaries?.["chatport native"] ?? "", /^native build/);
      assert.ok("chatport prebuilt/chatport native aggregate tok/s @1" in report.ratios, Object.keys(report.ratios).join(", "));
    } else {
      assert.ok(!systems.has("chatport native"));
      assert.match(stderr, /chatport native: not measured: .*npm run build:native/);
    }
    const markdown = fs.readFileSync(path.join(out, fs.readdirSync(out).find((f) => f.endsWith(".md")) ?? ""), "utf8");
    assert.match(markdown, process.platform === "linux" ? /\| chatport prebuilt \| prebuilt @node-llama-cpp\// : /\| chatport prebuilt \| /);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
    fs.rmSync(cwd, { recursive: true, force: true });
  }
});
