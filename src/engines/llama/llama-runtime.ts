/**
 * One llama.cpp runtime per process. node-llama-cpp's default thread count
 * over-subscribes small machines (4 threads on 2 cores decodes ~50x slower),
 * so the thread count is always set explicitly.
 */
import { getLlama, LlamaLogLevel, type Llama } from "node-llama-cpp";
import type { Logger } from "pino";
import { usableCpus } from "./cpu-budget.js";

let runtime: Promise<Llama> | null = null;

/**
 * The CMake options of a local build (`npm run build:native` sets the same
 * through NODE_LLAMA_CPP_CMAKE_OPTION_*): node-llama-cpp looks for the local
 * build made with them and otherwise loads its prebuilt binary.
 *
 * OpenMP off: node-llama-cpp runs each llama_decode on whichever libuv pool
 * thread is free, and libgomp keeps one thread team per calling thread, so
 * an OpenMP build ends up with several teams competing for the cores — single
 * stream decode measured 68 ms/token against 54 with OpenMP off (or with a
 * one-thread libuv pool), the same as llama.cpp's own tools (docs/BENCHMARKS.md).
 */
export const LLAMA_CMAKE_OPTIONS: Readonly<Record<string, string>> = { GGML_OPENMP: "OFF" };

/** Threads the process may actually use (affinity mask and cgroup quota), never more. */
export function defaultThreads(): number {
  return usableCpus();
}

export function getRuntime(logger: Logger): Promise<Llama> {
  runtime ??= getLlama({
    gpu: "auto",
    build: "never",
    cmakeOptions: { ...LLAMA_CMAKE_OPTIONS },
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
