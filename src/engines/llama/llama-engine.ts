/**
 * The in-process llama.cpp engine: one model, one context with `parallel`
 * sequences. node-llama-cpp batches the pending tokens of all sequences into
 * each decode (continuous batching); requests wait for a free sequence in a
 * bounded queue and are placed on the sequence that already holds the longest
 * prefix of their prompt, whose KV cache is then reused.
 */
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import { performance } from "node:perf_hooks";
import {
  LlamaGrammarEvaluationState,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaGrammar,
  type LlamaModel,
  type Token,
} from "node-llama-cpp";
import type { Logger } from "pino";
import type { ChatRequest } from "../../protocol/chat-request.js";
import { contextLengthExceeded, invalidRequest } from "../../protocol/errors.js";
import type { ChatEvent, FinishReason } from "../../protocol/chat-events.js";
import type { Engine, ModelCard } from "../engine.js";
import { EventChannel } from "../event-channel.js";
import { plainTexts, PromptRenderer } from "./prompt-renderer.js";
import { grammarForResponseFormat } from "./response-grammar.js";
import { buildEvaluateOptions, buildTokenBias, resolveSeed } from "./sampling-options.js";
import { SlotPool } from "./slot-pool.js";
import { StopMatcher } from "./stop-matcher.js";
import { TokenTextDecoder } from "./token-text-decoder.js";

export interface LlamaEngineOptions {
  id: string;
  modelPath: string;
  /** Sequences decoded together (slots). */
  parallel: number;
  /** Tokens per sequence. */
  contextSize: number;
  threads: number;
  /** Requests allowed to wait for a slot before new ones get 503. */
  maxWaiting: number;
  logger: Logger;
}

interface PreparedRequest {
  promptTokens: Token[];
  stops: string[];
  /** Grammars that end in free whitespace (JSON) have it trimmed from the output. */
  trimTrailingWhitespace: boolean;
  grammar: LlamaGrammar | null;
  maxNewTokens: number;
}

interface RequestStats {
  start: number;
  firstTokenAt: number | null;
  completionTokens: number;
  cachedTokens: number;
  decodeMs: number[];
}

function commonPrefixLength(a: readonly Token[], b: readonly Token[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

async function fingerprint(llama: Llama, modelPath: string): Promise<string> {
  const stat = await fs.stat(modelPath);
  const hash = createHash("sha256");
  const handle = await fs.open(modelPath, "r");
  try {
    const head = Buffer.alloc(Math.min(1 << 20, stat.size));
    await handle.read(head, 0, head.length, 0);
    hash.update(head);
  } finally {
    await handle.close();
  }
  hash.update(`${stat.size}|${llama.llamaCppRelease.release}|${llama.buildType}|${llama.gpu}`);
  return `fp_${hash.digest("hex").slice(0, 10)}`;
}

export class LlamaEngine implements Engine {
  readonly card: ModelCard;
  readonly systemFingerprint: string;
  private readonly llama: Llama;
  private readonly model: LlamaModel;
  private readonly context: LlamaContext;
  private readonly renderer: PromptRenderer;
  private readonly pool: SlotPool<LlamaContextSequence>;
  private readonly vocabSize: number;
  private readonly logger: Logger;

  private constructor(
    card: ModelCard,
    systemFingerprint: string,
    llama: Llama,
    model: LlamaModel,
    context: LlamaContext,
    maxWaiting: number,
    logger: Logger,
  ) {
    this.card = card;
    this.systemFingerprint = systemFingerprint;
    this.llama = llama;
    this.model = model;
    this.context = context;
    this.logger = logger;
    this.renderer = new PromptRenderer(model);
    const sequences = Array.from({ length: context.totalSequences }, () => context.getSequence());
    this.pool = new SlotPool(sequences, maxWaiting);
    const tokens = model.fileInfo.metadata.tokenizer?.ggml?.tokens;
    this.vocabSize = Array.isArray(tokens) ? tokens.length : Number.MAX_SAFE_INTEGER;
  }

  static async load(llama: Llama, options: LlamaEngineOptions): Promise<LlamaEngine> {
    const model = await llama.loadModel({ modelPath: options.modelPath });
    const context = await model.createContext({
      sequences: options.parallel,
      contextSize: options.contextSize,
      threads: options.threads,
    });
    const stat = await fs.stat(options.modelPath);
    const card: ModelCard = {
      id: options.id,
      created: Math.floor(stat.mtimeMs / 1000),
      ownedBy: "chatport",
      contextLength: context.contextSize,
    };
    const engine = new LlamaEngine(card, await fingerprint(llama, options.modelPath), llama, model, context, options.maxWaiting, options.logger);
    options.logger.info(
      {
        model: options.id,
        path: options.modelPath,
        contextSize: context.contextSize,
        parallel: context.totalSequences,
        threads: options.threads,
        chatWrapper: engine.renderer.wrapper.wrapperName,
      },
      "model loaded",
    );
    return engine;
  }

  load(): { active: number; waiting: number; capacity: number } {
    return { active: this.pool.active, waiting: this.pool.waiting, capacity: this.pool.capacity };
  }

  async close(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
  }

  /** Everything that can be refused is checked here, before the first event. */
  private async prepare(request: ChatRequest): Promise<PreparedRequest> {
    for (const token of request.sampling.logitBias.keys()) {
      if (token >= this.vocabSize) {
        throw invalidRequest(`logit_bias token id ${token} is outside the vocabulary (size ${this.vocabSize}).`, "logit_bias", "invalid_value");
      }
    }
    const rendered = this.renderer.render(request.messages);
    const limit = this.context.contextSize;
    const promptLength = rendered.tokens.length;
    if (promptLength >= limit || (request.maxTokens !== null && promptLength + request.maxTokens > limit)) {
      throw contextLengthExceeded(limit, promptLength, request.maxTokens);
    }
    const grammar = await grammarForResponseFormat(this.llama, request.responseFormat);
    const room = limit - promptLength;
    return {
      promptTokens: rendered.tokens,
      stops: [...request.stop, ...rendered.stopTexts, ...(grammar === null ? [] : plainTexts(grammar.stopGenerationTriggers))],
      trimTrailingWhitespace: grammar?.trimWhitespaceSuffix === true,
      grammar,
      maxNewTokens: Math.min(request.maxTokens ?? room, room),
    };
  }

  async *generate(request: ChatRequest, signal: AbortSignal): AsyncGenerator<ChatEvent, void, void> {
    const prepared = await this.prepare(request);
    this.pool.admit(request.n);

    const cancel = new AbortController();
    const onAbort = (): void => cancel.abort(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });

    const channel = new EventChannel<ChatEvent>();
    const stats: RequestStats = { start: performance.now(), firstTokenAt: null, completionTokens: 0, cachedTokens: 0, decodeMs: [] };
    const choices = Array.from({ length: request.n }, (_, index) =>
      this.runChoice(index, request, prepared, stats, channel, cancel.signal),
    );
    Promise.all(choices).then(
      () => {
        channel.push({
          type: "usage",
          usage: {
            promptTokens: prepared.promptTokens.length,
            completionTokens: stats.completionTokens,
            cachedTokens: stats.cachedTokens,
            reasoningTokens: 0,
            prefillMs: stats.firstTokenAt === null ? 0 : stats.firstTokenAt - stats.start,
            decodeMs: stats.decodeMs,
          },
        });
        channel.close();
      },
      (err: unknown) => {
        cancel.abort(err);
        channel.fail(err);
      },
    );
    try {
      yield* channel.drain();
    } finally {
      signal.removeEventListener("abort", onAbort);
      cancel.abort(new Error("consumer finished"));
    }
  }

  private async runChoice(
    index: number,
    request: ChatRequest,
    prepared: PreparedRequest,
    stats: RequestStats,
    channel: EventChannel<ChatEvent>,
    signal: AbortSignal,
  ): Promise<void> {
    const prompt = prepared.promptTokens;
    let sequence: LlamaContextSequence;
    try {
      sequence = await this.pool.acquire((s) => commonPrefixLength(s.contextTokens, prompt), signal);
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    }
    try {
      // Reuse the cached prefix, but always evaluate at least one prompt token to get logits.
      const reuse = Math.min(sequence.compareContextTokens(prompt).firstDifferentIndex, prompt.length - 1);
      if (reuse < sequence.nextTokenIndex) {
        await sequence.eraseContextTokenRanges([{ start: reuse, end: sequence.nextTokenIndex }]);
      }
      if (index === 0) stats.cachedTokens = reuse;

      const generated: Token[] = [];
      const grammarState =
        prepared.grammar === null ? undefined : new LlamaGrammarEvaluationState({ model: this.model, grammar: prepared.grammar });
      const options = buildEvaluateOptions(
        request.sampling,
        resolveSeed(request.sampling, index),
        buildTokenBias(this.model, request.sampling.logitBias),
        grammarState,
        generated,
      );
      const decoder = new TokenTextDecoder(this.model);
      const stops = new StopMatcher(prepared.stops, { trimTrailingWhitespace: prepared.trimTrailingWhitespace });
      const emit = (content: string): void => {
        if (content !== "") channel.push({ type: "delta", index, content });
      };

      let finish: FinishReason | null = null;
      let stoppedByString = false;
      let last = 0;
      for await (const token of sequence.evaluate(prompt.slice(reuse), options)) {
        if (signal.aborted) break;
        const now = performance.now();
        if (generated.length === 0) stats.firstTokenAt ??= now;
        else if (index === 0) stats.decodeMs.push(now - last);
        last = now;
        stats.completionTokens++;
        generated.push(token);

        const endOfGeneration = this.model.isEogToken(token);
        if (endOfGeneration && !request.ignoreEos) {
          finish = "stop";
          break;
        }
        const scan = endOfGeneration ? { emit: "", stopped: false } : stops.push(decoder.push(token));
        emit(scan.emit);
        if (scan.stopped) {
          finish = "stop";
          stoppedByString = true;
          break;
        }
        if (generated.length >= prepared.maxNewTokens) {
          finish = "length";
          break;
        }
      }
      if (signal.aborted) {
        this.logger.info({ model: this.card.id, choice: index, completionTokens: generated.length }, "generation cancelled");
        return;
      }
      if (!stoppedByString) {
        const tail = stops.push(decoder.flush());
        emit(tail.emit);
        if (tail.stopped) finish = "stop";
        else emit(stops.flush());
      }
      channel.push({ type: "finish", index, reason: finish ?? "stop" });
    } finally {
      this.pool.release(sequence);
    }
  }
}
