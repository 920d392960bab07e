/**
 * Starting and stopping the servers under measurement: `chatport serve` (the
 * built CLI) and, when available, llama.cpp's `llama-server`. Both listen on
 * 127.0.0.1 only.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
/** The built CLI: beside this file in dist/, or dist/ of the checkout when run from source (tests). */
export const cliPath = path.resolve(here, here.endsWith(path.join("src", "bench")) ? "../../dist/cli/chatport.cjs" : "../cli/chatport.cjs");

export interface ServerProcess {
  baseURL: string;
  child: ChildProcess;
  /** Lines the process printed (stdout and stderr). */
  logs: string[];
  /** Resident memory in bytes, from /proc. */
  rss(): number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

function rssOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = /VmRSS:\s+(\d+)/.exec(status)?.[1];
    return kb === undefined ? 0 : Number(kb) * 1024;
  } catch {
    return 0;
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

/**
 * Spawn a server and wait until `isReady` says so (checked on every output
 * line and by polling), or fail with its output if it exits first.
 */
export async function launch(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; baseURL: (logs: readonly string[]) => string | null; healthPath?: string; timeoutMs?: number },
): Promise<ServerProcess> {
  const child = spawn(command, args, { env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"] });
  const logs: string[] = [];
  for (const stream of [child.stdout, child.stderr]) readline.createInterface({ input: stream }).on("line", (line) => logs.push(line));
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  while (true) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${path.basename(command)} exited before it was ready:\n${logs.slice(-30).join("\n")}`);
    }
    if (Date.now() > deadline) {
      await stopChild(child);
      throw new Error(`${path.basename(command)} was not ready in time:\n${logs.slice(-30).join("\n")}`);
    }
    const baseURL = options.baseURL(logs);
    if (baseURL !== null) {
      const healthy =
        options.healthPath === undefined ||
        (await fetch(baseURL.replace(/\/v1$/, "") + options.healthPath).then((r) => r.ok, () => false));
      if (healthy) {
        return { baseURL, child, logs, rss: () => rssOf(child.pid), stop: () => stopChild(child) };
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** `chatport serve` on a free loopback port, ready once /health answers. */
export async function startChatport(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<ServerProcess> {
  const port = await freePort();
  const baseURL = `http://127.0.0.1:${port}/v1`;
  return launch(process.execPath, [cliPath, "serve", "--host", "127.0.0.1", "--port", String(port), ...args], {
    env: { CHATPORT_LOG_LEVEL: "info", ...env },
    baseURL: () => baseURL,
    healthPath: "/health",
  });
}

export async function startLlamaServer(binary: string, args: readonly string[]): Promise<ServerProcess> {
  const port = await freePort();
  const baseURL = `http://127.0.0.1:${port}/v1`;
  return launch(binary, ["--host", "127.0.0.1", "--port", String(port), ...args], {
    baseURL: () => baseURL,
    healthPath: "/health",
    timeoutMs: 300_000,
  });
}
