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
import { readGgufFileInfo, type Llama, type LlamaContext, type LlamaContextSequence, type LlamaGrammar, type LlamaModel, type Token } from "node-llama-cpp";
import type { Logger } from "pino";
import type { ChatEvent } from "../../protocol/chat-events.js";
import type { ChatRequest } from "../../protocol/chat-request.js";
import { contextLengthExceeded, invalidRequest } from "../../protocol/errors.js";
import { newCallId, newShortCallId } from "../../protocol/ids.js";
import type { Engine, GrammarKind, KvCacheReport, ModelCard, PreparedChat, StructuredOutputObserver } from "../engine.js";
import { EventChannel } from "../event-channel.js";
import { BatchPlanner, sequenceIdOf, type PlannedStep } from "./batch-scheduler.js";
import { runChoice, type ChoiceContext, type ChoicePlan, type RequestStats } from "./choice-run.js";
import { contentKey } from "./content-key.js";
import { GrammarCache } from "./grammar-cache.js";
import { OutputSchemaChecker, SchemaNotCheckable, type PreparedSchema } from "./output-schema-checker.js";
import { responseFormatContract, toolCallContract, type OutputContract } from "./output-validation.js";
import type { ReasoningFormat } from "./families/model-family.js";
import { effortPlan } from "./families/reasoning-effort.js";
import { parserMarkers } from "./families/registry.js";
import { createPromptRenderer, isSingleToken, plainTexts, type PromptRenderer } from "./prompt-renderer.js";
import { attentionShape, KV_CACHE_GGML_TYPE, kvBytesPerCell, type KvCacheType } from "./kv-cache-memory.js";
import { availableMemory, describeAvailableMemory } from "./available-memory.js";
import { autoContextFloor, fitContext, formatBytes } from "./context-fit.js";
import { describeLoadedBinary, loadedBinary } from "./llama-runtime.js";
import { prebuiltF16Advice } from "./prebuilt-f16-advice.js";
import { rawPromptTokens, type RawPromptTokens } from "./raw-prompt.js";
import { grammarForResponseFormat } from "./response-grammar.js";
import { SlotPool } from "./slot-pool.js";
import { TokenBytes } from "./token-bytes.js";
import { minBoostedVocabulary } from "./grammar-sampling-bias.js";
import { vocabularyTrie } from "./grammar-token-trie.js";
import { callMarker, toolCallGrammar } from "./tool-call-grammar.js";

export interface LlamaEngineOptions {
  id: string;
  modelPath: string;
  /** A chat template used instead of the GGUF's own (`--chat-template`); null: the GGUF's. */
  chatTemplate?: string | null;
  /** Sequences decoded together (slots). */
  parallel: number;
  /** Tokens per sequence, or `auto`: the largest that fits in memory (context-fit.ts). A number that cannot fit is refused before the model loads. */
  contextSize: number | "auto";
  /** Weights of models this process loaded before, which MemAvailable still counts as free (their mmap'd pages are page cache). */
  earlierModelsBytes?: number;
  threads: number;
  /** Requests allowed to wait for a slot before new ones get 503. */
  maxWaiting: number;
  /** Prompt tokens per batch while other sequences decode (0: node-llama-cpp's default strategy). */
  prefillChunk: number;
  /** While others decode, a step that also prefills takes at most this × a decode step (0: no limit). */
  maxStall?: number;
  /** Tokens per llama_decode call (node-llama-cpp makes it the micro-batch too), at most the whole cache. Default: node-llama-cpp's (≤ 512). */
  batchSize?: number;
  /** Flash attention in llama.cpp. Default: node-llama-cpp's (off). */
  flashAttention?: boolean;
  /** Element type of the KV cache's keys and values (default f16). */
  kvCacheType?: KvCacheType;
  logger: Logger;
}

/** A choice plan but its completion length; `raw`: the prompts of a raw-prompt request (choice i answers prompt ⌊i / (n / prompts)⌋). */
type PromptPlan = Omit<ChoicePlan, "maxNewTokens"> & { raw?: RawPromptTokens };

/** Prompt tokens a plan bills (every prompt of a raw-prompt request once) and the longest prompt, which the context must hold. */
function promptSize(plan: PromptPlan): { total: number; longest: number } {
  const prompts = plan.raw?.prompts ?? [plan.prompt];
  return { total: prompts.reduce((sum, p) => sum + p.length, 0), longest: Math.max(...prompts.map((p) => p.length)) };
}

/** Compiled grammars kept per engine (most recently used). */
const grammarCacheCapacity = 128;

/** A grammar for the output and what the output must then satisfy. */
interface ConstrainedOutput {
  grammar: LlamaGrammar;
  contract: OutputContract;
}

type ToolGrammarOptions = Parameters<typeof toolCallGrammar>[2];


function commonPrefixLength(a: readonly Token[], b: readonly Token[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

export async function fingerprint(llama: Llama, modelPath: string): Promise<string> {
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

/** The parser markers that are special tokens of this model, which detokenizing would otherwise hide. */
function markerTokens(model: LlamaModel, renderer: PromptRenderer): ReadonlySet<Token> {
  const out = new Set<Token>();
  for (const marker of parserMarkers(renderer.family, renderer.reasoning)) {
    if (!isSingleToken(model, marker)) {
      // A marker of several tokens (Gemma 4's `<|channel>thought`): its special tokens are shown too.
      for (const token of model.tokenize(marker, true)) if (model.detokenize([token], false) !== model.detokenize([token], true)) out.add(token);
      continue;
    }
    const [token] = model.tokenize(marker, true);
    if (token !== undefined && model.detokenize([token], false) !== marker) out.add(token);
  }
  return out;
}

export class LlamaEngine implements Engine {
  readonly kind = "local";
  readonly card: ModelCard;
  readonly systemFingerprint: string;
  private readonly llama: Llama;
  private readonly model: LlamaModel;
  private readonly context: LlamaContext;
  private readonly renderer: PromptRenderer;
  private readonly pool: SlotPool<LlamaContextSequence>;
  private readonly sequences: readonly LlamaContextSequence[];
  private readonly vocabSize: number;
  private readonly choiceContext: ChoiceContext;
  private readonly planner: BatchPlanner;
  private readonly logger: Logger;
  /** Plans made by prepare(), for the generate() that follows (gone with the preparation). */
  private readonly plans = new WeakMap<PreparedChat, PromptPlan>();
  private readonly grammars: GrammarCache;
  private readonly checker = new OutputSchemaChecker();
  private observer: StructuredOutputObserver | null = null;

  private readonly kvCacheType: KvCacheType;
  /** Bytes of one KV cell across layers; null when the model's attention shape is unknown. */
  private readonly kvBytesPerCell: number | null;

  private constructor(
    card: ModelCard,
    systemFingerprint: string,
    llama: Llama,
    model: LlamaModel,
    context: LlamaContext,
    planner: BatchPlanner,
    options: LlamaEngineOptions,
    kvCache: { type: KvCacheType; bytesPerCell: number | null },
  ) {
    this.card = card;
    this.systemFingerprint = systemFingerprint;
    this.llama = llama;
    this.model = model;
    this.context = context;
    this.planner = planner;
    this.logger = options.logger;
    this.renderer = createPromptRenderer(model, options.chatTemplate ?? null);
    const sequences = Array.from({ length: context.totalSequences }, () => context.getSequence());
    this.sequences = sequences;
    this.pool = new SlotPool(sequences, options.maxWaiting);
    this.kvCacheType = kvCache.type;
    this.kvBytesPerCell = kvCache.bytesPerCell;
    const tokens = model.fileInfo.metadata.tokenizer?.ggml?.tokens;
    this.vocabSize = Array.isArray(tokens) ? tokens.length : Number.MAX_SAFE_INTEGER;
    let tokenBytes: TokenBytes | null = null;
    // The grammar boost's vocabulary index costs 0.3–0.5 s of CPU on a 151k vocabulary: built
    // here, at load, rather than on the event loop of a model's first constrained request.
    if (this.vocabSize >= minBoostedVocabulary && this.vocabSize !== Number.MAX_SAFE_INTEGER) {
      tokenBytes = TokenBytes.fromModel(model);
      vocabularyTrie(tokenBytes, (token) => model.isEogToken(token));
    }
    this.grammars = new GrammarCache({
      capacity: grammarCacheCapacity,
      onCompiled: (kind, seconds) => this.observer?.grammarCompiled(card.id, kind, seconds),
      onLookup: (kind, hit) => this.observer?.grammarLookup(card.id, kind, hit),
    });
    this.choiceContext = {
      modelId: card.id,
      model,
      tokenBytes: () => (tokenBytes ??= TokenBytes.fromModel(model)),
      markerTokens: markerTokens(model, this.renderer),
      logger: options.logger,
      enterGeneration: (sequence, options) => planner.enter(sequenceIdOf(sequence), options),
      beginCacheEdit: () => planner.beginCacheEdit(),
      afterCacheEdits: () => planner.afterCacheEdits(),
      beforePrompt: () => planner.beforePrompt(),
      outputChecked: (kind: GrammarKind, valid: boolean) => this.observer?.outputChecked(card.id, kind, valid),
      grammarSteps: (kind: GrammarKind, steps: ReadonlyMap<string, number>) => {
        for (const [outcome, count] of steps) this.observer?.grammarSteps(card.id, kind, outcome, count);
      },
    };
  }

  static async load(llama: Llama, options: LlamaEngineOptions): Promise<LlamaEngine> {
    const log = options.logger;
    // Sized from the GGUF's header before the weights load, so a context that cannot fit is refused before anything is allocated.
    const header = await readGgufFileInfo(options.modelPath, { readTensorInfo: false, logWarnings: false });
    const metadata = header.metadata as Record<string, unknown>;
    const kvType = options.kvCacheType ?? "f16";
    const attention = attentionShape(header.metadata.general.architecture, metadata);
    if (kvType !== "f16" && attention !== null && (attention.keyLength % 32 !== 0 || attention.valueLength % 32 !== 0)) {
      throw new Error(
        `--kv-cache-type ${kvType} stores blocks of 32 values, but model ${options.id} has attention heads of ${attention.keyLength} values; use f16`,
      );
    }
    const file = await fs.stat(options.modelPath);
    const weightsBytes = file.size;
    const bytesPerCell = attention === null ? null : kvBytesPerCell(attention, kvType, kvType);
    // The fit is measured against system memory (Linux's MemAvailable and cgroups), which is where a CPU build keeps
    // weights and cache. With a GPU they go to its memory, and off Linux free memory is not what may still be
    // allocated (macOS counts caches as used): there nothing is refused, and `auto` is left to node-llama-cpp's own
    // sizing (which reads the GPU's free memory), between the smallest context auto may pick and the training context.
    const measured = llama.gpu === false && process.platform === "linux";
    const memory = await availableMemory();
    const earlier = options.earlierModelsBytes ?? 0;
    const tokens = header.metadata.tokenizer?.ggml?.tokens;
    const trainContext = header.architectureMetadata.context_length;
    const fit = fitContext({
      id: options.id,
      requested: options.contextSize,
      sequences: options.parallel,
      trainContext: typeof trainContext === "number" ? trainContext : null,
      weightsBytes,
      kvBytesPerCell: bytesPerCell,
      kvCacheType: kvType,
      vocabulary: Array.isArray(tokens) ? tokens.length : 0,
      batchSize: options.batchSize ?? 512,
      availableBytes: measured ? memory.bytes - earlier : Number.POSITIVE_INFINITY,
      availableText: `${describeAvailableMemory(memory)}${earlier > 0 ? `; less ${formatBytes(earlier)} for the weights of the models loaded before` : ""}`,
    });
    const model = await llama.loadModel({ modelPath: options.modelPath });
    const planner = new BatchPlanner({
      prefillChunk: options.prefillChunk,
      maxStall: options.maxStall ?? 0,
      ...(log.isLevelEnabled("trace") ? { onStep: (step: PlannedStep) => log.trace({ model: options.id, step }, "engine step") } : {}),
    });
    const contextSize = fit.source === "auto" && !measured ? { min: autoContextFloor(fit.contextSize), max: fit.contextSize } : fit.contextSize;
    const leastContext = typeof contextSize === "number" ? contextSize : contextSize.min;
    const context = await model.createContext({
      sequences: options.parallel,
      contextSize,
      threads: options.threads,
      // Never more than the whole cache: node-llama-cpp sizes its buffers by it.
      ...(options.batchSize === undefined ? {} : { batchSize: Math.min(options.batchSize, leastContext * options.parallel) }),
      ...(options.flashAttention === undefined ? {} : { flashAttention: options.flashAttention }),
      experimentalKvCacheKeyType: KV_CACHE_GGML_TYPE[kvType],
      experimentalKvCacheValueType: KV_CACHE_GGML_TYPE[kvType],
      batching: { itemPrioritizationStrategy: planner.strategy, dispatchSchedule: planner.dispatchSchedule },
    });
    planner.attach(context);
    const card: ModelCard = {
      id: options.id,
      created: Math.floor(file.mtimeMs / 1000),
      ownedBy: "chatport",
      contextLength: context.contextSize,
    };
    const kvCache = { type: kvType, bytesPerCell };
    const engine = new LlamaEngine(card, await fingerprint(llama, options.modelPath), llama, model, context, planner, options, kvCache);
    options.logger.info(
      {
        model: options.id,
        path: options.modelPath,
        contextSize: context.contextSize,
        contextSource: fit.source,
        parallel: context.totalSequences,
        threads: options.threads,
        prefillChunk: options.prefillChunk,
        kvCacheType: kvType,
        kvCacheMiB: kvMiB(engine.kvCache().bytes),
        weightsMiB: kvMiB(weightsBytes),
        memoryAvailableMiB: measured ? kvMiB(memory.bytes - earlier) : null,
        binary: describeLoadedBinary(llama),
        chatTemplate: engine.renderer.name,
        family: engine.renderer.family.name,
        toolSyntax: engine.renderer.family.toolCalls.name,
        reasoning: engine.renderer.reasoning?.open ?? null,
      },
      "model loaded",
    );
    if (fit.tight) {
      options.logger.warn(
        { model: options.id, headroomMiB: kvMiB(fit.headroomBytes) },
        `model ${options.id}: its weights and KV cache fit in the memory available, but leave less than the ${formatBytes(fit.headroomBytes)} kept for llama.cpp's compute buffer and the process; it may swap or be killed under load (--ctx auto leaves that headroom)`,
      );
    }
    const advice = prebuiltF16Advice(loadedBinary(llama), model.fileInfo.metadata.general.file_type);
    if (advice !== null) options.logger.warn({ model: options.id, weights: "F16", binary: describeLoadedBinary(llama) }, advice);
    return engine;
  }

  /** Tokens held by all sequences (cached prefixes included) against the whole cache, and its memory. */
  kvCache(): KvCacheReport {
    let used = 0;
    for (const s of this.sequences) used += s.nextTokenIndex;
    const cells = this.context.getAllocatedContextSize();
    const bytes = this.kvBytesPerCell === null ? null : Math.round(this.kvBytesPerCell * cells);
    return {
      used,
      size: this.context.contextSize * this.sequences.length,
      sequences: this.sequences.length,
      contextPerSequence: this.context.contextSize,
      type: this.kvCacheType,
      bytes,
      bytesPerSequence: bytes === null ? null : Math.round(bytes / this.sequences.length),
    };
  }

  load(): { active: number; waiting: number; capacity: number } {
    return { active: this.pool.active, waiting: this.pool.waiting, capacity: this.pool.capacity };
  }

  observeStructuredOutputs(observer: StructuredOutputObserver): void {
    this.observer = observer;
  }

  async close(): Promise<void> {
    this.logger.info({ model: this.card.id, batching: this.planner.stats }, "batch planner");
    await this.checker.close();
    await this.context.dispose();
    await this.model.dispose();
  }

  /** Ids for the calls this model makes, in the form its family's template takes back. */
  private readonly newCallId = (): string => {
    const length = this.renderer.family.callIdLength;
    return length === null ? newCallId() : newShortCallId(length);
  };

  /** The grammar that constrains the whole output, if any: forced tool calls, or a JSON response format. */
  private async outputGrammar(request: ChatRequest): Promise<ConstrainedOutput | null> {
    const { tools, choice, parallel } = request.tools;
    if (choice.type === "required" || choice.type === "function") {
      const onlyName = choice.type === "function" ? choice.name : null;
      return this.toolCallOutput(tools, { onlyName, syntax: this.renderer.family.toolCalls.name, parallel: parallel && onlyName === null, afterMarker: false }, true);
    }
    const format = request.responseFormat;
    if (format.type === "text") return null;
    const schema = format.type === "json_schema" ? format.schema : null;
    const schemaKey = schema === null ? null : contentKey(schema);
    const checking = schema === null || schemaKey === null ? null : this.prepareCheck(schema, "response_format.json_schema.schema", schemaKey);
    const grammar = await this.compiledFirst(checking, () =>
      this.grammars.get(`response_format:${schemaKey ?? "json_object"}`, "response_format", async () => {
        const compiled = await grammarForResponseFormat(this.llama, format);
        if (compiled === null) throw new Error("no grammar for a JSON response format");
        return compiled;
      }),
    );
    return { grammar, contract: responseFormatContract(this.checker, await checking) };
  }

  /**
   * The grammar, while the validators compile on the worker: a schema both
   * refuse gets the grammar compiler's 400 (it names the keyword), whichever
   * finishes first.
   */
  private async compiledFirst(checking: Promise<unknown> | null, compile: () => Promise<LlamaGrammar>): Promise<LlamaGrammar> {
    // Awaited after the grammar; until then its rejection must not count as unhandled.
    checking?.catch(() => undefined);
    return compile();
  }

  /** Tool calls under a grammar; `forced`: the whole output is calls. */
  private async toolCallOutput(tools: ChatRequest["tools"]["tools"], options: ToolGrammarOptions, forced: boolean): Promise<ConstrainedOutput> {
    const allowed = tools.map((tool, index) => ({ tool, index })).filter(({ tool }) => options.onlyName === null || tool.name === options.onlyName);
    const key = contentKey(["tool_calls", tools.map((t) => [t.name, t.parameters]), options]);
    const checking = Promise.all(allowed.map(({ tool, index }) => this.prepareCheck(tool.parameters, `tools[${index}].function.parameters`)));
    const grammar = await this.compiledFirst(checking, () => this.grammars.get(key, "tool_calls", () => toolCallGrammar(this.llama, tools, options)));
    const prepared = await checking;
    const schemas = new Map(allowed.map(({ tool }, i) => [tool.name, prepared[i] as PreparedSchema]));
    return { grammar, contract: toolCallContract(this.checker, schemas, forced) };
  }

  /** The validator of a client's schema; a schema Ajv cannot compile is the client's 400. */
  private async prepareCheck(schema: unknown, param: string, key?: string): Promise<PreparedSchema> {
    try {
      return await this.checker.prepare(schema, key);
    } catch (err) {
      if (!(err instanceof SchemaNotCheckable)) throw err;
      throw invalidRequest(`The JSON Schema at '${param}' cannot be compiled for validation: ${err.message}`, param, "invalid_json_schema");
    }
  }

  /**
   * Everything that can be refused is checked here, before admission: the
   * prompt is rendered and tokenized (its exact count is what a budget
   * reserves) and the plan kept for {@link generate}.
   */
  async prepare(request: ChatRequest): Promise<PreparedChat> {
    const plan = await this.planPrompt(request);
    const size = promptSize(plan);
    const prepared: PreparedChat = { promptTokens: size.total, promptEstimated: false, completionRoom: this.context.contextSize - size.longest };
    this.plans.set(prepared, plan);
    return prepared;
  }

  /** The plan of a request but its completion length, which admission may still cap. */
  private async planPrompt(request: ChatRequest): Promise<PromptPlan> {
    for (const token of request.sampling.logitBias.keys()) {
      if (token >= this.vocabSize) {
        throw invalidRequest(`logit_bias token id ${token} is outside the vocabulary (size ${this.vocabSize}).`, "logit_bias", "invalid_value");
      }
    }
    if (request.rawPrompt !== undefined) return this.planRawPrompt(request, rawPromptTokens(this.model, request.rawPrompt, this.vocabSize));
    const constrained = await this.outputGrammar(request);
    const grammar = constrained?.grammar ?? null;
    const toolsActive = request.tools.tools.length > 0 && request.tools.choice.type !== "none";
    // A grammar shapes the output from its first token, so there is no room for a thought.
    const effort = request.reasoningEffort;
    const reasoning = this.renderer.reasoning;
    // The family's switch may also come in chat_template_kwargs ({"enable_thinking": false}).
    const switchValue = reasoning?.switchVariable == null ? undefined : request.chatTemplateKwargs[reasoning.switchVariable];
    const byEffort = effortPlan(this.renderer.family, effort);
    const asked = typeof switchValue === "boolean" ? switchValue : byEffort.thinking;
    const thinking = reasoning === null ? null : grammar !== null ? false : asked;
    const rendered = this.renderer.render({
      messages: request.messages,
      tools: toolsActive ? request.tools.tools : null,
      thinking,
      reasoningEffort: effort,
      templateKwargs: request.chatTemplateKwargs,
    });

    const limit = this.context.contextSize;
    const promptLength = rendered.tokens.length;
    if (promptLength >= limit || (request.maxTokens !== null && promptLength + request.maxTokens > limit)) {
      throw contextLengthExceeded(limit, promptLength, request.maxTokens);
    }
    const parallel = request.tools.parallel && !request.tools.legacy;
    return {
      prompt: rendered.tokens,
      stops: [...request.stop, ...rendered.stopTexts, ...(grammar === null ? [] : plainTexts(grammar.stopGenerationTriggers))],
      trimTrailingWhitespace: grammar?.trimWhitespaceSuffix === true,
      grammar,
      contract: constrained?.contract ?? null,
      reasoning:
        reasoning !== null && (thinking !== false || reasoning.reader === "harmony" || (grammar === null && !switchable(reasoning)))
          ? {
              format: reasoning,
              startsInside: rendered.startsInReasoning,
              budget: request.thinkingBudget ?? byEffort.budget,
              closeTokens: this.model.tokenize(`\n${reasoning.close}\n\n`, true),
            }
          : null,
      tools: toolsActive ? { syntax: this.renderer.family.toolCalls.name, newId: this.newCallId, parallel, lazyGrammar: grammar === null ? await this.lazyToolGrammar(request, parallel) : null } : null,
      answer: reasoning?.answer ?? null,
    };
  }

  /** Raw prompts (legacy completions): no template, no thought, no tools, no grammar. */
  private planRawPrompt(request: ChatRequest, raw: RawPromptTokens): PromptPlan {
    const plan: PromptPlan = {
      prompt: raw.prompts[0] ?? [],
      stops: request.stop,
      trimTrailingWhitespace: false,
      grammar: null,
      contract: null,
      reasoning: null,
      tools: null,
      continuesPrompt: true,
      raw,
    };
    const longest = promptSize(plan).longest;
    if (longest >= this.context.contextSize || (request.maxTokens !== null && longest + request.maxTokens > this.context.contextSize)) {
      throw contextLengthExceeded(this.context.contextSize, longest, request.maxTokens);
    }
    return plan;
  }

  /**
   * tool_choice auto with only strict tools: the model decides whether to call,
   * but once it writes the call marker the rest is grammar-constrained, so a
   * call it starts always names a tool and has valid arguments.
   */
  private async lazyToolGrammar(request: ChatRequest, parallel: boolean): Promise<({ marker: string } & ConstrainedOutput) | null> {
    const { tools, choice } = request.tools;
    const syntax = this.renderer.family.toolCalls.name;
    const marker = callMarker(syntax);
    if (choice.type !== "auto" || marker === null || !tools.every((t) => t.strict)) return null;
    const output = await this.toolCallOutput(tools, { onlyName: null, syntax, parallel, afterMarker: true }, false);
    return { marker, ...output };
  }

  async *generate(request: ChatRequest, signal: AbortSignal, prepared?: PreparedChat): AsyncGenerator<ChatEvent, void, void> {
    const promptPlan = (prepared === undefined ? undefined : this.plans.get(prepared)) ?? (await this.planPrompt(request));
    const limit = this.context.contextSize;
    const size = promptSize(promptPlan);
    const promptLength = size.longest;
    if (request.maxTokens !== null && promptLength + request.maxTokens > limit) throw contextLengthExceeded(limit, promptLength, request.maxTokens);
    const room = limit - promptLength;
    const plan: PromptPlan & ChoicePlan = { ...promptPlan, maxNewTokens: Math.min(request.maxTokens ?? room, room) };
    this.pool.admit(request.n);

    const cancel = new AbortController();
    const onAbort = (): void => cancel.abort(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });

    const channel = new EventChannel<ChatEvent>();
    const stats: RequestStats = {
      start: performance.now(),
      firstTokenAt: null,
      completionTokens: 0,
      reasoningTokens: 0,
      cachedTokens: 0,
      decodeMs: [],
    };
    // One failing choice cancels the others at once.
    const choices = Array.from({ length: request.n }, (_, index) =>
      this.choice(index, request, plan, stats, channel, cancel.signal).catch((err: unknown) => {
        cancel.abort(err);
        throw err;
      }),
    );
    // The usage event is always the last one, also after a cancel or a
    // failure (then followed by the error), so whatever was generated is metered.
    const usage = (): ChatEvent => ({
      type: "usage",
      usage: {
        promptTokens: size.total,
        completionTokens: stats.completionTokens,
        cachedTokens: stats.cachedTokens,
        reasoningTokens: stats.reasoningTokens,
        prefillMs: stats.firstTokenAt === null ? 0 : stats.firstTokenAt - stats.start,
        decodeMs: stats.decodeMs,
      },
    });
    Promise.allSettled(choices).then((results) => {
      const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      channel.push(usage());
      if (failed === undefined) channel.close();
      else channel.fail(failed.reason);
    });
    try {
      yield* channel.drain();
    } finally {
      signal.removeEventListener("abort", onAbort);
      cancel.abort(new Error("consumer finished"));
    }
  }

  /** One choice: wait for the best sequence, generate, give the sequence back. */
  private async choice(
    index: number,
    request: ChatRequest,
    requestPlan: PromptPlan & ChoicePlan,
    stats: RequestStats,
    channel: EventChannel<ChatEvent>,
    signal: AbortSignal,
  ): Promise<void> {
    const raw = requestPlan.raw;
    const promptIndex = raw === undefined ? 0 : Math.floor(index / (request.n / raw.prompts.length));
    const echo = raw?.echoes?.[promptIndex];
    const top = request.rawPrompt?.promptLogprobs ?? null;
    const plan: ChoicePlan =
      raw === undefined
        ? requestPlan
        : { ...requestPlan, prompt: raw.prompts[promptIndex] ?? requestPlan.prompt, ...(echo !== undefined && top !== null ? { promptLogprobs: { echo, top } } : {}) };
    // The echo goes first; a scored one once its logprobs are known (runChoice).
    if (echo !== undefined && echo !== "" && plan.promptLogprobs === undefined) channel.push({ type: "delta", index, content: echo });
    let sequence: LlamaContextSequence;
    try {
      sequence = await this.pool.acquire((s) => commonPrefixLength(s.contextTokens, plan.prompt), signal);
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    }
    try {
      await runChoice(this.choiceContext, sequence, index, request, plan, stats, channel, signal);
    } finally {
      this.pool.release(sequence);
    }
  }
}

function kvMiB(bytes: number | null): number | null {
  return bytes === null ? null : Math.round((bytes / 2 ** 20) * 10) / 10;
}

/**
 * Whether the family's thinking can be switched off (a template variable or a
 * text switch). A family that always thinks (Kimi K2 Thinking, DeepSeek R1)
 * keeps its reader when thinking is asked off — its thought is then closed
 * at once by the budget of 0 — so a thought the model opens never lands in
 * the content. Harmony's reader always runs: it also reads the answer's messages.
 */
function switchable(reasoning: ReasoningFormat): boolean {
  return reasoning.switchVariable !== null || reasoning.switchText !== undefined;
}
