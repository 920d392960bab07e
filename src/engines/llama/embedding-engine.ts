/**
 * A local embedding model (`--embedding-model`): llama.cpp embedding
 * contexts, pooled as the GGUF says (`<arch>.pooling_type`: mean, cls or
 * last), every vector scaled to unit length as OpenAI's are.
 *
 * Concurrency: node-llama-cpp 3.21's binding reads the pooled embedding of
 * sequence 0 only (AddonContext::GetEmbedding calls
 * llama_get_embeddings_seq(ctx, 0)), so several inputs cannot share one
 * llama_decode. Instead the engine holds `parallel` embedding contexts (one
 * sequence each, the threads split between them) in a {@link SlotPool}: the
 * inputs of all requests wait in its one bounded FIFO queue, and up to
 * `parallel` of them are decoded at once on libuv's worker threads. A
 * request with several inputs takes at most `parallel` contexts, one input
 * at a time each, so a big batch cannot starve small requests.
 */
import fs from "node:fs/promises";
import { performance } from "node:perf_hooks";
import type { Llama, LlamaEmbeddingContext, LlamaModel, Token } from "node-llama-cpp";
import type { Logger } from "pino";
import type { ChatEvent } from "../../protocol/chat-events.js";
import { inputParam, type EmbeddingsRequest } from "../../protocol/embeddings-request.js";
import { unitVector } from "../../protocol/embeddings-response.js";
import { ApiError, invalidRequest } from "../../protocol/errors.js";
import type { Embeddings, Engine, ModelCard, PreparedChat } from "../engine.js";
import { fingerprint } from "./llama-engine.js";
import { SlotPool } from "./slot-pool.js";

export interface EmbeddingEngineOptions {
  id: string;
  modelPath: string;
  /** Embedding contexts decoding at once. */
  parallel: number;
  /**
   * Tokens per context (capped at the model's training context): an input may
   * hold one less. `auto`: the training context. Not fitted to memory
   * (context-fit.ts): an encoder (BERT-family) model keeps no KV cache in
   * llama.cpp, so its memory is one batch's compute buffer per context, which
   * the KV cache formula does not describe (docs/OPERATIONS.md).
   */
  contextSize: number | "auto";
  /** Threads in all, split between the contexts. */
  threads: number;
  /** Inputs that may wait for a context before new requests get 503. */
  maxWaiting: number;
  /** The model was trained Matryoshka-style: `dimensions` truncates its vectors (otherwise a 400). */
  matryoshka: boolean;
  logger: Logger;
}

/** GGUF `pooling_type` values (llama.cpp's llama_pooling_type) that give one vector per input. */
const POOLING: Record<number, string> = { 1: "mean", 2: "cls", 3: "last" };

/** The 400 a chat request to an embedding model gets. */
export function notAChatModel(id: string): ApiError {
  return invalidRequest(`The model \`${id}\` is an embedding model: it serves /v1/embeddings, not chat.`, "model", "model_not_supported");
}

function poolingOf(model: LlamaModel): number | undefined {
  const arch = model.fileInfo.metadata.general.architecture;
  const section = (model.fileInfo.metadata as unknown as Record<string, { pooling_type?: unknown } | undefined>)[arch];
  const pooling = section?.pooling_type;
  return typeof pooling === "number" ? pooling : undefined;
}

export class EmbeddingEngine implements Engine {
  readonly kind = "local";
  readonly card: ModelCard;
  readonly systemFingerprint: string;
  private readonly model: LlamaModel;
  private readonly contexts: readonly LlamaEmbeddingContext[];
  private readonly pool: SlotPool<LlamaEmbeddingContext>;
  private readonly options: EmbeddingEngineOptions;
  private readonly vocabSize: number;
  /** Each prepared request's inputs as the tokens the contexts will read (BOS/EOS included). */
  private readonly plans = new WeakMap<PreparedChat, Token[][]>();

  private constructor(card: ModelCard, systemFingerprint: string, model: LlamaModel, contexts: LlamaEmbeddingContext[], options: EmbeddingEngineOptions) {
    this.card = card;
    this.systemFingerprint = systemFingerprint;
    this.model = model;
    this.contexts = contexts;
    this.options = options;
    this.pool = new SlotPool(contexts, options.maxWaiting);
    const tokens = model.fileInfo.metadata.tokenizer?.ggml?.tokens;
    this.vocabSize = Array.isArray(tokens) ? tokens.length : Number.MAX_SAFE_INTEGER;
  }

  static async load(llama: Llama, options: EmbeddingEngineOptions): Promise<EmbeddingEngine> {
    const model = await llama.loadModel({ modelPath: options.modelPath });
    const pooling = poolingOf(model);
    const poolingName = pooling === undefined ? undefined : POOLING[pooling];
    if (poolingName === undefined) {
      await model.dispose();
      throw new Error(
        `Model ${options.id} (${options.modelPath}) is not an embedding model: its GGUF ${pooling === undefined ? "has no" : `has pooling type ${pooling}, not a`} ` +
          `pooling type (<architecture>.pooling_type: mean, cls or last)`,
      );
    }
    const contextSize = options.contextSize === "auto" ? model.trainContextSize : Math.min(options.contextSize, model.trainContextSize);
    const threads = Math.max(1, Math.floor(options.threads / options.parallel));
    const contexts: LlamaEmbeddingContext[] = [];
    for (let i = 0; i < options.parallel; i++) {
      // The whole input in one decode: non-causal (BERT-like) models need it, and pooling spans one batch.
      contexts.push(await model.createEmbeddingContext({ contextSize, batchSize: contextSize, threads }));
    }
    const card: ModelCard = {
      id: options.id,
      created: Math.floor((await fs.stat(options.modelPath)).mtimeMs / 1000),
      ownedBy: "chatport",
      contextLength: contextSize,
    };
    const engine = new EmbeddingEngine(card, await fingerprint(llama, options.modelPath), model, contexts, options);
    options.logger.info(
      { model: options.id, path: options.modelPath, embedding: true, pooling: poolingName, dimensions: model.embeddingVectorSize, contextSize, parallel: options.parallel, threadsPerContext: threads, matryoshka: options.matryoshka },
      "model loaded",
    );
    return engine;
  }

  load(): { active: number; waiting: number; capacity: number } {
    return { active: this.pool.active, waiting: this.pool.waiting, capacity: this.pool.capacity };
  }

  async close(): Promise<void> {
    for (const context of this.contexts) await context.dispose();
    await this.model.dispose();
  }

  async prepare(): Promise<PreparedChat> {
    throw notAChatModel(this.card.id);
  }

  // eslint-disable-next-line require-yield -- never runs: prepare refuses first
  async *generate(): AsyncGenerator<ChatEvent, void, void> {
    throw notAChatModel(this.card.id);
  }

  /** Every input tokenized and checked (token ids in the vocabulary, the length within the context) before admission. */
  async prepareEmbeddings(request: EmbeddingsRequest): Promise<PreparedChat> {
    const size = this.model.embeddingVectorSize;
    if (request.dimensions !== null) {
      if (!this.options.matryoshka) {
        throw invalidRequest(
          `The model \`${request.model}\` does not support 'dimensions' (it was not configured as a Matryoshka model); leave it out to get its ${size}-dimensional vectors.`,
          "dimensions",
          "unsupported_parameter",
        );
      }
      if (request.dimensions > size) {
        throw invalidRequest(`Invalid 'dimensions': ${request.dimensions} is more than the model's ${size}.`, "dimensions", "invalid_value");
      }
    }
    const limit = this.card.contextLength - 1;
    const context = this.contexts[0];
    if (context === undefined) throw new Error("an embedding engine without contexts");
    let promptTokens = 0;
    const plan = request.inputs.map((input, index) => {
      const param = inputParam(request, index);
      if (input.kind === "tokens") {
        const bad = input.tokens.findIndex((t) => t >= this.vocabSize);
        if (bad >= 0) throw invalidRequest(`Invalid '${param}': token id ${input.tokens[bad]} is outside the vocabulary (size ${this.vocabSize}).`, param, "invalid_value");
      }
      const tokens: Token[] = input.kind === "text" ? this.model.tokenize(input.text, false) : (input.tokens as Token[]);
      // The tokens as the context evaluates them: with the BOS/EOS the vocabulary asks for.
      const length = context.calculateInputLength(tokens);
      if (length > limit) {
        throw invalidRequest(`Invalid '${param}': it is ${length} tokens, more than this model's limit of ${limit} tokens per input.`, param, "context_length_exceeded");
      }
      promptTokens += length;
      return tokens;
    });
    const prepared: PreparedChat = { promptTokens, promptEstimated: false, completionRoom: 0 };
    this.plans.set(prepared, plan);
    return prepared;
  }

  async embed(request: EmbeddingsRequest, signal: AbortSignal, prepared: PreparedChat): Promise<Embeddings> {
    const plan = this.plans.get(prepared) ?? this.plans.get(await this.prepareEmbeddings(request));
    if (plan === undefined) throw new Error("embeddings not prepared");
    const workers = Math.min(plan.length, this.pool.capacity);
    this.pool.admit(workers);
    const started = performance.now();
    const vectors: Array<Float32Array | undefined> = new Array(plan.length);
    let next = 0;
    let tokensRead = 0;
    const work = async (): Promise<void> => {
      while (!signal.aborted && next < plan.length) {
        const index = next++;
        const tokens = plan[index] as Token[];
        let context: LlamaEmbeddingContext;
        try {
          context = await this.pool.acquire(() => 0, signal);
        } catch (err) {
          if (signal.aborted) return;
          throw err;
        }
        try {
          const embedding = await context.getEmbeddingFor(tokens);
          tokensRead += context.calculateInputLength(tokens);
          vectors[index] = unitVector(embedding.vector, request.dimensions);
        } finally {
          this.pool.release(context);
        }
      }
    };
    await Promise.all(Array.from({ length: workers }, work));
    // After a disconnect: the vectors finished in order from the first, and every token read is metered.
    const done = vectors.findIndex((v) => v === undefined);
    return {
      vectors: (done < 0 ? vectors : vectors.slice(0, done)) as Float32Array[],
      usage: { promptTokens: tokensRead, completionTokens: 0, cachedTokens: 0, reasoningTokens: 0, prefillMs: performance.now() - started, decodeMs: [] },
    };
  }
}
