/**
 * An upstream's `/v1/embeddings` answer → the vectors (float32, in input
 * order) and the usage the gateway meters. It takes the place of the chat
 * {@link ResponseDecoder} in the upstream engine's attempt loop, so
 * embeddings get the same balancing, retries and failover; it yields no
 * events of its own, only the final usage. Vectors come as JSON floats or
 * base64 (whichever the client asked for and the upstream honoured) and
 * are re-encoded for the client as it asked.
 */
import type { ChatEvent, UsageCounts } from "../protocol/chat-events.js";
import { base64Float32 } from "../protocol/embeddings-response.js";
import { isRecord, type JsonRecord, type UpstreamDecoder } from "./upstream-wire.js";

/** What the upstream engine's attempt loop needs of a decoder. */

function vectorOf(raw: unknown): Float32Array | null {
  if (typeof raw === "string") return base64Float32(raw);
  if (!Array.isArray(raw) || !raw.every((x) => typeof x === "number" && Number.isFinite(x))) return null;
  return Float32Array.from(raw as number[]);
}

export class EmbeddingsDecoder implements UpstreamDecoder {
  done = false;
  /** The vectors, once a whole answer with one per input was read. */
  vectors: Float32Array[] | null = null;
  private promptTokens: number | null = null;

  constructor(
    private readonly inputs: number,
    /** performance.now() when the request was admitted. */
    private readonly startedAt: number,
    /** The inputs' estimated tokens, metered (marked estimated) when the upstream reports no usage. */
    private readonly promptEstimate: number,
  ) {}

  allFinished(): boolean {
    return this.done;
  }

  /** Embeddings do not stream: a stream is answered as an error. */
  chunk(_json: unknown, _out: ChatEvent[]): JsonRecord | null {
    return { error: { message: "the upstream streamed an embeddings response", type: "server_error" } };
  }

  /** A whole embeddings list; false when it is not one with one vector per input. */
  completion(json: unknown, _out: ChatEvent[]): boolean {
    if (!isRecord(json) || !Array.isArray(json.data) || json.data.length !== this.inputs) return false;
    const vectors: Float32Array[] = new Array<Float32Array>(this.inputs);
    for (const [position, item] of json.data.entries()) {
      if (!isRecord(item)) return false;
      const index = typeof item.index === "number" ? item.index : position;
      const vector = vectorOf(item.embedding);
      if (!Number.isInteger(index) || index < 0 || index >= this.inputs || vector === null || vectors[index] !== undefined) return false;
      vectors[index] = vector;
    }
    const usage = isRecord(json.usage) ? json.usage.prompt_tokens : undefined;
    if (typeof usage === "number" && Number.isFinite(usage) && usage >= 0) this.promptTokens = usage;
    this.vectors = vectors;
    this.done = true;
    return true;
  }

  usageCounts(): UsageCounts {
    const counts = { completionTokens: 0, cachedTokens: 0, reasoningTokens: 0, prefillMs: performance.now() - this.startedAt, decodeMs: [] };
    if (this.promptTokens !== null) return { promptTokens: this.promptTokens, ...counts };
    return { promptTokens: this.vectors === null ? 0 : this.promptEstimate, ...counts, estimated: true };
  }
}
