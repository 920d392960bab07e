/**
 * Starts a real `chatport serve` process (the built CLI) on a free loopback
 * port and hands back an official `openai` SDK client pointed at it.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import OpenAI from "openai";
import { startChatport } from "../../src/bench/server-process.js";

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, "../..");
export const cliPath = path.join(repoRoot, "dist/cli/chatport.cjs");

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
  adminKey?: string;
  env?: NodeJS.ProcessEnv;
}

/** A fresh SQLite file for one server, unless the test chose its storage. */
export function tempDbPath(): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), "chatport-db-")), "chatport.sqlite");
}

export async function startServer(options: StartOptions): Promise<RunningServer> {
  const args = [...(options.args ?? [])];
  for (const [id, file] of Object.entries(options.models)) args.push("--model", `${id}=${file}`);
  if (options.apiKey !== undefined) args.push("--api-key", options.apiKey);
  if (options.adminKey !== undefined) args.push("--admin-key", options.adminKey);
  const chosen = args.includes("--db-path") || args.includes("--database-url") || options.env?.DATABASE_URL !== undefined;
  if (!chosen) args.push("--db-path", tempDbPath());
  const server = await startChatport(args, options.env);
  return {
    baseURL: server.baseURL,
    client: new OpenAI({ baseURL: server.baseURL, apiKey: options.apiKey ?? "sk-unused", maxRetries: 0, timeout: 120_000 }),
    process: server.child,
    logs: server.logs,
    jsonLogs: () =>
      server.logs.flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      }),
    stop: () => server.stop(),
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

/** Creates a managed key through the admin API of a running server; the secret is in the answer. */
export async function createKey(server: { baseURL: string }, adminKey: string, body: Record<string, unknown>): Promise<{ id: string; secret: string }> {
  const res = await fetch(server.baseURL.replace("/v1", "/admin/keys"), {
    method: "POST",
    headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`creating a key: ${res.status} ${await res.text()}`);
  return (await res.json()) as { id: string; secret: string };
}
