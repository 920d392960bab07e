/**
 * `npm start`'s prestart: builds only when something the build reads changed
 * since the last build (`npm run build` ends by stamping dist/). A production
 * install has no sources and nothing to build. Plain JavaScript, so that it
 * runs without the dev dependencies.
 *
 *   node scripts/build-if-stale.mjs          build if stale
 *   node scripts/build-if-stale.mjs --stamp  record that dist/ was just built
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** What the build reads, relative to the package root. */
export const BUILD_INPUTS = ["src", "dashboard", "package.json", "package-lock.json", "tsconfig.json"];
export const STAMP = path.join("dist", ".build-stamp");

function newestMtime(file) {
  let stat;
  try {
    stat = fs.statSync(file);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of fs.readdirSync(file)) {
    if (entry === "node_modules") continue;
    newest = Math.max(newest, newestMtime(path.join(file, entry)));
  }
  return newest;
}

/** Why `root` needs a build, or null when dist/ is newer than everything the build reads (or there is nothing to build from). */
export function staleReason(root) {
  if (!fs.existsSync(path.join(root, "src"))) return null;
  let stamp;
  try {
    stamp = fs.statSync(path.join(root, STAMP)).mtimeMs;
  } catch {
    return "no build yet";
  }
  const changed = BUILD_INPUTS.find((input) => newestMtime(path.join(root, input)) > stamp);
  return changed === undefined ? null : `${changed} changed since the last build`;
}

export function writeStamp(root) {
  fs.mkdirSync(path.join(root, "dist"), { recursive: true });
  fs.writeFileSync(path.join(root, STAMP), `${new Date().toISOString()}\n`);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
  if (process.argv.includes("--stamp")) {
    writeStamp(root);
  } else {
    const reason = staleReason(root);
    if (reason === null) {
      process.stderr.write("chatport: dist/ is up to date (npm run build rebuilds it)\n");
    } else {
      process.stderr.write(`chatport: building (${reason})…\n`);
      const build = spawnSync("npm", ["run", "-s", "build"], { cwd: root, stdio: "inherit" });
      if (build.status !== 0) process.exit(build.status ?? 1);
    }
  }
}
