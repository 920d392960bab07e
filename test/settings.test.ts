/**
 * The table of settings (src/settings.ts): one default per setting, flags >
 * environment > config file > defaults for every kind of setting, the README
 * table generated from it, and the precedence seen from outside on a real
 * server process.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { resolveConfig, type SettingsLayer } from "../src/config.js";
import { parseModelArg, settingDefault, settingFlag, settingKeys, settings } from "../src/settings.js";
import { readmePath, readmeWithSettingsTable } from "../scripts/docs-settings.js";
import { startServer } from "./helpers/server.js";
import { serveCommand } from "../src/cli/serve-command.js";
import { settingFlagValues } from "../src/cli/setting-options.js";

const model = "tiny=./nonexistent.gguf";

function configFile(content: Record<string, unknown>): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "chatport-config-")), "chatport.json");
  fs.writeFileSync(file, JSON.stringify(content));
  return file;
}

/** What `chatport serve ARGS` gives resolveConfig as its flag layer. */
function flagsOf(args: string[]): SettingsLayer {
  const command = serveCommand();
  command.action(() => undefined).exitOverride().configureOutput({ writeErr: () => undefined });
  command.parse(args, { from: "user" });
  return settingFlagValues(command);
}

describe("the table of settings", () => {
  test("the README's configuration table is the one the table makes (npm run docs:settings)", () => {
    const readme = fs.readFileSync(readmePath, "utf8");
    assert.equal(readmeWithSettingsTable(readme), readme, "README.md is out of date: run npm run docs:settings");
  });

  test("environment variables and flags are unique, and every flag parses", () => {
    const envs = settingKeys.map((k) => settings[k].env).filter((e) => e !== null);
    assert.equal(new Set(envs).size, envs.length);
    const flags = settingKeys.map(settingFlag).filter((f) => f !== null);
    assert.equal(new Set(flags.map((f) => f.split(" ")[0])).size, flags.length);
    for (const key of settingKeys) settings[key].schema.parse(settingDefault(key));
  });

  test("the defaults are the table's: breaker cooldown 30 s, SQLite sync normal", () => {
    const config = resolveConfig({ models: [parseModelArg(model)] }, undefined, {});
    assert.deepEqual(config.breaker, { failureThreshold: 5, cooldownMs: 30_000 });
    assert.equal(config.sqliteSync, "normal");
    assert.equal(config.bodyLimit, 4 * 1024 * 1024);
  });

  test("flags > environment > config file > defaults, for numbers, switches, lists, strings and enums", () => {
    const file = configFile({ port: 1001, flashAttention: false, corsOrigins: ["http://file"], host: "10.0.0.1", sqliteSync: "full", ctx: 512 });
    const env = { CHATPORT_PORT: "1002", CHATPORT_FLASH_ATTN: "on", CHATPORT_CORS_ORIGINS: "http://env-a, http://env-b", CHATPORT_HOST: "10.0.0.2" };
    const flags = flagsOf(["--model", model, "--port", "1003", "--flash-attn", "off"]);

    const defaults = resolveConfig({ models: [parseModelArg(model)] }, undefined, {});
    assert.equal(defaults.port, 8000);
    assert.equal(defaults.flashAttention, true);

    const fromFile = resolveConfig({ models: [parseModelArg(model)] }, file, {});
    assert.deepEqual([fromFile.port, fromFile.flashAttention, fromFile.corsOrigins, fromFile.host, fromFile.sqliteSync], [1001, false, ["http://file"], "10.0.0.1", "full"]);

    const fromEnv = resolveConfig({ models: [parseModelArg(model)] }, file, env);
    assert.deepEqual([fromEnv.port, fromEnv.flashAttention, fromEnv.corsOrigins, fromEnv.host], [1002, true, ["http://env-a", "http://env-b"], "10.0.0.2"]);
    assert.equal(fromEnv.ctx, 512, "what the environment does not set comes from the file");

    const fromFlags = resolveConfig(flags, file, env);
    assert.deepEqual([fromFlags.port, fromFlags.flashAttention, fromFlags.host], [1003, false, "10.0.0.2"]);
    assert.deepEqual(fromFlags.models, [{ id: "tiny", source: "./nonexistent.gguf" }]);
  });

  test("every scalar setting with an environment variable also has a flag that wins over it", () => {
    for (const key of settingKeys) {
      const spec = settings[key];
      if (spec.env === null || spec.kind === "json" || spec.kind === "list") continue;
      assert.notEqual(settingFlag(key), null, `${key} has no flag`);
    }
    const config = resolveConfig(flagsOf(["--model", model, "--body-limit", "5000", "--sqlite-sync", "full", "--log-level", "warn"]), undefined, {
      CHATPORT_BODY_LIMIT: "6000",
      CHATPORT_SQLITE_SYNC: "normal",
      CHATPORT_LOG_LEVEL: "debug",
    });
    assert.deepEqual([config.bodyLimit, config.sqliteSync, config.logLevel], [5000, "full", "warn"]);
  });

  test("a quantized KV cache needs flash attention; an unknown type is refused", () => {
    assert.equal(resolveConfig(flagsOf(["--model", model, "--kv-cache-type", "q8_0"]), undefined, {}).kvCacheType, "q8_0");
    assert.throws(() => resolveConfig(flagsOf(["--model", model, "--kv-cache-type", "q4_0", "--flash-attn", "off"]), undefined, {}), /--kv-cache-type q4_0 needs flash attention/);
    assert.throws(() => resolveConfig({ models: [parseModelArg(model)] }, undefined, { CHATPORT_KV_CACHE_TYPE: "q5_1" }), /kvCacheType/);
  });

  test("--ctx takes a number or `auto`, from a flag, the environment or the config file", () => {
    assert.equal(resolveConfig(flagsOf(["--model", model, "--ctx", "auto"]), undefined, {}).ctx, "auto");
    assert.equal(resolveConfig({ models: [parseModelArg(model)] }, undefined, { CHATPORT_CTX: "auto" }).ctx, "auto");
    assert.equal(resolveConfig({ models: [parseModelArg(model)] }, configFile({ ctx: "auto" }), {}).ctx, "auto");
    assert.equal(resolveConfig(flagsOf(["--model", model, "--ctx", "8192"]), undefined, { CHATPORT_CTX: "auto" }).ctx, 8192);
    assert.equal(resolveConfig({ models: [parseModelArg(model)] }, undefined, {}).ctx, 4096, "the default stays 4096");
    assert.throws(() => flagsOf(["--ctx", "big"]), /--ctx.*must be an integer or auto/);
    assert.throws(() => resolveConfig({ models: [parseModelArg(model)] }, undefined, { CHATPORT_CTX: "max" }), /ctx/);
  });

  test("a bad value names the setting, from any layer", () => {
    assert.throws(() => resolveConfig({ models: [parseModelArg(model)] }, undefined, { CHATPORT_PORT: "eighty" }), /port/);
    assert.throws(() => resolveConfig({ models: [parseModelArg(model)] }, undefined, { CHATPORT_FLASH_ATTN: "maybe" }), /flashAttention/);
    assert.throws(() => flagsOf(["--port", "x"]), /--port/);
    assert.throws(() => resolveConfig({ models: [parseModelArg(model)] }, configFile({ breaker: { failureThreshold: 0, cooldownMs: 1 } }), {}), /breaker/);
  });
});

describe("--model ID=SOURCE", () => {
  test("ids may contain `/` (hub-style ids)", () => {
    assert.deepEqual(parseModelArg("Qwen/Qwen2.5-7B=./file.gguf"), { id: "Qwen/Qwen2.5-7B", source: "./file.gguf" });
    assert.deepEqual(parseModelArg("Qwen/Qwen2.5-7B=hf:Qwen/Qwen2.5-7B-Instruct-GGUF/q4.gguf"), { id: "Qwen/Qwen2.5-7B", source: "hf:Qwen/Qwen2.5-7B-Instruct-GGUF/q4.gguf" });
    assert.deepEqual(parseModelArg("org/m=/abs/m.gguf"), { id: "org/m", source: "/abs/m.gguf" });
    assert.deepEqual(parseModelArg("tiny=models/tiny.gguf"), { id: "tiny", source: "models/tiny.gguf" });
    assert.deepEqual(parseModelArg("tiny=models/tiny"), { id: "tiny", source: "models/tiny" });
    assert.deepEqual(parseModelArg("Qwen/Qwen2.5-7B=weights"), { id: "Qwen/Qwen2.5-7B", source: "weights" });
  });

  test("the split is at the first `=` whose right side is a source; a bare source names itself", () => {
    assert.deepEqual(parseModelArg("m=https://host/m.gguf?sig=a=b"), { id: "m", source: "https://host/m.gguf?sig=a=b" });
    assert.deepEqual(parseModelArg("./models/tiny.gguf"), { id: "tiny", source: "./models/tiny.gguf" });
    assert.deepEqual(parseModelArg("hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf").id, "qwen2.5-0.5b-instruct-q4_k_m");
  });

  test("a server serves and lists a model whose id has a `/`", async () => {
    const { tinyModelPath } = await import("./helpers/models.js");
    const server = await startServer({ models: {}, args: ["--threads", "1", "--parallel", "1", "--ctx", "256", "--model", `Qwen/Qwen2.5-7B=${await tinyModelPath()}`] });
    try {
      const ids = (await server.client.models.list()).data.map((m) => m.id);
      assert.deepEqual(ids, ["Qwen/Qwen2.5-7B"]);
      const res = await server.client.chat.completions.create({ model: "Qwen/Qwen2.5-7B", messages: [{ role: "user", content: "hi" }], max_tokens: 2 });
      assert.equal(res.model, "Qwen/Qwen2.5-7B");
    } finally {
      await server.stop();
    }
  });
});

describe("precedence on a real server process", () => {
  /** A gateway with no local model starts fast; the body limit is visible from outside (413). */
  async function bodyLimitOf(options: { file?: number; env?: number; flag?: number }): Promise<number> {
    const args = ["--upstream", "up=http://127.0.0.1:9/v1"];
    if (options.file !== undefined) args.push("--config", configFile({ bodyLimit: options.file }));
    if (options.flag !== undefined) args.push("--body-limit", String(options.flag));
    const env = options.env === undefined ? {} : { CHATPORT_BODY_LIMIT: String(options.env) };
    const server = await startServer({ models: {}, args, env });
    try {
      // The largest of the candidate limits that a body passes.
      let limit = 0;
      for (const size of [5000, 6000, 7000]) {
        const body = JSON.stringify({ model: "nope", messages: [{ role: "user", content: "x".repeat(size - 70) }] });
        assert.ok(body.length <= size && body.length > size - 100);
        const res = await fetch(`${server.baseURL}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body });
        if (res.status !== 413) limit = size;
      }
      return limit;
    } finally {
      await server.stop();
    }
  }

  test("flag > CHATPORT_* > config file (the body limit)", async () => {
    assert.equal(await bodyLimitOf({ file: 5000 }), 5000);
    assert.equal(await bodyLimitOf({ file: 5000, env: 6000 }), 6000);
    assert.equal(await bodyLimitOf({ file: 7000, env: 6000, flag: 5000 }), 5000);
  });
});
