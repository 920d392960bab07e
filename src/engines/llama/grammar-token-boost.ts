/**
 * Makes the sampler's first pick under a grammar usually one the grammar
 * accepts, so that llama.cpp's grammar pass over the whole vocabulary runs
 * rarely.
 *
 * node-llama-cpp samples the way llama.cpp's common sampler does: the chain
 * picks a token from the raw logits, the grammar checks that one token, and
 * only when it is rejected is the grammar applied to every candidate (a UTF-8
 * decode and a walk of the grammar's stacks per token: 20–50 ms a token on
 * Qwen's 151,936-token vocabulary on a loaded 2-core machine, as long as the
 * forward pass of a 0.5B model). A trained model's pick is usually accepted; a
 * random model's at structural positions almost never, and any model's at a
 * position where the grammar allows few tokens often is not.
 *
 * Before each pick this finds the set S of the tokens the grammar accepts
 * next. A few sentinel bytes are asked first: where most of them pass (inside
 * a string), S would be most of the vocabulary and nothing is boosted. Else
 * the vocabulary is walked in byte order (grammar-token-trie.ts): the grammar
 * rejects every token that begins with a token it rejects, so it is asked
 * about the tokens it accepts and about the first rejected token of each
 * branch only — about 270 questions a step on Qwen's vocabulary, most of them
 * the single bytes, where asking every byte, byte pair and remaining candidate
 * took about 720. Every token of S gets the same large logit bias. Where the
 * grammar may end, S holds every end-of-generation token too (llama.cpp's
 * grammar allows all of them there, and none elsewhere): node-llama-cpp's
 * `TokenBias.set` drops them, so grammar-sampling-bias.ts writes them into
 * its map itself, and where it cannot such a step is not boosted (as before:
 * at the end of a tool call, between calls, S was {"\n", end} and a random
 * model's pick was rejected there). The chain's pick is then almost
 * always in S, and mostly accepted. The distribution does not change: the
 * bias is the same for every token the grammar accepts (S is that set), so an
 * accepted first pick is distributed as the grammar-constrained distribution,
 * and after a rejection llama.cpp's full pass samples from that distribution
 * too (the equal bias cancels out). That holds for temperature, greedy, top-k,
 * presence and frequency penalties and the client's logit_bias; it does not
 * hold for a multiplicative repetition penalty (applied after the bias), so
 * that request gets no boost. Truncating samplers (top_p < 1, min_p, top_k)
 * see the boosted distribution on the first pick, as llama.cpp's own fast
 * path sees the unconstrained one.
 *
 * Asking the grammar about one token uses node-llama-cpp's internal binding
 * (the one its own LlamaChat and draft-token predictor use, not exported);
 * where a node-llama-cpp version lacks it, nothing is boosted. Written here
 * because no library does it for node-llama-cpp: xgrammar and llguidance
 * compute exact token masks from their own grammar engines, which
 * node-llama-cpp cannot be given.
 */
import type { LlamaGrammarEvaluationState, LlamaModel, Token } from "node-llama-cpp";
import type { VocabularyTrie } from "./grammar-token-trie.js";

/** Whether the grammar state accepts `token` next. */
export type GrammarProbe = (state: LlamaGrammarEvaluationState, token: Token) => boolean;

interface AddonSamplerStatics {
  canBeNextTokenForGrammarEvaluationState?: (state: unknown, token: number) => boolean;
}

/** node-llama-cpp's single-token grammar check, or null where this version has none. */
export function grammarProbeOf(model: LlamaModel): GrammarProbe | null {
  const addon = (model.llama as unknown as { _bindings?: { AddonSampler?: AddonSamplerStatics } })._bindings?.AddonSampler;
  const check = addon?.canBeNextTokenForGrammarEvaluationState;
  if (addon === undefined || typeof check !== "function") return null;
  return (state, token) => {
    const native = (state as unknown as { _state?: unknown })._state;
    return native !== undefined && check.call(addon, native, token) === true;
  };
}

/** The bias every token of S gets: far above any logit a model writes, far above a ban (−1e4) never. */
export const boostLogit = 100;

/** Bytes asked first: where most of them pass (inside a string), S would be most of the vocabulary. */
const sentinels = [0x65, 0x51, 0x7e, 0x23, 0x6d, 0x37] as const;

export interface GrammarTokenBoostOptions {
  /** Boost only when S has at most this many tokens: node-llama-cpp copies the bias into native memory at every token. */
  maxBoosted: number;
  /** Whether the bias can carry end-of-generation tokens; where it cannot, steps where the grammar may end are not boosted. */
  endOfGeneration: boolean;
}

/** The set S found for one state, and a key that is equal for equal sets. */
export interface BoostedTokens {
  key: string;
  /** S: with every end-of-generation token where the grammar may end. */
  tokens: Int32Array;
}

/**
 * What the boost did before one pick: boosted S, or why not — most of the
 * sentinel bytes pass (inside a free string: S is most of the vocabulary),
 * S has more than maxBoosted tokens, or the grammar may end and the bias
 * cannot carry the end-of-generation tokens.
 */
export type BoostDecision = { outcome: "boosted"; boosted: BoostedTokens } | { outcome: "free_text" | "too_many" | "may_end"; boosted: null };

export class GrammarTokenBoost {
  constructor(
    private readonly trie: VocabularyTrie,
    private readonly probe: GrammarProbe,
    private readonly options: GrammarTokenBoostOptions,
  ) {}

  /** The tokens the grammar accepts next, or null when they are not boosted. */
  candidates(state: LlamaGrammarEvaluationState): BoostedTokens | null {
    return this.decide(state).boosted;
  }

  decide(state: LlamaGrammarEvaluationState): BoostDecision {
    const { trie, probe, options } = this;
    let asked = 0;
    let passed = 0;
    for (const byte of sentinels) {
      const token = trie.single[byte]!;
      if (token < 0) continue;
      asked++;
      if (probe(state, token as Token)) passed++;
    }
    if (asked > 0 && passed * 2 >= asked) return { outcome: "free_text", boosted: null };
    const eog = trie.endOfGeneration;
    const mayEnd = eog.length > 0 && probe(state, eog[0] as Token);
    if (mayEnd && !options.endOfGeneration) return { outcome: "may_end", boosted: null };
    const limit = options.maxBoosted - (mayEnd ? eog.length : 0);
    const found = limit < 0 ? null : trie.acceptedTokens((token) => probe(state, token), limit);
    if (found === null) return { outcome: "too_many", boosted: null };
    let tokens = found;
    if (mayEnd) {
      tokens = new Int32Array(found.length + eog.length);
      tokens.set(found);
      tokens.set(eog, found.length);
    }
    return { outcome: "boosted", boosted: { key: tokens.join(","), tokens } };
  }

  /**
   * Whether the grammar accepts nothing but the end of generation next: the
   * pick is then an end-of-generation token with probability 1.
   */
  onlyEnd(state: LlamaGrammarEvaluationState): boolean {
    const { trie, probe } = this;
    if (trie.endOfGeneration.length === 0 || !probe(state, trie.endOfGeneration[0] as Token)) return false;
    return trie.acceptedTokens((token) => probe(state, token), 0) !== null;
  }
}
