/**
 * Starts a real `chatport serve` process (the built CLI) on a free loopback
 * port and hands back an official `openai` SDK client pointed at it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import OpenAI from "openai";

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, "../..");
export const cliPath = path.join(repoRoot, "dist/cli/main.js");

export interface RunningServer {
  baseURL: string;
  client: OpenAI;
  process: ChildProcess;
  logs: string[];
  /** The server's structured log entries so far. */
  jsonLogs(): Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

export interface StartOptions {
  models: Record<string, string>;
  args?: string[];
  apiKey?: string;
  env?: NodeJS.ProcessEnv;
}

export async function startServer(options: StartOptions): Promise<RunningServer> {
  const args = [cliPath, "serve", "--host", "127.0.0.1", "--port", "0", ...(options.args ?? [])];
  for (const [id, file] of Object.entries(options.models)) args.push("--model", `${id}=${file}`);
  if (options.apiKey !== undefined) args.push("--api-key", options.apiKey);
  const child = spawn(process.execPath, args, {
    cwd: repoRoot,
    env: { ...process.env, CHATPORT_LOG_LEVEL: "info", ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: string[] = [];
  const stderr = readline.createInterface({ input: child.stderr! });
  stderr.on("line", (line) => logs.push(line));

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 60 s:\n${logs.join("\n")}`)), 60_000);
    const stdout = readline.createInterface({ input: child.stdout! });
    stdout.on("line", (line) => {
      logs.push(line);
      try {
        const entry = JSON.parse(line) as { msg?: string; port?: number };
        if (entry.msg === "chatport listening" && typeof entry.port === "number") {
          clearTimeout(timer);
          resolve(entry.port);
        }
      } catch {
        // not a JSON log line
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${logs.join("\n")}`));
    });
  });

  const baseURL = `http://127.0.0.1:${port}/v1`;
  return {
    baseURL,
    client: new OpenAI({ baseURL, apiKey: options.apiKey ?? "sk-unused", maxRetries: 0, timeout: 120_000 }),
    process: child,
    logs,
    jsonLogs: () =>
      logs.flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      }),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** POST JSON with raw fetch, for what the SDK would hide (status, headers, framing). */
export async function postJson(baseURL: string, route: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${baseURL}${route}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}
