/**
 * Starts a worker thread from a module next to the caller: the built `.js`,
 * or, run from source (tests, through tsx), the `.ts` with tsx registered in
 * the worker first.
 */
import { Worker } from "node:worker_threads";

/** `callerUrl`: the caller's `import.meta.url`; `name`: the worker module's file name without extension. */
export function startWorker(callerUrl: string, name: string, workerData: unknown): Worker {
  if (callerUrl.endsWith(".ts")) {
    const entry = new URL(`./${name}.ts`, callerUrl).href;
    const tsx = import.meta.resolve("tsx/esm/api");
    const boot = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(entry)}); });`;
    return new Worker(boot, { eval: true, workerData });
  }
  return new Worker(new URL(`./${name}.js`, callerUrl), { workerData });
}
