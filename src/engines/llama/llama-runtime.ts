/**
 * One llama.cpp runtime per process. node-llama-cpp's default thread count
 * over-subscribes small machines (4 threads on 2 cores decodes ~50x slower),
 * so the thread count is always set explicitly.
 *
 * Which binary: `--llama-build auto` loads the `npm run build:native` build
 * when there is one and node-llama-cpp's prebuilt package otherwise;
 * `prebuilt` and `native` force one, and `native` without a local build
 * fails at start. The binary loaded is logged, and the `model loaded` line
 * names it.
 */
import { getLlama, LlamaLogLevel, NoBinaryFoundError, type Llama, type LlamaOptions } from "node-llama-cpp";
import type { Logger } from "pino";
import { usableCpus } from "./cpu-budget.js";

/** `--llama-build`: which llama.cpp binary to load. */
export const LLAMA_BUILDS = ["auto", "prebuilt", "native"] as const;
export type LlamaBuild = (typeof LLAMA_BUILDS)[number];

/** The binary a runtime was loaded from. */
export interface LlamaBinary {
  /** `prebuilt`: node-llama-cpp's platform package; `native`: a local build (`npm run build:native`). */
  kind: "prebuilt" | "native";
  /** The prebuilt package and its version (`@node-llama-cpp/linux-x64@3.21.1`); null for a local build or when it cannot be read. */
  package: string | null;
  /** The llama.cpp the binary was built from (`ggml-org/llama.cpp v0.5.0`). */
  llamaCpp: string;
  gpu: string | false;
  /** The CMake options it was built with (a prebuilt's are empty: its build's defaults). */
  cmakeOptions: Readonly<Record<string, string>>;
  /** CPU features of the CPU backend llama.cpp loaded (`AVX2`, `AVX512`, …), from its system info. */
  cpuFeatures: string[];
}

let runtime: Promise<Llama> | null = null;
const binaries = new WeakMap<Llama, LlamaBinary>();

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

/**
 * node-llama-cpp looks for a local build in a folder named after its CMake
 * options before it looks at the prebuilt package (which it takes whatever
 * the options, unless told they must match). An option no build is ever made
 * with names a folder that never exists, so only the prebuilt binary can load.
 */
const PREBUILT_ONLY_OPTIONS: Readonly<Record<string, string>> = { CHATPORT_PREBUILT_ONLY: "ON" };

/** Threads the process may actually use (affinity mask and cgroup quota), never more. */
export function defaultThreads(): number {
  return usableCpus();
}

/** The options of `getLlama` that pick the binary `build` asks for. */
export function binaryOptions(build: LlamaBuild): Pick<LlamaOptions, "build" | "cmakeOptions" | "usePrebuiltBinaries" | "existingPrebuiltBinaryMustMatchBuildOptions"> {
  switch (build) {
    case "auto":
      return { build: "never", cmakeOptions: { ...LLAMA_CMAKE_OPTIONS } };
    case "prebuilt":
      return { build: "never", cmakeOptions: { ...PREBUILT_ONLY_OPTIONS }, usePrebuiltBinaries: true, existingPrebuiltBinaryMustMatchBuildOptions: false };
    case "native":
      return { build: "never", cmakeOptions: { ...LLAMA_CMAKE_OPTIONS }, usePrebuiltBinaries: false };
  }
}

const NATIVE_HINT = "build it with `npm run build:native` (needs cmake and a C++ compiler)";

/** The error of a runtime that could not load the binary `build` asks for. */
export function noBinaryError(build: LlamaBuild, cause: unknown): Error {
  const message =
    build === "native"
      ? `--llama-build native: no local llama.cpp build made with ${JSON.stringify(LLAMA_CMAKE_OPTIONS)} was found; ${NATIVE_HINT}, or use --llama-build auto`
      : build === "prebuilt"
        ? `--llama-build prebuilt: node-llama-cpp has no usable prebuilt binary for ${process.platform}-${process.arch} (its platform package is missing or of another version); ${NATIVE_HINT} and use --llama-build native or auto`
        : `no llama.cpp binary for ${process.platform}-${process.arch}: neither a local build nor a prebuilt package of node-llama-cpp's version; ${NATIVE_HINT}`;
  return new Error(message, { cause });
}

export function getRuntime(logger: Logger, build: LlamaBuild = "auto"): Promise<Llama> {
  runtime ??= loadRuntime(logger, build);
  return runtime;
}

async function loadRuntime(logger: Logger, build: LlamaBuild): Promise<Llama> {
  let llama: Llama;
  try {
    llama = await getLlama({
      gpu: "auto",
      ...binaryOptions(build),
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
  } catch (err) {
    if (err instanceof NoBinaryFoundError) throw noBinaryError(build, err);
    throw err;
  }
  const wanted = build === "native" ? "localBuild" : build === "prebuilt" ? "prebuilt" : llama.buildType;
  if (llama.buildType !== wanted) {
    await llama.dispose();
    throw noBinaryError(build, new Error(`node-llama-cpp loaded a ${llama.buildType} binary`));
  }
  const binary = await describeBinary(llama);
  binaries.set(llama, binary);
  logger.info({ component: "llama.cpp", llamaBuild: build, ...binary, cpuFeatures: binary.cpuFeatures.join(" ") }, `llama.cpp binary: ${binarySummary(binary)}`);
  return llama;
}

/** The binary a runtime was loaded from; undefined for a runtime made elsewhere (as the tests make). */
export function loadedBinary(llama: Llama): LlamaBinary | undefined {
  return binaries.get(llama);
}

/** The binary of a runtime in one line (its build type alone for a runtime made elsewhere, as the tests make). */
export function describeLoadedBinary(llama: Llama): string {
  const binary = loadedBinary(llama);
  return binary === undefined ? llama.buildType : binarySummary(binary);
}

/** One line: `prebuilt @node-llama-cpp/linux-x64@3.21.1 (llama.cpp v0.4.0, AVX2 AVX512)` or `native build GGML_OPENMP=OFF (…)`. */
export function binarySummary(binary: LlamaBinary): string {
  const options = Object.entries(binary.cmakeOptions).map(([k, v]) => `${k}=${v}`).join(" ");
  const what = binary.kind === "prebuilt" ? `prebuilt ${binary.package ?? "package"}` : `native build${options === "" ? "" : ` ${options}`}`;
  const release = binary.llamaCpp.split(" ").at(-1) ?? binary.llamaCpp;
  const cpu = binary.cpuFeatures.filter((f) => /^(AVX|AMX|NEON|SVE|FMA|F16C)/.test(f)).join(" ");
  return `${what} (llama.cpp ${release}${binary.gpu === false ? "" : `, ${binary.gpu}`}${cpu === "" ? "" : `, ${cpu}`})`;
}

/** The features llama.cpp's system info reports as on (`CPU : SSE3 = 1 | AVX2 = 1 | …`). */
export function cpuFeaturesOf(systemInfo: string): string[] {
  return [...systemInfo.matchAll(/([A-Z0-9_]+) = 1\b/g)].map((m) => m[1] as string);
}

/** node-llama-cpp's platform package for this machine and GPU type (its own naming). */
export function prebuiltPackageName(platform: NodeJS.Platform, arch: string, gpu: string | false): string | null {
  const os = platform === "darwin" ? "mac" : platform === "win32" ? "win" : platform === "linux" ? "linux" : null;
  if (os === null) return null;
  const cpu = arch === "arm" ? "armv7l" : arch;
  const suffix = gpu === false ? "" : `-${gpu}`;
  return `@node-llama-cpp/${os}-${cpu}${suffix}`;
}

async function describeBinary(llama: Llama): Promise<LlamaBinary> {
  const kind = llama.buildType === "prebuilt" ? "prebuilt" : "native";
  let pkg: string | null = null;
  if (kind === "prebuilt") {
    const name = prebuiltPackageName(process.platform, process.arch, llama.gpu);
    if (name !== null) {
      try {
        // Each platform package says where its binaries are and its version (node-llama-cpp loads it only at its own version).
        const module = (await import(name)) as { getBinsDir?: () => { packageVersion?: string } };
        const version = module.getBinsDir?.().packageVersion;
        pkg = version === undefined ? name : `${name}@${version}`;
      } catch {
        pkg = name;
      }
    }
  }
  return {
    kind,
    package: pkg,
    llamaCpp: `${llama.llamaCppRelease.repo} ${llama.llamaCppRelease.release}`,
    gpu: llama.gpu,
    cmakeOptions: { ...llama.cmakeOptions },
    cpuFeatures: cpuFeaturesOf(llama.systemInfo),
  };
}
