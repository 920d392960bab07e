/**
 * A known slow path of node-llama-cpp's prebuilt x86-64 binary, told to the
 * operator at model load.
 *
 * The prebuilt CPU variants with AVX-512 (`libggml-cpu-zen4.so`,
 * `-skylakex`, `-icelake`, …; node-llama-cpp 3.21.1 and 3.22.1, built with
 * GCC 11.4) compile llamafile's F16 matrix kernel (tinyBLAS, the path of every
 * F16 weight matrix times a batch of more than a few tokens) so that its
 * inner loop stores all 24 accumulators to the stack on every step; the same
 * source built here by GCC 12 (`npm run build:native`) keeps them in
 * registers. Measured with llama-bench and the prebuilt library swapped in
 * (docs/BENCHMARKS.md, "Why F16 is slow on the prebuilt binary"): F16 prompt
 * processing at 0.45–0.5× of the native build; Q8_0 and Q4_K_M go through
 * other kernels and run as fast on the prebuilt binary as on a native build,
 * and one-token decoding is matrix-vector work that does not take this path.
 */
import { GgufFileType } from "node-llama-cpp";
import type { LlamaBinary } from "./llama-runtime.js";

/** The advice for a model whose weights are `fileType`, loaded on `binary`; null when the slow path does not apply. */
export function prebuiltF16Advice(binary: LlamaBinary | undefined, fileType: number | undefined, arch: string = process.arch): string | null {
  if (binary === undefined || binary.kind !== "prebuilt" || binary.gpu !== false) return null;
  if (arch !== "x64" || fileType !== GgufFileType.MOSTLY_F16) return null;
  if (!binary.cpuFeatures.some((feature) => feature.startsWith("AVX512"))) return null;
  return (
    "F16 weights on node-llama-cpp's prebuilt AVX-512 binary process prompts and batches at about half the speed of a native build " +
    "(its F16 matrix kernel was compiled by GCC 11, which spills the kernel's accumulators to memory); " +
    "`npm run build:native` (cmake and a C++ compiler, about 10 minutes on 2 cores) gives the full speed, or use a Q8_0/Q4_K_M file"
  );
}
