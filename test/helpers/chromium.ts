/**
 * The browser for the dashboard's tests: Debian's Chromium, driven by
 * playwright-core (which downloads nothing). `CHROMIUM_PATH` points at another
 * build. Run as a script (from `pretest`), it installs Debian's package when
 * the browser is missing and this is root with apt-get; otherwise it says
 * what to do — the browser test then fails rather than skips.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const DEBIAN_CHROMIUM = "/usr/bin/chromium";

/** The Debian wrapper script, unless CHROMIUM_PATH says otherwise. */
export function chromiumPath(): string {
  const fromEnv = process.env.CHROMIUM_PATH;
  return fromEnv !== undefined && fromEnv !== "" ? fromEnv : DEBIAN_CHROMIUM;
}

export function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

export function missingChromiumMessage(file = chromiumPath()): string {
  return [
    `Chromium was not found at ${file}; the dashboard's browser test needs it.`,
    "Install Debian's package: sudo apt-get install -y chromium",
    "(or set CHROMIUM_PATH to a Chromium/Chrome executable). `npm test` installs it itself when run as root with apt-get.",
  ].join("\n");
}

/** Flags for a headless run on a machine with no network but loopback, as root in a container. */
export const chromiumArgs = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-default-apps",
  "--disable-extensions",
];

function hasCommand(name: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" }).status === 0;
}

function aptInstall(): boolean {
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = (): boolean =>
    spawnSync("apt-get", ["install", "-y", "-q", "chromium"], { stdio: "inherit", env }).status === 0;
  if (install()) return true;
  // A fresh machine may have no package lists yet.
  console.log("chromium: refreshing the package lists (apt-get update) and trying again");
  if (spawnSync("apt-get", ["update", "-q"], { stdio: "inherit", env }).status !== 0) return false;
  return install();
}

/** Makes sure the browser exists; true when it does afterwards. Never throws. */
export function ensureChromium(): boolean {
  const file = chromiumPath();
  if (isExecutable(file)) return true;
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (file === DEBIAN_CHROMIUM && isRoot && hasCommand("apt-get")) {
    console.log("chromium: not installed; installing Debian's package for the dashboard's browser test");
    if (aptInstall() && isExecutable(file)) {
      console.log(`chromium: installed at ${file}`);
      return true;
    }
  }
  console.warn(`\n${missingChromiumMessage(file)}\n`);
  return false;
}

const invokedAsScript = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedAsScript) {
  // Never fails the pretest step: without a browser the browser test fails and says why.
  ensureChromium();
}
