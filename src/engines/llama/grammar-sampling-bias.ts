/**
 * The token bias of one grammar-constrained choice, step by step: the
 * request's logit_bias, the bans of tokens that can never be UTF-8
 * (malformed-utf8-tokens.ts) and of what may not follow an open lead byte
 * (utf8-sequence-guard.ts), and the boost of the tokens the grammar may accept
 * next (grammar-token-boost.ts).
 *
 * node-llama-cpp turns the bias into native arrays at every token and
 * rebuilds its native bias sampler whenever they differ from the last ones,
 * both in time linear in the entries: so every bias here stays small, and the
 * same set of entries is the same TokenBias object (cached per guard state
 * and boosted set).
 *
 * It also counts what happened before each pick (`steps`, reported as the
 * metric chatport_grammar_sampling_steps_total) and tells the choice when the
 * grammar allows nothing but the end (`onlyEnd`), so that the choice can stop
 * without evaluating and sampling a token whose pick is certain.
 */
import { TokenBias, type LlamaGrammarEvaluationState, type LlamaModel, type Token } from "node-llama-cpp";
import type { SamplingParams } from "../../protocol/chat-request.js";
import { boostLogit, GrammarTokenBoost, grammarProbeOf, type BoostDecision } from "./grammar-token-boost.js";
import { vocabularyTrie } from "./grammar-token-trie.js";
import { malformedUtf8Tokens } from "./malformed-utf8-tokens.js";
import { bannedUnderGrammar } from "./sampling-options.js";
import type { TokenBytes } from "./token-bytes.js";
import { Utf8SequenceGuard } from "./utf8-sequence-guard.js";

/** Distinct biases kept per choice before the cache starts over. */
const cacheLimit = 256;

/**
 * Below this vocabulary size the grammar's pass over every token costs about
 * what asking it about 256 bytes does, so nothing is boosted.
 */
export const minBoostedVocabulary = 16_384;

/** The boosted set's largest size: node-llama-cpp copies every entry of a bias at every token. */
const maxBoosted = 4096;

/**
 * What happened before one pick under a grammar: the boost's decision, or
 * "off" where this choice has no boost (logprobs, a repetition penalty, a
 * small vocabulary); "grammar_end" counts the ends the choice wrote without a
 * pick because the grammar allowed nothing else (see {@link GrammarSamplingBias.onlyEnd}).
 */
export type GrammarStepOutcome = BoostDecision["outcome"] | "off" | "grammar_end";

/**
 * Where the pinned node-llama-cpp keeps a TokenBias's entries. Its `set`
 * drops end-of-generation tokens, but the entries reach llama.cpp's bias
 * sampler as they are, so the boost writes those tokens here itself.
 */
function entriesOf(bias: TokenBias): Map<number, number> | null {
  const entries = (bias as unknown as { _biases?: unknown })._biases;
  return entries instanceof Map ? (entries as Map<number, number>) : null;
}

export class GrammarSamplingBias {
  private readonly cache = new Map<string, TokenBias>();
  private empty: TokenBias | undefined;
  /** Picks so far by what happened before them. */
  readonly steps = new Map<GrammarStepOutcome, number>();

  /**
   * @param logitBias the request's logit_bias (−100 or below: a ban)
   * @param malformed tokens that can never be UTF-8, banned throughout
   * @param boost null where boosting would change the distribution or gain nothing (logprobs, a repetition penalty)
   */
  constructor(
    private readonly model: LlamaModel,
    private readonly logitBias: ReadonlyMap<number, number>,
    private readonly malformed: readonly Token[],
    private readonly guard: Utf8SequenceGuard,
    private readonly boost: GrammarTokenBoost | null,
  ) {}

  accept(token: Token): void {
    this.guard.accept(token);
  }

  /** An empty bias, for steps before a lazy grammar switches on. */
  unbiased(): TokenBias {
    return (this.empty ??= new TokenBias(this.model.tokenizer));
  }

  /** The bias for the next token under `state`. */
  bias(state: LlamaGrammarEvaluationState): TokenBias {
    const decision = this.boost?.decide(state) ?? null;
    this.count(decision?.outcome ?? "off");
    const boosted = decision?.boosted ?? null;
    const key = `${this.guard.state}|${boosted?.key ?? "-"}`;
    let bias = this.cache.get(key);
    if (bias === undefined) {
      if (this.cache.size >= cacheLimit) this.cache.clear();
      const logits = new Map<number, number>();
      if (boosted !== null) for (const token of boosted.tokens) logits.set(token, boostLogit);
      // The client's bias adds to the boost, so every token the grammar accepts keeps the same shift.
      for (const [token, logit] of this.logitBias) logits.set(token, logit > -100 ? (logits.get(token) ?? 0) + logit : bannedUnderGrammar);
      for (const token of this.malformed) logits.set(token, bannedUnderGrammar);
      for (const token of this.guard.banned()) logits.set(token, bannedUnderGrammar);
      bias = new TokenBias(this.model.tokenizer);
      for (const [token, logit] of logits) bias.set(token as Token, { logit });
      // End-of-generation tokens of S (where the grammar may end), which `set` drops; the client's bias never reaches them (`set` drops it too).
      if (boosted !== null) {
        const entries = entriesOf(bias)!;
        for (const token of boosted.tokens) if (this.model.isEogToken(token as Token)) entries.set(token, boostLogit);
      }
      this.cache.set(key, bias);
    }
    return bias;
  }

  /**
   * Whether the grammar allows nothing but the end next (so the pick would be
   * an end-of-generation token with probability 1); false where this choice
   * has no boost, whose questions this asks.
   */
  onlyEnd(state: LlamaGrammarEvaluationState): boolean {
    return this.boost?.onlyEnd(state) ?? false;
  }

  /** The choice ended where the grammar allowed nothing else, without a pick. */
  endedByGrammar(): void {
    this.count("grammar_end");
  }

  private count(outcome: GrammarStepOutcome): void {
    this.steps.set(outcome, (this.steps.get(outcome) ?? 0) + 1);
  }
}

/**
 * The bias of one choice under a grammar. No boost when the request asks for
 * logprobs (node-llama-cpp then applies the grammar to every token anyway),
 * has a repetition penalty (it multiplies the biased logits, so the equal
 * shift would not cancel out), or the vocabulary is small.
 */
export function grammarSamplingBias(model: LlamaModel, tokenBytes: TokenBytes, sampling: SamplingParams, logprobs: boolean): GrammarSamplingBias {
  const probe = grammarProbeOf(model);
  const boost =
    probe === null || logprobs || sampling.repetitionPenalty !== 1 || tokenBytes.size < minBoostedVocabulary
      ? null
      : new GrammarTokenBoost(vocabularyTrie(tokenBytes, (token) => model.isEogToken(token)), probe, { maxBoosted, endOfGeneration: entriesOf(new TokenBias(model.tokenizer)) !== null });
  return new GrammarSamplingBias(model, sampling.logitBias, malformedUtf8Tokens(tokenBytes), new Utf8SequenceGuard(tokenBytes), boost);
}
