/**
 * The body of a `POST /v1/embeddings` response, and the vector arithmetic
 * every engine shares: L2 normalisation (OpenAI returns unit vectors),
 * Matryoshka truncation, and the two encodings — JSON floats, or base64 of
 * the little-endian float32 bytes (what the openai SDKs ask for by default
 * and decode). Pure, no I/O.
 */
import type { EmbeddingEncoding } from "./embeddings-request.js";

export interface EmbeddingsUsageWire {
  prompt_tokens: number;
  total_tokens: number;
}

export interface EmbeddingsBody {
  object: "list";
  data: Array<{ object: "embedding"; index: number; embedding: number[] | string }>;
  model: string;
  usage: EmbeddingsUsageWire;
}

/**
 * `vector` (or its first `dimensions` values, the Matryoshka way) scaled to
 * unit length, in float32. A zero vector stays zero.
 */
export function unitVector(vector: ArrayLike<number>, dimensions: number | null = null): Float32Array {
  const length = dimensions === null ? vector.length : Math.min(dimensions, vector.length);
  let sum = 0;
  for (let i = 0; i < length; i++) sum += (vector[i] ?? 0) ** 2;
  const scale = sum > 0 ? 1 / Math.sqrt(sum) : 0;
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = (vector[i] ?? 0) * scale;
  return out;
}

/**
 * A float32 as the shortest decimal that reads back as the same float32
 * (JSON numbers are doubles; printing the double would take up to 17 digits).
 */
function shortFloat32(value: number): number {
  for (let digits = 6; digits < 9; digits++) {
    const short = Number(value.toPrecision(digits));
    if (Math.fround(short) === value) return short;
  }
  return Number(value.toPrecision(9));
}

/** Little-endian float32 bytes, base64 (independent of the machine's byte order). */
export function float32Base64(vector: Float32Array): string {
  const bytes = Buffer.alloc(vector.length * 4);
  for (let i = 0; i < vector.length; i++) bytes.writeFloatLE(vector[i] ?? 0, i * 4);
  return bytes.toString("base64");
}

/** The inverse of {@link float32Base64}; null when the text is not whole float32s. */
export function base64Float32(text: string): Float32Array | null {
  const bytes = Buffer.from(text, "base64");
  if (bytes.length % 4 !== 0) return null;
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
}

export function embeddingsBody(model: string, vectors: readonly Float32Array[], encoding: EmbeddingEncoding, promptTokens: number): EmbeddingsBody {
  return {
    object: "list",
    data: vectors.map((vector, index) => ({
      object: "embedding",
      index,
      embedding: encoding === "base64" ? float32Base64(vector) : Array.from(vector, shortFloat32),
    })),
    model,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  };
}
