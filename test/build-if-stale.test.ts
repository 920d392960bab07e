/**
 * `npm start` builds only when the sources changed since the last build
 * (scripts/build-if-stale.mjs, its prestart), in a package of its own whose
 * build script leaves a mark.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { repoRoot } from "./helpers/server.js";

function fixturePackage(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "chatport-prestart-"));
  fs.mkdirSync(path.join(root, "scripts"));
  fs.copyFileSync(path.join(repoRoot, "scripts/build-if-stale.mjs"), path.join(root, "scripts/build-if-stale.mjs"));
  const build = `node -e "require('fs').appendFileSync('builds.log', 'built\\\\n')" && node scripts/build-if-stale.mjs --stamp`;
  fs.writeFileSync(path.join(root, "package.json"), JSON.stringify({ name: "fixture", private: true, scripts: { build } }));
  fs.mkdirSync(path.join(root, "src"));
  fs.writeFileSync(path.join(root, "src/main.ts"), "export {};\n");
  return root;
}

function prestart(root: string): { builds: number; stderr: string } {
  const run = spawnSync(process.execPath, ["scripts/build-if-stale.mjs"], { cwd: root, encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
  const log = path.join(root, "builds.log");
  const builds = fs.existsSync(log) ? fs.readFileSync(log, "utf8").split("\n").filter(Boolean).length : 0;
  return { builds, stderr: run.stderr };
}

test("prestart builds the first time, not again while nothing changed, and again after a source changed", () => {
  const root = fixturePackage();
  try {
    const first = prestart(root);
    assert.equal(first.builds, 1);
    assert.match(first.stderr, /building \(no build yet\)/);
    const second = prestart(root);
    assert.equal(second.builds, 1, "up to date: no build");
    assert.match(second.stderr, /up to date/);
    const later = new Date(Date.now() + 5_000);
    fs.utimesSync(path.join(root, "src/main.ts"), later, later);
    const third = prestart(root);
    assert.equal(third.builds, 2);
    assert.match(third.stderr, /src changed since the last build/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test("a production install (no sources) has nothing to build", () => {
  const root = fixturePackage();
  try {
    fs.rmSync(path.join(root, "src"), { recursive: true });
    assert.equal(prestart(root).builds, 0);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test("package.json: npm start runs this check, and npm run build stamps dist/", () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { scripts: Record<string, string> };
  assert.equal(manifest.scripts.prestart, "node scripts/build-if-stale.mjs");
  assert.match(manifest.scripts.build ?? "", /node scripts\/build-if-stale\.mjs --stamp$/);
});
