/**
 * The memory a llama.cpp context's KV cache takes, from the model's
 * attention shape and the cache's element type: per cell, every layer keeps a
 * key and a value vector for each KV head. This is the standard-attention
 * cache llama.cpp allocates for the architectures chatport serves (llama,
 * qwen2/3, mistral, …); a sliding-window or recurrent layer keeps fewer cells,
 * so for such models this is an upper bound.
 *
 * node-llama-cpp gives every sequence its own full context: `--ctx` tokens
 * per sequence, `--ctx × --parallel` cells in all (llama.cpp's non-unified
 * cache, one stream per sequence).
 */

/** KV cache element types chatport offers (llama-server's `--cache-type-k/-v`). */
export const KV_CACHE_TYPES = ["f16", "q8_0", "q4_0"] as const;
export type KvCacheType = (typeof KV_CACHE_TYPES)[number];

/** Bytes per element: F16 2; Q8_0 34 bytes per block of 32; Q4_0 18 per 32. */
const BYTES_PER_ELEMENT: Record<KvCacheType, number> = { f16: 2, q8_0: 34 / 32, q4_0: 18 / 32 };

/** The ggml type names node-llama-cpp's context takes. */
export const KV_CACHE_GGML_TYPE: Record<KvCacheType, "F16" | "Q8_0" | "Q4_0"> = { f16: "F16", q8_0: "Q8_0", q4_0: "Q4_0" };

export interface AttentionShape {
  layers: number;
  /** KV heads per layer (a number, or one per layer). */
  kvHeads: number | readonly number[];
  keyLength: number;
  valueLength: number;
}

/** The attention shape from a GGUF's `<arch>.*` metadata (node-llama-cpp's nested form), or null if it lacks it. */
export function attentionShape(architecture: string, metadata: Readonly<Record<string, unknown>>): AttentionShape | null {
  const arch = metadata[architecture];
  if (typeof arch !== "object" || arch === null) return null;
  const a = arch as Record<string, unknown>;
  const attention = (typeof a.attention === "object" && a.attention !== null ? a.attention : {}) as Record<string, unknown>;
  const layers = a.block_count;
  const heads = attention.head_count;
  const embedding = a.embedding_length;
  if (typeof layers !== "number" || typeof embedding !== "number") return null;
  const headCount = typeof heads === "number" ? heads : Array.isArray(heads) && typeof heads[0] === "number" ? (heads[0] as number) : null;
  if (headCount === null || headCount <= 0) return null;
  const rawKv = attention.head_count_kv;
  const kvHeads = typeof rawKv === "number" ? rawKv : Array.isArray(rawKv) && rawKv.every((h) => typeof h === "number") ? (rawKv as number[]) : headCount;
  const headDim = embedding / headCount;
  return {
    layers,
    kvHeads,
    keyLength: typeof attention.key_length === "number" ? attention.key_length : headDim,
    valueLength: typeof attention.value_length === "number" ? attention.value_length : headDim,
  };
}

/** Bytes one cache cell (one token of one sequence) takes across all layers. */
export function kvBytesPerCell(shape: AttentionShape, keyType: KvCacheType, valueType: KvCacheType): number {
  let bytes = 0;
  for (let layer = 0; layer < shape.layers; layer++) {
    const heads = typeof shape.kvHeads === "number" ? shape.kvHeads : (shape.kvHeads[layer] ?? 0);
    bytes += heads * (shape.keyLength * BYTES_PER_ELEMENT[keyType] + shape.valueLength * BYTES_PER_ELEMENT[valueType]);
  }
  return bytes;
}
