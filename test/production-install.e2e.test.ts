/**
 * `chatport serve` from a production install (`npm ci --omit=dev`): the built
 * dist/ and package.json in a folder whose node_modules holds exactly the
 * packages package-lock.json does not mark `dev` — what `npm ci --omit=dev`
 * installs. Our code there can resolve a production dependency and nothing
 * else, so an import of a devDependency anywhere on the serve path (static,
 * or dynamic on the way to a completion) fails the start or the request.
 *
 * The packages are symlinked from this checkout's install rather than
 * downloaded (seconds instead of minutes on CI's two cores, and no network);
 * a linked package resolves its own imports from its real location, which is
 * npm's business, not ours. `.ci/run` also does the real `npm ci --omit=dev`.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { freePort, launch, type ServerProcess } from "../src/bench/server-process.js";
import { tinyModelPath } from "./helpers/models.js";
import { repoRoot, tempDbPath } from "./helpers/server.js";

interface LockPackage {
  dev?: boolean;
}

/** A folder laid out like `npm ci --omit=dev` of this checkout: package.json, dist/, production node_modules. */
function productionInstall(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "chatport-prod-"));
  fs.copyFileSync(path.join(repoRoot, "package.json"), path.join(dir, "package.json"));
  fs.cpSync(path.join(repoRoot, "dist"), path.join(dir, "dist"), { recursive: true });
  const lock = JSON.parse(fs.readFileSync(path.join(repoRoot, "package-lock.json"), "utf8")) as { packages: Record<string, LockPackage> };
  for (const [key, pkg] of Object.entries(lock.packages)) {
    // Top-level packages only: nested ones live inside their parent's folder.
    if (key === "" || pkg.dev === true || key.lastIndexOf("node_modules/") !== 0) continue;
    const source = path.join(repoRoot, key);
    if (!fs.existsSync(source)) continue; // an optional package for another platform
    const target = path.join(dir, key);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.symlinkSync(fs.realpathSync(source), target, "dir");
  }
  return dir;
}

describe("a production install (devDependencies omitted)", () => {
  let dir: string;
  let cli: string;

  before(() => {
    dir = productionInstall();
    cli = path.join(dir, "dist/cli/chatport.cjs");
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("has no dev-only package in its node_modules (the layout is what it claims)", () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { devDependencies: Record<string, string> };
    const lock = JSON.parse(fs.readFileSync(path.join(repoRoot, "package-lock.json"), "utf8")) as { packages: Record<string, LockPackage> };
    // A devDependency some production package also needs (ajv-formats) is installed either way.
    const devOnly = Object.keys(manifest.devDependencies).filter((name) => lock.packages[`node_modules/${name}`]?.dev === true);
    assert.ok(devOnly.includes("openai") && devOnly.includes("eslint"));
    for (const name of devOnly) assert.equal(fs.existsSync(path.join(dir, "node_modules", name)), false, `${name} is dev-only`);
    assert.ok(fs.existsSync(path.join(dir, "node_modules", "fastify")));
  });

  test("`chatport --help` lists every command", () => {
    const run = spawnSync(process.execPath, [cli, "--help"], { encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    for (const command of ["serve", "keys", "usage", "make-test-model", "bench"]) assert.match(run.stdout, new RegExp(`\\b${command}\\b`));
  });

  test("`chatport serve` starts and answers a completion, streamed and not", async () => {
    const port = await freePort();
    const baseURL = `http://127.0.0.1:${port}/v1`;
    const args = ["serve", "--host", "127.0.0.1", "--port", String(port), "--threads", "1", "--parallel", "1", "--ctx", "512"];
    args.push("--model", `tiny=${await tinyModelPath()}`, "--db-path", tempDbPath());
    let server: ServerProcess | undefined;
    try {
      server = await launch(process.execPath, [cli, ...args], { baseURL: () => baseURL, healthPath: "/health" });
      const request = { model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 4 };
      const body = await fetch(`${baseURL}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(request) });
      assert.equal(body.status, 200, await body.clone().text());
      const json = (await body.json()) as { usage: { completion_tokens: number } };
      assert.ok(json.usage.completion_tokens > 0);
      const stream = await fetch(`${baseURL}/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...request, stream: true }),
      });
      assert.equal(stream.status, 200);
      assert.match(await stream.text(), /data: \[DONE\]\n\n$/);
    } finally {
      await server?.stop();
    }
  });

  test("`chatport bench` says it needs the development dependencies", () => {
    const run = spawnSync(process.execPath, [cli, "bench", "--quick", "--model", "/nonexistent.gguf"], { encoding: "utf8" });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /needs the development dependencies/);
  });
});
