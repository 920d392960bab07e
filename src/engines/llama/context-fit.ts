/**
 * Whether a local model's context fits in memory, and the largest one that
 * does (`--ctx auto`): the model's weights, its KV cache (`ctx × parallel`
 * cells, kv-cache-memory.ts) and a headroom must fit in the memory available
 * at load time. Pure arithmetic; available-memory.ts measures the memory.
 *
 * The headroom is what llama.cpp and the process allocate besides weights and
 * cache: llama.cpp's CPU compute buffer, which the logits of one micro-batch
 * dominate (measured on a 151,936-token vocabulary: 300 MiB at a batch of
 * 512, 1,201 MiB at 2,048; `(batch + parallel) × vocabulary × 4` bytes
 * predicts 299 and 1,190), plus a fixed allowance for Node and the gateway
 * (chatport idles at about 160 MiB RSS with llama.cpp loaded).
 */
import type { KvCacheType } from "./kv-cache-memory.js";

/** llama.cpp pads a context's cells up to a multiple of this (GGML_PAD in llama_context; node-llama-cpp's `contextSizePad`). */
export const CONTEXT_PAD = 256;

/** `auto` never picks less than chatport's default `--ctx` (or the training context, if smaller): memory that cannot hold this could not hold the default either. */
export const MIN_AUTO_CONTEXT = 4096;

/** The smallest context `auto` may pick for a model trained on `trainContext` tokens. */
export function autoContextFloor(trainContext: number): number {
  return Math.min(MIN_AUTO_CONTEXT, trainContext);
}

/** Memory kept for the process besides llama.cpp's buffers: Node's heap, request bodies, grammars, the ledger. */
export const PROCESS_HEADROOM_BYTES = 512 * 2 ** 20;

export interface ContextFitInput {
  /** The model id, for the error. */
  id: string;
  /** `--ctx`: tokens per sequence, or `auto`. */
  requested: number | "auto";
  /** `--parallel`. */
  sequences: number;
  /** The model's training context (`<arch>.context_length`); null when its GGUF names none. */
  trainContext: number | null;
  /** The weights in memory (the GGUF's file size is a close upper bound). */
  weightsBytes: number;
  /** Bytes of one KV cell across layers; null when the model's attention shape is unknown. */
  kvBytesPerCell: number | null;
  kvCacheType: KvCacheType;
  /** Tokens in the vocabulary (the logits' width). */
  vocabulary: number;
  /** Tokens per llama.cpp decode (`--batch-size`): the compute buffer holds this many tokens' logits. */
  batchSize: number;
  /** Bytes the process may still allocate. */
  availableBytes: number;
  /** Where `availableBytes` comes from, for the error (`MemAvailable 21.6 GiB; …`). */
  availableText: string;
}

export interface ContextFit {
  /** Tokens per sequence. */
  contextSize: number;
  source: "auto" | "flag";
  /** The KV cache of `contextSize × sequences` cells, or null when the attention shape is unknown. */
  kvBytes: number | null;
  /** The headroom the fit kept (compute buffer + process). */
  headroomBytes: number;
  /** An explicit `--ctx` whose weights and cache fit but leave less than the headroom: it starts, with a warning. */
  tight: boolean;
}

/** The memory cannot hold the context asked for (or, for `auto`, the smallest one it may pick). */
export class ContextDoesNotFit extends Error {
  override readonly name = "ContextDoesNotFit";
}

/** Cells llama.cpp allocates for `contextSize` tokens per sequence: one cache of `contextSize × sequences`, padded. */
export function kvCells(contextSize: number, sequences: number): number {
  return Math.ceil((contextSize * sequences) / CONTEXT_PAD) * CONTEXT_PAD;
}

/** llama.cpp's compute and output buffers for a batch (logits of `batchSize` tokens, plus one row per sequence), and the process's allowance. */
export function headroomBytes(batchSize: number, sequences: number, vocabulary: number): number {
  return (batchSize + sequences) * vocabulary * 4 + PROCESS_HEADROOM_BYTES;
}

const GiB = 2 ** 30;
const MiB = 2 ** 20;

/** `1.50 GiB`, `12.0 MiB`: memory as the error and the log show it. */
export function formatBytes(bytes: number): string {
  return bytes >= GiB ? `${(bytes / GiB).toFixed(2)} GiB` : `${(bytes / MiB).toFixed(1)} MiB`;
}

const remedy = "lower --ctx or --parallel, use --kv-cache-type q8_0 (half the KV cache) or q4_0 (a quarter), or --ctx auto (the largest context that fits)";

/**
 * The context per sequence a model gets. `auto`: the largest multiple of
 * {@link CONTEXT_PAD} whose weights + cache + headroom fit, at most the
 * training context, at least {@link MIN_AUTO_CONTEXT} (or the training
 * context, if smaller). A number: itself, unless weights + cache alone exceed
 * the memory (the process would swap or be killed), which throws; one that
 * fits but eats into the headroom comes back `tight`.
 */
export function fitContext(input: ContextFitInput): ContextFit {
  const { id, requested, sequences, trainContext, weightsBytes, kvBytesPerCell, availableBytes } = input;
  const cacheBytes = (contextSize: number): number => (kvBytesPerCell === null ? 0 : kvBytesPerCell * kvCells(contextSize, sequences));
  const headroom = (contextSize: number): number => headroomBytes(Math.min(input.batchSize, contextSize * sequences), sequences, input.vocabulary);
  const fits = (contextSize: number): boolean => weightsBytes + cacheBytes(contextSize) + headroom(contextSize) <= availableBytes;
  const memory = (contextSize: number, what: string): string => {
    const kv = cacheBytes(contextSize);
    const perCell = kvBytesPerCell === null ? "" : `; ${Math.round(kvBytesPerCell)} B per token`;
    return (
      `model ${id}: ${what} needs ${formatBytes(weightsBytes + kv)} ` +
      `(KV cache ${formatBytes(kv)} = ${kv} bytes, ${input.kvCacheType}${perCell}; weights ${formatBytes(weightsBytes)} = ${weightsBytes} bytes)`
    );
  };
  const available = `${formatBytes(availableBytes)} = ${Math.max(0, Math.round(availableBytes))} bytes are available (${input.availableText})`;

  if (requested !== "auto") {
    const kvBytes = kvBytesPerCell === null ? null : cacheBytes(requested);
    if (weightsBytes + cacheBytes(requested) > availableBytes) {
      throw new ContextDoesNotFit(`${memory(requested, `--ctx ${requested} × --parallel ${sequences}`)}, but only ${available}: ${remedy}`);
    }
    return { contextSize: requested, source: "flag", kvBytes, headroomBytes: headroom(requested), tight: !fits(requested) };
  }

  if (kvBytesPerCell === null) throw new ContextDoesNotFit(`model ${id}: --ctx auto needs the model's attention shape (block_count, embedding_length, attention.head_count), which its GGUF lacks; give --ctx a number`);
  if (trainContext === null || trainContext < 1) throw new ContextDoesNotFit(`model ${id}: --ctx auto needs the model's training context (context_length), which its GGUF lacks; give --ctx a number`);
  const floor = autoContextFloor(trainContext);
  if (!fits(floor)) {
    throw new ContextDoesNotFit(
      `${memory(floor, `--ctx auto: the smallest context it may pick, ${floor} × --parallel ${sequences},`)} + ${formatBytes(headroom(floor))} of headroom, but only ${available}: ${remedy.replace(", or --ctx auto (the largest context that fits)", ", or give --ctx a smaller number")}`,
    );
  }
  if (fits(trainContext)) return { contextSize: trainContext, source: "auto", kvBytes: cacheBytes(trainContext), headroomBytes: headroom(trainContext), tight: false };
  // The largest multiple of CONTEXT_PAD in [floor, trainContext) that fits: fits() falls as the context grows.
  let low = Math.ceil(floor / CONTEXT_PAD);
  let high = Math.floor((trainContext - 1) / CONTEXT_PAD);
  let best = floor;
  while (low <= high) {
    const mid = Math.floor((low + high) / 2);
    if (fits(mid * CONTEXT_PAD)) {
      best = mid * CONTEXT_PAD;
      low = mid + 1;
    } else high = mid - 1;
  }
  return { contextSize: best, source: "auto", kvBytes: cacheBytes(best), headroomBytes: headroom(best), tight: false };
}
