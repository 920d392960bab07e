/**
 * The contract between the HTTP surface and anything that produces tokens.
 *
 * An engine takes a normalised {@link ChatRequest} and yields events; the
 * server turns the same events into either one JSON body or SSE chunks, so
 * streaming and non-streaming responses cannot disagree.
 *
 * Before admission the gateway asks the engine to {@link Engine.prepare} the
 * request: how many tokens its prompt is (what a budget must reserve) and
 * how much completion the context leaves. `generate` takes that preparation
 * back, so the prompt is rendered and tokenized once.
 *
 * Errors that are the request's fault (context too long, bad token id,
 * unsupported schema) or overload are thrown as ApiError by `prepare` or
 * *before* the first event, so the server can still answer with a proper
 * HTTP status.
 *
 * Once a request is admitted, its last event is always `usage` with what was
 * generated, also when it was cancelled or failed (the error follows it), so
 * the gateway meters every token.
 */
import type { ChatEvent, UsageCounts } from "../protocol/chat-events.js";
import type { ChatRequest } from "../protocol/chat-request.js";
import type { EmbeddingsRequest } from "../protocol/embeddings-request.js";

export interface ModelCard {
  id: string;
  created: number;
  ownedBy: string;
  /** Tokens one sequence can hold (prompt + completion). */
  contextLength: number;
  /** Takes image/audio/file content parts (upstream multimodal models); local models are text-only. */
  acceptsMedia?: boolean;
}

/** What an engine knows of a request before it runs it: what admission reserves. */
export interface PreparedChat {
  /**
   * Prompt tokens: counted exactly (local models), or estimated where the
   * tokenizer is elsewhere (upstreams) — an estimate that no usual tokenizer
   * exceeds, so reserving it never falls short.
   */
  readonly promptTokens: number;
  readonly promptEstimated: boolean;
  /** Completion tokens per choice the model's context leaves after the prompt. */
  readonly completionRoom: number;
}

/** What serves a model: llama.cpp in this process, or OpenAI-compatible servers elsewhere. */
export type EngineKind = "local" | "upstream";

/** One upstream deployment of a model: a provider and the model id it knows. */
export interface DeploymentRef {
  provider: string;
  model: string;
}

/** What a grammar was compiled for: a response_format, or tool calls (tools' parameters). */
export type GrammarKind = "response_format" | "tool_calls";

/** What an engine reports about grammar-constrained outputs, for metrics. */
export interface StructuredOutputObserver {
  /** A grammar was compiled (not served from the cache), taking `seconds`. */
  grammarCompiled(model: string, kind: GrammarKind, seconds: number): void;
  /** A grammar was looked up in the cache. */
  grammarLookup(model: string, kind: GrammarKind, hit: boolean): void;
  /** A finished constrained output was checked against its schemas. */
  outputChecked(model: string, kind: GrammarKind, valid: boolean): void;
  /**
   * A constrained choice ended: how many of its picks had each outcome (the
   * grammar boost's decision before the pick, see grammar-sampling-bias.ts).
   */
  grammarSteps(model: string, kind: GrammarKind, outcome: string, count: number): void;
}

/** What `/admin/models`, the dashboard and the metrics show of a local model's KV cache. */
export interface KvCacheReport {
  /** Tokens held in the cache now, across sequences (cached prefixes included). */
  used: number;
  /** Cells in all: context per sequence × sequences. */
  size: number;
  sequences: number;
  /** Context per sequence (`--ctx`). */
  contextPerSequence: number;
  /** Element type of keys and values (`--kv-cache-type`). */
  type: string;
  /** Bytes of the whole cache as allocated, and of one sequence's share; null when the model's attention shape is unknown. */
  bytes: number | null;
  bytesPerSequence: number | null;
}

/**
 * What an embeddings request computed: one unit vector per input, in input
 * order (fewer when the client went away part way), and the tokens read.
 */
export interface Embeddings {
  readonly vectors: readonly Float32Array[];
  /** Prompt tokens read (completion tokens are 0). */
  readonly usage: UsageCounts;
}

export interface Engine {
  readonly kind: EngineKind;
  readonly card: ModelCard;
  /** Stable for a model file + build; goes out as `system_fingerprint`. */
  readonly systemFingerprint: string;
  /** Checks the request and measures its prompt; throws ApiError for what it refuses. */
  prepare(request: ChatRequest): Promise<PreparedChat>;
  /**
   * The prompt's exact tokens as the model's own server counts them, where
   * one can tell (an upstream serving the Messages API counts a Messages
   * request's); null where none can, and {@link prepare}'s count stands.
   */
  countPromptTokens?(request: ChatRequest, signal: AbortSignal): Promise<number | null>;
  /**
   * Runs the request. `prepared` is this engine's {@link prepare} of the same
   * messages (max tokens may have been capped since); without it the engine prepares itself.
   */
  generate(request: ChatRequest, signal: AbortSignal, prepared?: PreparedChat): AsyncGenerator<ChatEvent, void, void>;
  /** Sequences busy and requests waiting, for /health. */
  load(): { active: number; waiting: number; capacity: number };
  /** The KV cache: tokens held, its size and memory (local models), for metrics and /admin/models. */
  kvCache?(): KvCacheReport;
  /** The deployments an upstream model balances over (upstream engines), for /admin/models. */
  upstreamDeployments?(): readonly DeploymentRef[];
  /** Engines that constrain outputs with grammars report to `observer` (local models). */
  observeStructuredOutputs?(observer: StructuredOutputObserver): void;
  /**
   * Engines that compute embeddings (embedding models, upstreams): checks the
   * inputs and counts their tokens (estimates them, upstream) before
   * admission, as {@link prepare} does for a prompt; `completionRoom` is 0.
   */
  prepareEmbeddings?(request: EmbeddingsRequest): Promise<PreparedChat>;
  /** Computes the embeddings of a prepared request; stops early (with what it did) when `signal` aborts. */
  embed?(request: EmbeddingsRequest, signal: AbortSignal, prepared: PreparedChat): Promise<Embeddings>;
  close(): Promise<void>;
}
