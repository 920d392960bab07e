/**
 * One llama.cpp runtime per process. node-llama-cpp's default thread count
 * over-subscribes small machines (4 threads on 2 cores decodes ~50x slower),
 * so the thread count is always set explicitly.
 */
import { getLlama, LlamaLogLevel, type Llama } from "node-llama-cpp";
import type { Logger } from "pino";
import { usableCpus } from "./cpu-budget.js";

let runtime: Promise<Llama> | null = null;

/** Threads the process may actually use (affinity mask and cgroup quota), never more. */
export function defaultThreads(): number {
  return usableCpus();
}

export function getRuntime(logger: Logger): Promise<Llama> {
  runtime ??= getLlama({
    gpu: "auto",
    build: "never",
    maxThreads: defaultThreads(),
    logLevel: LlamaLogLevel.warn,
    logger: (level, message) => {
      const text = message.trim();
      if (text === "") return;
      // A client's schema that cannot become a grammar is the client's error (it gets a 400), not ours.
      const clientGrammar = /grammar|left recursion|parse_space|parse: error/i.test(text);
      if ((level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) && !clientGrammar) logger.error({ component: "llama.cpp" }, text);
      else logger.warn({ component: "llama.cpp" }, text);
    },
  });
  return runtime;
}
