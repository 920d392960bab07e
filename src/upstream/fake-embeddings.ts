/**
 * The fake upstream's `POST /v1/embeddings` answer (fake-upstream.ts):
 * deterministic vectors derived from each input, so pass-through can be
 * checked end to end. Each vector has `dimensions` (default
 * {@link FAKE_EMBEDDING_DIMENSIONS}) values from a hash of the input, scaled
 * to unit length; prompt_tokens = {@link fakeEmbeddingTokens}; base64 when
 * the request asks for it.
 */
import { createHash } from "node:crypto";
import { float32Base64, unitVector } from "../protocol/embeddings-response.js";

type JsonRecord = Record<string, unknown>;

export const FAKE_EMBEDDING_DIMENSIONS = 8;

/** The inputs of a body as the fake sees them: strings, or token arrays (as their JSON text). */
function fakeInputs(input: unknown): unknown[] {
  if (typeof input === "string") return [input];
  if (!Array.isArray(input)) return [];
  return input.every((x) => typeof x === "number") ? [input] : input;
}

/** One per whitespace-separated word of a string input, one per id of a token input. */
export function fakeEmbeddingTokens(input: unknown): number {
  if (typeof input === "string") return input.split(/\s+/).filter((w) => w !== "").length;
  return Array.isArray(input) ? input.length : 0;
}

/** The unit vector the fake answers for one input. */
export function fakeEmbedding(input: unknown, dimensions = FAKE_EMBEDDING_DIMENSIONS): Float32Array {
  const raw = Array.from({ length: dimensions }, (_, i) => {
    const digest = createHash("sha256").update(`${i}:${JSON.stringify(input)}`).digest();
    return digest.readInt32LE(0) / 2 ** 31;
  });
  return unitVector(raw);
}

export function fakeEmbeddingsResponse(body: JsonRecord): JsonRecord {
  const inputs = fakeInputs(body.input);
  const dimensions = typeof body.dimensions === "number" ? body.dimensions : FAKE_EMBEDDING_DIMENSIONS;
  const tokens = inputs.reduce<number>((sum, input) => sum + fakeEmbeddingTokens(input), 0);
  return {
    object: "list",
    data: inputs.map((input, index) => {
      const vector = fakeEmbedding(input, dimensions);
      return { object: "embedding", index, embedding: body.encoding_format === "base64" ? float32Base64(vector) : Array.from(vector) };
    }),
    model: typeof body.model === "string" ? body.model : "fake-model",
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  };
}
