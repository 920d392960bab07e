/**
 * The benchmark's helper servers as child processes (the fake upstream, the
 * bare proxy): how the benchmark starts one and learns its URL from the line
 * it prints when ready, and how the child lives — it stops on SIGTERM/SIGINT
 * and when the benchmark that started it is gone.
 */
import fs from "node:fs";
import { launch, type ServerProcess } from "./server-process.js";

/** Starts `node script …args` and waits for its `<name> listening on URL` line. */
export function launchBenchChild(script: string, args: readonly string[], name: string): Promise<ServerProcess> {
  if (!fs.existsSync(script)) throw new Error(`${script} is missing: run \`npm run build\` first`);
  const ready = `${name} listening on `;
  return launch(process.execPath, [script, ...args], {
    baseURL: (logs) => {
      const line = logs.find((l) => l.startsWith(ready) && !/\s/.test(l.slice(ready.length)));
      return line === undefined ? null : line.slice(ready.length);
    },
    timeoutMs: 30_000,
  });
}

/** In the child: prints the ready line, and closes the server and exits on a signal or once its parent is gone. */
export function serveAsBenchChild(name: string, url: string, close: () => Promise<void>): void {
  const stop = (): void => {
    void close().finally(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  // Do not outlive the benchmark if it dies without stopping us.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) stop();
  }, 1000).unref();
  process.stdout.write(`${name} listening on ${url}\n`);
}
