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
 */
import { TokenBias, type LlamaGrammarEvaluationState, type LlamaModel, type Token } from "node-llama-cpp";
import type { SamplingParams } from "../../protocol/chat-request.js";
import { boostLogit, GrammarTokenBoost, grammarProbeOf } from "./grammar-token-boost.js";
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

export class GrammarSamplingBias {
  private readonly cache = new Map<string, TokenBias>();
  private empty: TokenBias | undefined;

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
    const boosted = this.boost?.candidates(state) ?? null;
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
      this.cache.set(key, bias);
    }
    return bias;
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
      : new GrammarTokenBoost(vocabularyTrie(tokenBytes, (token) => model.isEogToken(token)), probe, { maxBoosted });
  return new GrammarSamplingBias(model, sampling.logitBias, malformedUtf8Tokens(tokenBytes), new Utf8SequenceGuard(tokenBytes), boost);
}
