/**
 * How each llama.cpp batch is filled when several sequences have pending
 * tokens — node-llama-cpp's batching strategy hook.
 *
 * Three things decide whether concurrent streams share a decode, all
 * measured (docs/BENCHMARKS.md, "Batching is where the gap is"):
 *
 * 1. **Gathering.** node-llama-cpp's dispatch loop decodes whatever is queued
 *    the moment the previous decode's sampling is done. A sequence's next
 *    token is queued a few microtask hops *after* its sampled token is handed
 *    back, so the loop always runs ahead with the others and the sequences
 *    settle into alternating one-token decodes (2 streams × 32 tokens: 62
 *    decodes of one token). The gate below holds a batch back — by returning
 *    an empty batch, which makes the loop yield to the microtask queue and ask
 *    again — until every sequence that is generating has queued its token, for
 *    a bounded number of asks, so a consumer that waits on real I/O can only
 *    delay the others by a few microtasks, never block them.
 * 2. **Order.** node-llama-cpp creates every context with one KV stream per
 *    sequence (`kv_unified = false`, not configurable in 3.21), and llama.cpp
 *    then splits a batch into micro-batches of *consecutive, increasing*
 *    sequence ids (`llama_batch_allocr::split_equal(..., sequential = true)`).
 *    Each micro-batch is a full pass over the weights, so a batch queued as
 *    sequences 2, 1, 0 costs three single-token decodes. Items are therefore
 *    added in sequence-id order (and the slot pool prefers low ids, so the
 *    busy sequences stay contiguous).
 * 3. **Prompts.** Decoding sequences (one pending token each) always go in;
 *    prompts are processed oldest first. With nobody decoding, prompts fill
 *    the whole batch, and a burst too big for one batch finishes its prompts
 *    in one step, so it starts generating together rather than in waves
 *    (see {@link fillBatch}). A sequence counts as prompt until its first
 *    token is out ({@link GenerationHandle.prefilled}), also when all it has
 *    left queued is its prompt's last token. While others decode, a step that also prefills makes
 *    every decoding stream wait for it, so prompt tokens per step are capped:
 *    at `prefillChunk` when one is set, otherwise so that the step takes at
 *    most `maxStall` × a decode-only step, from the measured cost of both
 *    (see {@link StepCosts}) — chunked prefill with a time budget, the way
 *    vLLM and SGLang bound inter-token latency with a token budget.
 */
import type { BatchItem, CustomBatchingDispatchSchedule, CustomBatchingPrioritizationStrategy, LlamaContext, LlamaContextSequence, PrioritizedBatchItem, Token } from "node-llama-cpp";

export interface BatchPlannerOptions {
  /** Prompt tokens per batch while other sequences decode; 0: from `maxStall`. */
  prefillChunk: number;
  /**
   * While sequences decode, a step that also prefills may take at most this
   * many times a decode-only step (measured). 0: no limit (prompts fill the
   * batch). Default 0.
   */
  maxStall?: number;
  /**
   * A prompt that arrives while nothing is generating waits until no other
   * prompt has arrived for this long (ms; at most 5× in all), so a burst is
   * prefilled in one batch instead of one wave per arrival (each wave stalls
   * the streams the previous one started). Default 10; 0: none.
   */
  gatherMs?: number;
  /** Clock (tests). Default performance.now. */
  now?: () => number;
  /**
   * How many times in a row a batch may be held back waiting for generating
   * sequences to queue their next token. Each ask costs a few microtasks;
   * a sequence's next token normally arrives within 2–4 asks.
   */
  maxGatherAsks?: number;
  /** Told of every step once it is done (diagnostics: `CHATPORT_LOG_LEVEL=trace`). */
  onStep?: (step: PlannedStep) => void;
}

/** A sequence's standing with the planner, from {@link BatchPlanner.enter}. */
export interface GenerationHandle {
  /** Its first token is out: from now on it decodes (idempotent). */
  prefilled(): void;
  /** It stopped asking for tokens (idempotent). */
  leave(): void;
}

/** One step the planner handed to llama.cpp, and how long it took until the next ask. */
export interface PlannedStep {
  decoders: number;
  promptTokens: number;
  /** Prompt tokens that were still queued after this step. */
  promptTokensLeft: number;
  /** The cap on prompt tokens beside decoders in this step (0: none). */
  chunk: number;
  ms: number;
}

/** node-llama-cpp 3.21 internals the planner reads (guarded: absent → no ordering). */
interface QueuedDecodeView {
  tokens: readonly Token[];
  sequenceId: number;
}

/**
 * Fill a batch: decoders first, then prompts oldest first.
 *
 * - While some sequence decodes (`decodersExist`, queued here or not yet),
 *   prompt tokens are capped by `chunk()` (0: no limit).
 * - With nobody decoding yet — a burst of prompts reaching an idle engine —
 *   the prompts use the whole batch, and when they do not all fit, each one
 *   keeps its last token back until the step where the rest of the burst
 *   fits as well: the burst then starts generating together, in one step,
 *   instead of the first wave generating for one step and then stalling for
 *   as long as the rest of the burst takes to prefill (a full prompt-sized
 *   step between its first and second token). Later arrivals are what
 *   `chunk()` is for.
 */
function fillBatch(
  items: readonly BatchItem[],
  size: number,
  chunk: () => number,
  isPrompt: (item: BatchItem) => boolean,
  decodersExist: boolean,
  isIsolated: (item: BatchItem) => boolean = () => false,
): PrioritizedBatchItem[] {
  // The oldest prompt wants a step of its own: it goes in whole (as far as the
  // batch allows) with nothing beside it — llama.cpp splits a batch of several
  // sequences into micro-batches by sequence, so even one decoder's token
  // beside it would change how its prompt is split. Isolated prompts behind
  // other prompts wait for their turn at the head of the queue.
  const head = items.find(isPrompt);
  if (head !== undefined && isIsolated(head)) return [{ item: head, processAmount: Math.min(head.tokens.length, size) }];

  const batch: PrioritizedBatchItem[] = [];
  const prompts: BatchItem[] = [];
  let free = size;
  let decoding = 0;
  for (const item of items) {
    if (isPrompt(item)) {
      if (!isIsolated(item)) prompts.push(item);
      continue;
    }
    if (free === 0) continue;
    const amount = Math.min(item.tokens.length, free);
    batch.push({ item, processAmount: amount });
    free -= amount;
    decoding++;
  }
  if (prompts.length === 0 || free === 0) return batch;
  if (decoding > 0 || decodersExist) {
    const limit = chunk();
    let budget = limit > 0 ? Math.min(free, limit) : free;
    for (const item of prompts) {
      if (budget === 0) break;
      const amount = Math.min(item.tokens.length, budget);
      batch.push({ item, processAmount: amount });
      budget -= amount;
    }
    return batch;
  }
  let total = 0;
  for (const item of prompts) total += item.tokens.length;
  const hold = total > free ? 1 : 0;
  let budget = free;
  for (const item of prompts) {
    if (budget === 0) break;
    const amount = Math.min(item.tokens.length - hold, budget);
    if (amount <= 0) continue;
    batch.push({ item, processAmount: amount });
    budget -= amount;
  }
  // Only last tokens left, more of them than the batch holds: the burst starts in turns.
  if (batch.length === 0) for (const item of prompts.slice(0, free)) batch.push({ item, processAmount: 1 });
  return batch;
}

/** The decode-first strategy on its own (no gathering, no ordering; a prompt is an item of more than one token). */
export function decodeFirstStrategy(prefillChunk: number): CustomBatchingPrioritizationStrategy {
  return ({ items, size }: { items: readonly BatchItem[]; size: number }): PrioritizedBatchItem[] =>
    fillBatch(items, size, () => prefillChunk, (item) => item.tokens.length > 1, false);
}

/**
 * The KV-cache sequence id of a context sequence: node-llama-cpp 3.21 keeps
 * it internal (guarded: absent → null, and the planner tells prompts from
 * decoders by their length alone).
 */
export function sequenceIdOf(sequence: LlamaContextSequence): number | null {
  const id = (sequence as unknown as { _sequenceId?: unknown })._sequenceId;
  return typeof id === "number" ? id : null;
}

const noLimit = (): number => 0;

/** Smallest prompt chunk the time budget may shrink to: prefill always moves. */
const MIN_CHUNK = 16;
/** Weight of a new measurement in the moving averages. */
const ALPHA = 0.2;
/** Mixed steps are few and their cost is what the budget is about: follow them faster. */
const MIXED_ALPHA = 0.5;
/** Aim a little under the limit: a step's cost varies from one step to the next. */
const HEADROOM = 0.85;

/**
 * What a step costs, learned from the steps themselves: the time from
 * handing a batch to llama.cpp until the planner is asked again (decode,
 * sampling and the JS that queues the next tokens: what a stream sees as
 * inter-token latency). Decode-only steps give ms per step; steps with at
 * least 32 prompt tokens give ms per prompt token beyond a decode step.
 * Steps that mix prompt tokens into decodes are tracked on their own: they
 * cost more per prompt token than a prefill alone (llama.cpp runs the
 * prompt's tokens as an extra micro-batch beside the decoders' one).
 */
export class StepCosts {
  /** Moving average of a decode-only step, ms (null until one is seen). */
  decodeMs: number | null = null;
  /** Moving average of what each prompt token adds to a step, ms. */
  promptTokenMs: number | null = null;
  /** The same, from steps where prompt tokens shared the step with decoders. */
  mixedTokenMs: number | null = null;

  observe(decoders: number, promptTokens: number, ms: number): void {
    if (promptTokens === 0) {
      if (decoders > 0) this.decodeMs = this.decodeMs === null ? ms : this.decodeMs + ALPHA * (ms - this.decodeMs);
      return;
    }
    if (decoders > 0 && this.decodeMs !== null && promptTokens >= MIN_CHUNK) {
      const perToken = Math.max(0, ms - this.decodeMs) / promptTokens;
      this.mixedTokenMs = this.mixedTokenMs === null ? perToken : this.mixedTokenMs + MIXED_ALPHA * (perToken - this.mixedTokenMs);
    }
    if (promptTokens < 32) return;
    const base = decoders > 0 ? (this.decodeMs ?? 0) : 0;
    const perToken = Math.max(0, ms - base) / promptTokens;
    this.promptTokenMs = this.promptTokenMs === null ? perToken : this.promptTokenMs + ALPHA * (perToken - this.promptTokenMs);
  }

  /** Prompt tokens that keep a step within `maxStall` × a decode step (0: not known yet, no limit). */
  chunkFor(maxStall: number): number {
    const perToken = this.mixedTokenMs ?? this.promptTokenMs;
    if (this.decodeMs === null || perToken === null || perToken <= 0) return 0;
    return Math.max(MIN_CHUNK, Math.floor((HEADROOM * (maxStall - 1) * this.decodeMs) / perToken));
  }
}

/**
 * The batching strategy of one context, plus the count of sequences that are
 * generating on it (the ones whose next token a batch should wait for).
 */
export class BatchPlanner {
  private readonly prefillChunk: number;
  private readonly maxStall: number;
  private readonly now: () => number;
  private readonly maxGatherAsks: number;
  private readonly gatherMs: number;
  /** The window prompts of an idle engine are waiting out together. */
  private window: { promise: Promise<void>; timer: NodeJS.Timeout; closesBy: number } | null = null;
  readonly costs = new StepCosts();
  /** The batch last handed over: when, and what it carried. */
  private last: { at: number; decoders: number; promptTokens: number; promptTokensLeft: number; chunk: number } | null = null;
  private readonly onStep: ((step: PlannedStep) => void) | null;
  private context: LlamaContext | null = null;
  private generating = 0;
  /** Sequences (by id) that entered and have yet to get their first token: what they have queued is prompt. */
  private readonly prefilling = new Set<number>();
  /**
   * Sequences (by id) whose prompt is evaluated in a step with no other
   * prompt (seeded requests: llama.cpp's logits depend on how a batch is
   * split, so the same prompt must always be split the same way).
   */
  private readonly isolated = new Set<number>();
  /** Sequences that entered without an id: prompts are then told from decoders by length. */
  private untracked = 0;
  private cacheEdits = 0;
  /** Resolves when the cache edits waiting now are done (null: none waits). */
  private editsDone: { promise: Promise<void>; resolve: () => void } | null = null;
  private asks = 0;
  /** Counters for diagnostics and tests. */
  readonly stats = { batches: 0, heldBack: 0, gaveUpWaiting: 0 };

  constructor(options: BatchPlannerOptions) {
    this.prefillChunk = options.prefillChunk;
    this.maxStall = options.maxStall ?? 0;
    this.gatherMs = options.gatherMs ?? 10;
    this.now = options.now ?? (() => performance.now());
    this.maxGatherAsks = options.maxGatherAsks ?? 64;
    this.onStep = options.onStep ?? null;
  }

  /** The context whose queue is read for sequence ids (set once it exists). */
  attach(context: LlamaContext): void {
    this.context = context;
  }

  /**
   * A sequence starts evaluating: its prompt first, then the tokens it
   * generates. `sequenceId` (see {@link sequenceIdOf}) tells its queued
   * items apart from the others'; null when unknown.
   */
  enter(sequenceId: number | null = null, options: { isolatedPrompt?: boolean } = {}): GenerationHandle {
    this.generating++;
    if (sequenceId === null) this.untracked++;
    // A sequence serves one request at a time, so its id is in the set once.
    if (sequenceId !== null) this.prefilling.add(sequenceId);
    if (sequenceId !== null && options.isolatedPrompt === true) this.isolated.add(sequenceId);
    let left = false;
    let started = sequenceId === null;
    const prefilled = (): void => {
      if (started || sequenceId === null) return;
      started = true;
      this.prefilling.delete(sequenceId);
      this.isolated.delete(sequenceId);
    };
    return {
      prefilled,
      leave: () => {
        if (left) return;
        left = true;
        prefilled();
        this.generating--;
        if (sequenceId === null) this.untracked--;
      },
    };
  }

  get active(): number {
    return this.generating;
  }

  /**
   * A sequence is about to edit its KV cache (erase the stale tail a new
   * request does not share). node-llama-cpp does that under the context lock,
   * which its dispatch loop holds for as long as anything is queued — and
   * with streams generating back to back something always is, so the edit
   * (and the request behind it) would wait until every stream finished.
   * While an edit waits, batches go out without gathering, queued prompts
   * go in whole (a prompt still being prefilled in chunks would keep the
   * loop going for as many steps as it has chunks left) and generating
   * sequences hold their next token until the edits are done
   * ({@link afterCacheEdits}), so the loop drains after the current decode
   * and the lock passes to the edit: one step's pause for the streams instead
   * of the new request waiting for all of them to finish. Returns the
   * function to call when done.
   */
  beginCacheEdit(): () => void {
    if (this.cacheEdits++ === 0) {
      let resolve = (): void => {};
      const promise = new Promise<void>((r) => (resolve = r));
      this.editsDone = { promise, resolve };
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (--this.cacheEdits === 0) {
        this.editsDone?.resolve();
        this.editsDone = null;
      }
    };
  }

  /**
   * Before a sequence queues its prompt: when nothing is generating, prompts
   * go out together once none has arrived for `gatherMs` (at most 5 ×
   * `gatherMs` after the first). Null: go on at once (something is already
   * generating, so the prompt joins the next batch anyway).
   */
  beforePrompt(): Promise<void> | null {
    const window = this.window;
    if (window !== null) {
      const now = this.now();
      if (now + this.gatherMs <= window.closesBy) window.timer.refresh();
      return window.promise;
    }
    if (this.generating > 0 || this.gatherMs <= 0) return null;
    let timer: NodeJS.Timeout | undefined;
    const promise = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.window = null;
        resolve();
      }, this.gatherMs);
    });
    if (timer === undefined) return null;
    this.window = { promise, timer, closesBy: this.now() + 5 * this.gatherMs };
    return promise;
  }

  /** Resolves once no cache edit waits; null when none does (go on at once). */
  afterCacheEdits(): Promise<void> | null {
    return this.editsDone?.promise ?? null;
  }

  /**
   * When node-llama-cpp's dispatch loop runs after a token is queued.
   * Its own schedule dispatches at once only when *every* sequence of the
   * context has queued, and otherwise a `setImmediate` later — so with
   * `--parallel 4` and one stream, every token waited for the event loop's
   * check phase, behind the SSE write of the token before it (node-llama-cpp
   * driven directly, with one sequence, never waits). The batch the strategy
   * would let go is the same either way: once every *generating* sequence
   * has queued (and no cache edit waits, which changes how batches go out),
   * the decode starts now; otherwise the next turn, as before, and the
   * strategy gathers as it did.
   */
  readonly dispatchSchedule: CustomBatchingDispatchSchedule = (dispatch) => {
    const queued = this.queuedCount();
    if (queued !== null && this.generating > 0 && queued >= this.generating && this.cacheEdits === 0) dispatch();
    else setImmediate(dispatch);
  };

  readonly strategy: CustomBatchingPrioritizationStrategy = ({ items, size }) => {
    if (this.last !== null) {
      const { at, ...step } = this.last;
      const ms = this.now() - at;
      this.costs.observe(step.decoders, step.promptTokens, ms);
      if (this.onStep !== null) this.onStep({ ...step, ms });
      this.last = null;
    }
    if (items.length < this.generating && items.length < size && this.cacheEdits === 0) {
      if (this.asks < this.maxGatherAsks) {
        this.asks++;
        this.stats.heldBack++;
        return [];
      }
      this.stats.gaveUpWaiting++;
    }
    this.asks = 0;
    this.stats.batches++;
    const ids = this.sequenceIds();
    const byId = ids !== null && this.untracked === 0;
    const isPrompt = (item: BatchItem): boolean => {
      const id = byId ? ids.get(item.tokens) : undefined;
      return id === undefined ? item.tokens.length > 1 : this.prefilling.has(id);
    };
    // Sequences past their prompt, whether or not their next token is queued yet.
    const decodersExist = byId ? this.generating > this.prefilling.size : this.generating > items.filter(isPrompt).length;
    // While a cache edit waits, the loop has to drain for it: prompts go in whole (see beginCacheEdit).
    const chunk = this.cacheEdits > 0 ? noLimit : this.chunk;
    const isIsolated = (item: BatchItem): boolean => {
      const id = byId ? ids.get(item.tokens) : undefined;
      return id !== undefined && this.isolated.has(id);
    };
    const batch = fillBatch(items, size, chunk, isPrompt, decodersExist, isIsolated);
    if (batch.length > 0) {
      let decoders = 0;
      let promptTokens = 0;
      let queued = 0;
      for (const item of items) if (isPrompt(item)) queued += item.tokens.length;
      for (const b of batch) {
        if (isPrompt(b.item)) promptTokens += b.processAmount;
        else decoders++;
      }
      this.last = { at: this.now(), decoders, promptTokens, promptTokensLeft: queued - promptTokens, chunk: decoders > 0 || decodersExist ? chunk() : 0 };
    }
    if (ids === null || batch.length < 2) return batch;
    const id = (b: PrioritizedBatchItem): number => ids.get(b.item.tokens) ?? Number.MAX_SAFE_INTEGER;
    return batch.sort((a, b) => id(a) - id(b));
  };

  /** Prompt tokens allowed beside decoding sequences (0: no limit). */
  private readonly chunk = (): number => {
    if (this.prefillChunk > 0) return this.prefillChunk;
    return this.maxStall > 0 ? this.costs.chunkFor(this.maxStall) : 0;
  };

  /** How many decodes are queued on the context (null when its internals are not there). */
  private queuedCount(): number | null {
    const queue = (this.context as unknown as { _queuedDecodes?: unknown } | null)?._queuedDecodes;
    return Array.isArray(queue) ? queue.length : null;
  }

  /**
   * The sequence id behind each queued item, read from node-llama-cpp's queue
   * (null when its internals are not there). The batch goes out in sequence-id
   * order so llama.cpp can keep it in one micro-batch.
   */
  private sequenceIds(): Map<readonly Token[], number> | null {
    const queue = (this.context as unknown as { _queuedDecodes?: unknown } | null)?._queuedDecodes;
    if (!Array.isArray(queue)) return null;
    const ids = new Map<readonly Token[], number>();
    for (const q of queue as QueuedDecodeView[]) {
      if (typeof q?.sequenceId === "number") ids.set(q.tokens, q.sequenceId);
    }
    return ids;
  }
}
