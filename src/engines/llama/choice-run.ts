/**
 * Generates one choice on one sequence: reuse the cached prefix, evaluate the
 * rest of the prompt, then sample token by token through the output pipeline
 * (stops → thought → tool calls), emitting delta events as text is released.
 */
import { performance } from "node:perf_hooks";
import { LlamaGrammarEvaluationState, type LlamaContextSequence, type LlamaGrammar, type LlamaModel, type Token } from "node-llama-cpp";
import type { Logger } from "pino";
import type { ChatEvent, FinishReason, TokenLogprob } from "../../protocol/chat-events.js";
import type { ChatRequest } from "../../protocol/chat-request.js";
import type { GrammarKind } from "../engine.js";
import type { EventChannel } from "../event-channel.js";
import type { GenerationHandle } from "./batch-scheduler.js";
import { ChoiceOutput, isEmptyPiece, type OutputPiece } from "./output/choice-output.js";
import type { ReasoningFormat } from "./families/model-family.js";
import { AnswerTagStripper } from "./output/answer-tags.js";
import { createReasoningReader } from "./output/reasoning-reader.js";
import { ToolCallStreamParser, type ToolCallSyntax } from "./output/tool-call-parser.js";
import { invalidConstrainedOutput, type OutputContract } from "./output-validation.js";
import { buildEvaluateOptions, buildTokenBias, resolveSeed } from "./sampling-options.js";
import { malformedUtf8Tokens } from "./malformed-utf8-tokens.js";
import type { TokenBytes } from "./token-bytes.js";
import { tokenLogprob } from "./token-logprobs.js";
import { evaluatePromptLogprobs, promptPieces } from "./prompt-logprobs.js";
import { grammarSamplingBias, type GrammarStepOutcome } from "./grammar-sampling-bias.js";
import { TokenTextDecoder } from "./token-text-decoder.js";

/** Everything decided once per request and shared by its choices. */
export interface ChoicePlan {
  prompt: Token[];
  stops: string[];
  trimTrailingWhitespace: boolean;
  grammar: LlamaGrammar | null;
  /** What the output of `grammar` must satisfy, checked before the choice finishes. */
  contract: OutputContract | null;
  maxNewTokens: number;
  /** The output continues the prompt's text (a raw prompt): decode its first tokens after the prompt's last ones. */
  continuesPrompt?: boolean;
  /** Legacy completions' echo with logprobs: score the prompt, send it (`echo`) with its logprobs (`top` alternatives) first. */
  promptLogprobs?: { echo: string; top: number };
  /** Parse a thought out of the output (the template can think). */
  reasoning: { format: ReasoningFormat; startsInside: boolean; budget: number | null; closeTokens: Token[] } | null;
  tools: { syntax: ToolCallSyntax; newId: () => string; parallel: boolean; lazyGrammar: { marker: string; grammar: LlamaGrammar; contract: OutputContract } | null } | null;
  /** The family's answer tags, removed whether or not it thought (Hunyuan writes `<answer>` after an empty thought too). */
  answer?: { open: string; close: string } | null;
}

export interface RequestStats {
  start: number;
  firstTokenAt: number | null;
  completionTokens: number;
  reasoningTokens: number;
  cachedTokens: number;
  decodeMs: number[];
}

export interface ChoiceContext {
  modelId: string;
  model: LlamaModel;
  tokenBytes: () => TokenBytes;
  /** Special tokens decoded as text: the markers the output parsers read. */
  markerTokens: ReadonlySet<Token>;
  logger: Logger;
  /** Marks a sequence as generating (prompt first) for the batch planner. */
  /** `isolatedPrompt`: prefill the prompt in a step with no other prompt (see BatchPlanner). */
  enterGeneration: (sequence: LlamaContextSequence, options: { isolatedPrompt: boolean }) => GenerationHandle;
  /**
   * A sequence is about to edit its KV cache (erase a stale tail): returns
   * the function to call once it has. See {@link BatchPlanner.beginCacheEdit}.
   */
  beginCacheEdit: () => () => void;
  /** Resolves when this prompt may be queued (null: at once); see BatchPlanner.beforePrompt. */
  beforePrompt: () => Promise<void> | null;
  /** While a cache edit waits, resolves once it is done (null: none waits). */
  afterCacheEdits: () => Promise<void> | null;
  /** A constrained output was checked against its contract. */
  outputChecked: (kind: GrammarKind, valid: boolean) => void;
  /** What happened before the picks of a constrained choice (see GrammarStepOutcome), once it ends. */
  grammarSteps: (kind: GrammarKind, steps: ReadonlyMap<GrammarStepOutcome, number>) => void;
}


/**
 * Place the prompt on the sequence, reusing the longest cached prefix unless
 * `reusable` is false; returns how many tokens were reused.
 *
 * llama.cpp's CPU kernels sum in a different order for batches of different
 * shapes, so a prompt whose tail is evaluated on top of a cached prefix gets
 * logits that differ from a whole-prompt evaluation in the last bits — enough
 * to change a sampled token now and then. A seeded request therefore
 * evaluates its whole prompt every time: the same request then gives the same
 * logits whatever the cache held before (docs/OPERATIONS.md states the bound).
 */
async function alignPrompt(context: ChoiceContext, sequence: LlamaContextSequence, prompt: readonly Token[], reusable: boolean): Promise<number> {
  // Always evaluate at least one prompt token: its logits start the generation.
  const reuse = reusable ? Math.min(sequence.compareContextTokens([...prompt]).firstDifferentIndex, prompt.length - 1) : 0;
  if (reuse < sequence.nextTokenIndex) {
    const done = context.beginCacheEdit();
    try {
      await sequence.eraseContextTokenRanges([{ start: reuse, end: sequence.nextTokenIndex }]);
    } finally {
      done();
    }
  }
  return reuse;
}

export async function runChoice(
  context: ChoiceContext,
  sequence: LlamaContextSequence,
  index: number,
  request: ChatRequest,
  plan: ChoicePlan,
  stats: RequestStats,
  channel: EventChannel<ChatEvent>,
  signal: AbortSignal,
): Promise<void> {
  const { model } = context;
  const scored = plan.promptLogprobs ?? null;
  // max_tokens 0 (legacy completions) with nothing to score: nothing to evaluate.
  if (plan.maxNewTokens === 0 && scored === null) {
    channel.push({ type: "finish", index, reason: "length" });
    return;
  }
  const gather = context.beforePrompt();
  if (gather !== null) await gather;
  // A seeded request's logits must not depend on the cache or the load: its whole prompt, in a step of its own.
  // A scored prompt needs logits at every position, which a cached prefix does not have: the same.
  const seeded = request.sampling.seed !== null;
  const whole = seeded || scored !== null;
  const reuse = await alignPrompt(context, sequence, plan.prompt, !whole);
  if (index === 0) stats.cachedTokens = reuse;

  const generated: Token[] = [];
  let grammarState = plan.grammar === null ? undefined : new LlamaGrammarEvaluationState({ model, grammar: plan.grammar });
  const lazy = plan.tools?.lazyGrammar ?? null;
  let recentText = "";
  /** Switch the tool-call grammar on once the model has written the call marker. */
  const watchForCall = (text: string): void => {
    if (lazy === null || grammarState !== undefined) return;
    recentText = (recentText + text).slice(-4 * lazy.marker.length);
    if (recentText.includes(lazy.marker)) grammarState = new LlamaGrammarEvaluationState({ model, grammar: lazy.grammar });
  };
  const constrained = plan.grammar !== null || lazy !== null;
  const malformed = constrained ? malformedUtf8Tokens(context.tokenBytes()) : [];
  const tokenBias = buildTokenBias(model, request.sampling.logitBias, constrained, malformed);
  // Under a grammar: UTF-8 bans and the boost of what the grammar may accept next (see GrammarSamplingBias).
  const utf8 = constrained ? grammarSamplingBias(model, context.tokenBytes(), request.sampling, request.logprobs !== null) : null;
  const options = buildEvaluateOptions(
    request.sampling,
    resolveSeed(request.sampling, index),
    utf8 === null ? tokenBias : () => (grammarState === undefined ? (tokenBias ?? utf8.unbiased()) : utf8.bias(grammarState)),
    () => grammarState,
    generated,
  );
  const decoder = new TokenTextDecoder(model, context.markerTokens, plan.continuesPrompt === true ? plan.prompt : []);
  const output = new ChoiceOutput({
    stops: plan.stops,
    trimTrailingWhitespace: plan.trimTrailingWhitespace,
    reasoning:
      plan.reasoning === null
        ? null
        : createReasoningReader(plan.reasoning.format, plan.reasoning.startsInside),
    tools: plan.tools === null ? null : new ToolCallStreamParser(plan.tools.syntax, { newId: plan.tools.newId, parallel: plan.tools.parallel, tools: request.tools.tools }),
    answer: plan.answer == null ? null : new AnswerTagStripper(plan.answer),
  });
  const logprobs = request.logprobs;
  let pendingLogprobs: TokenLogprob[] = [];
  let content = "";
  const emit = (piece: OutputPiece): void => {
    if (isEmptyPiece(piece)) return;
    content += piece.content;
    const event: ChatEvent = { type: "delta", index, ...piece };
    if (logprobs !== null) {
      event.logprobs = pendingLogprobs;
      pendingLogprobs = [];
    }
    channel.push(event);
  };
  let reasoningTokens = 0;
  const countToken = (inReasoning: boolean): void => {
    stats.completionTokens++;
    if (inReasoning) {
      reasoningTokens++;
      stats.reasoningTokens++;
    }
  };

  let finish: FinishReason | null = null;
  let stoppedByString = false;
  /** The client's own stop string it stopped at (a cut the client asked for), or null. */
  let clientStop: string | null = null;
  let last = 0;
  const metadata = logprobs === null ? {} : logprobs.top > 0 ? { probabilities: true } : { confidence: true };
  const generation = context.enterGeneration(sequence, { isolatedPrompt: whole });
  let evaluated = reuse;
  if (scored !== null) {
    try {
      const pieces = promptPieces(model, plan.prompt, scored.echo);
      const entries = await evaluatePromptLogprobs(sequence, plan.prompt, pieces, context.tokenBytes(), scored.top, signal);
      if (!signal.aborted) channel.push({ type: "delta", index, ...(scored.echo === "" ? {} : { content: scored.echo }), promptLogprobs: entries });
    } catch (err) {
      generation.leave();
      throw err;
    }
    // All but the last prompt token are in the cache now; the generation evaluates that one and samples after it.
    evaluated = plan.prompt.length - 1;
    if (signal.aborted || plan.maxNewTokens === 0) {
      generation.leave();
      if (signal.aborted) context.logger.info({ model: context.modelId, choice: index, completionTokens: 0 }, "generation cancelled");
      else channel.push({ type: "finish", index, reason: "length" });
      return;
    }
  }
  const iterator = sequence.evaluateWithMetadata(plan.prompt.slice(evaluated), metadata, options);
  try {
    let step = await iterator.next();
    while (!step.done && !signal.aborted) {
      const token = step.value.token;
      const now = performance.now();
      if (generated.length === 0) {
        stats.firstTokenAt ??= now;
        generation.prefilled();
      } else if (index === 0) stats.decodeMs.push(now - last);
      last = now;

      // Thinking budget spent: close the thought instead of this token.
      const budget = plan.reasoning?.budget ?? null;
      if (budget !== null && output.inReasoning && reasoningTokens >= budget && plan.reasoning !== null) {
        const close = plan.reasoning.closeTokens;
        generated.push(...close);
        for (const t of close) utf8?.accept(t);
        for (const _ of close) countToken(true);
        // Chosen by chatport, not drawn from a distribution: probability 1 (logprob 0), no alternatives.
        if (logprobs !== null) for (const t of close) pendingLogprobs.push(tokenLogprob(context.tokenBytes(), t, 1, undefined, 0));
        emit(output.push(close.map((t) => decoder.push(t)).join("")).piece);
        const paused = context.afterCacheEdits();
        if (paused !== null) await paused;
        step = await iterator.next(close);
        continue;
      }

      generated.push(token);
      utf8?.accept(token);
      const wasReasoning = output.inReasoning;
      const endOfGeneration = model.isEogToken(token);
      if (endOfGeneration && !request.ignoreEos) {
        countToken(wasReasoning);
        finish = "stop";
        break;
      }
      if (logprobs !== null) {
        const meta = step.value as { confidence?: number; probabilities?: Map<Token, number> };
        pendingLogprobs.push(tokenLogprob(context.tokenBytes(), token, meta.confidence, meta.probabilities, logprobs.top));
      }
      const text = endOfGeneration ? "" : decoder.push(token);
      const pushed: { piece: OutputPiece | null; stopped: boolean; stop?: string } = endOfGeneration ? { piece: null, stopped: false } : output.push(text);
      // A marker inside a thought opens no call (the parser reads only the answer), so it switches no grammar on.
      if (!output.inReasoning) watchForCall(text);
      countToken(wasReasoning || output.inReasoning);
      if (pushed.piece !== null) emit(pushed.piece);
      if (pushed.stopped) {
        finish = "stop";
        stoppedByString = true;
        clientStop = pushed.stop !== undefined && request.stop.includes(pushed.stop) ? pushed.stop : null;
        break;
      }
      if (generated.length >= plan.maxNewTokens) {
        finish = "length";
        break;
      }
      // The grammar allows nothing but the end: the next pick would be an end-of-generation token with
      // probability 1, so end here, without evaluating this token and sampling. Counted as the end token
      // the pick would have been, so usage is what it was.
      if (grammarState !== undefined && !request.ignoreEos && utf8?.onlyEnd(grammarState) === true) {
        utf8.endedByGrammar();
        countToken(output.inReasoning);
        finish = "stop";
        break;
      }
      // Asking for the next token queues its decode; while another request
      // waits to edit its cache, ask once it has (see beginCacheEdit).
      const pause = context.afterCacheEdits();
      if (pause !== null) await pause;
      step = await iterator.next();
    }
  } finally {
    // Before the (asynchronous) return: batches must stop waiting for this sequence now.
    generation.leave();
    await iterator.return();
    const kind = plan.contract?.kind ?? lazy?.contract.kind;
    if (utf8 !== null && kind !== undefined && utf8.steps.size > 0) context.grammarSteps(kind, utf8.steps);
  }
  if (signal.aborted) {
    context.logger.info({ model: context.modelId, choice: index, completionTokens: generated.length }, "generation cancelled");
    return;
  }
  if (stoppedByString) pendingLogprobs = [];
  else {
    const tail = output.push(decoder.flush());
    emit(tail.piece);
    if (tail.stopped) {
      finish = "stop";
      clientStop = tail.stop !== undefined && request.stop.includes(tail.stop) ? tail.stop : null;
    }
  }
  emit(output.finish());
  if (pendingLogprobs.length > 0) channel.push({ type: "delta", index, logprobs: pendingLogprobs });
  // The grammar that was on: the whole output's, or the tool-call grammar once the model opened a call.
  const contract = plan.contract ?? (lazy !== null && grammarState !== undefined ? lazy.contract : null);
  if (contract !== null && finish !== "length" && clientStop === null) {
    const problem = await contract.check({ content, toolCalls: output.toolCalls });
    context.outputChecked(contract.kind, problem === null);
    if (problem !== null) {
      // Where it failed and which keyword: never the generated text itself.
      context.logger.error({ model: context.modelId, choice: index, kind: contract.kind, problem }, "constrained output does not match its schema");
      throw invalidConstrainedOutput();
    }
  }
  if (finish !== "length" && output.toolCallCount > 0) finish = "tool_calls";
  channel.push({ type: "finish", index, reason: finish ?? "stop", ...(finish === "stop" && clientStop !== null ? { stop: clientStop } : {}) });
}
