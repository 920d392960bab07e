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
 * Before each pick this finds a superset S of the tokens the grammar accepts
 * next, by asking the grammar about short byte strings rather than every
 * token: a token is accepted only if its first byte alone is (llama.cpp reads
 * a byte that begins a character as a partial character and checks it against
 * the character classes), and only if its first two bytes are. So the 256
 * single-byte tokens are asked (after a few sentinels: where those pass, S
 * would be most of the vocabulary and nothing is gained), then, for the first
 * bytes that begin many tokens, the two-byte tokens; when S is then at most a
 * couple of thousand tokens, each of them is asked, and S is exactly the set
 * the grammar accepts. When S is small, every token of S gets the same large logit bias (except where the grammar may end:
 * end-of-generation tokens cannot be biased). The chain's pick is then almost
 * always in S, and mostly accepted. The distribution does not change: the
 * bias is the same for every token the grammar accepts (all are in S), so an
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
import type { TokenBytes } from "./token-bytes.js";

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

/** The vocabulary grouped by first byte and by first two bytes, built once per vocabulary. */
export class VocabularyPrefixes {
  /** The token that is exactly byte b, or -1. */
  readonly single = new Int32Array(256).fill(-1);
  /** Tokens whose first byte is b (one-byte tokens included). */
  readonly byFirst: Int32Array[];
  /** The token that is exactly the two bytes (b1 << 8 | b2), or -1. */
  readonly pair = new Int32Array(65536).fill(-1);
  /** Per first byte: the second bytes that occur, and the tokens of each (two bytes or longer). */
  readonly bySecond: Map<number, Int32Array>[];
  /** End-of-generation tokens (the grammar allows them only where it may end; never boosted). */
  readonly endOfGeneration: Int32Array;
  readonly size: number;

  constructor(tokenBytes: TokenBytes, isEog: (token: Token) => boolean) {
    this.size = tokenBytes.size;
    const first: number[][] = Array.from({ length: 256 }, () => []);
    const second: Map<number, number[]>[] = Array.from({ length: 256 }, () => new Map());
    const eog: number[] = [];
    for (let token = 0; token < tokenBytes.size; token++) {
      if (isEog(token as Token)) {
        eog.push(token);
        continue;
      }
      const bytes = tokenBytes.bytes(token as Token);
      const b1 = bytes[0];
      if (b1 === undefined) continue; // llama.cpp's grammar rejects empty pieces
      first[b1]!.push(token);
      if (bytes.length === 1) {
        if (this.single[b1] === -1) this.single[b1] = token;
        continue;
      }
      const b2 = bytes[1]!;
      if (bytes.length === 2 && this.pair[(b1 << 8) | b2] === -1) this.pair[(b1 << 8) | b2] = token;
      const group = second[b1]!;
      let list = group.get(b2);
      if (list === undefined) group.set(b2, (list = []));
      list.push(token);
    }
    this.byFirst = first.map((list) => Int32Array.from(list));
    this.bySecond = second.map((group) => new Map([...group].map(([b2, list]) => [b2, Int32Array.from(list)])));
    this.endOfGeneration = Int32Array.from(eog);
  }
}

const prefixesOf = new WeakMap<TokenBytes, VocabularyPrefixes>();

export function vocabularyPrefixes(tokenBytes: TokenBytes, isEog: (token: Token) => boolean): VocabularyPrefixes {
  let found = prefixesOf.get(tokenBytes);
  if (found === undefined) prefixesOf.set(tokenBytes, (found = new VocabularyPrefixes(tokenBytes, isEog)));
  return found;
}

export interface GrammarTokenBoostOptions {
  /** Boost only when S has at most this many tokens: node-llama-cpp copies the bias into native memory at every token. */
  maxBoosted: number;
  /** Refine a first byte by its second bytes when it begins more than this many tokens. */
  refineAbove: number;
  /** When S has at most this many tokens, ask the grammar about each of them and boost exactly those it accepts. */
  exactBelow: number;
}

/** The superset S found for one state, and a key that is equal for equal sets. */
export interface BoostedTokens {
  key: string;
  tokens: readonly Int32Array[];
}

export class GrammarTokenBoost {
  constructor(
    private readonly prefixes: VocabularyPrefixes,
    private readonly probe: GrammarProbe,
    private readonly options: GrammarTokenBoostOptions,
  ) {}

  /** The tokens the grammar may accept next, or null when they are too many to be worth a bias. */
  candidates(state: LlamaGrammarEvaluationState): BoostedTokens | null {
    const { prefixes, probe, options } = this;
    const allows = (token: number): boolean => token < 0 || probe(state, token as Token);
    let asked = 0;
    let passed = 0;
    for (const byte of sentinels) {
      const token = prefixes.single[byte]!;
      if (token < 0) continue;
      asked++;
      if (probe(state, token as Token)) passed++;
    }
    if (asked > 0 && passed * 2 >= asked) return null;
    // Where the grammar may end, nothing is boosted: node-llama-cpp's TokenBias ignores end-of-generation tokens, so they could not get the same bias.
    if (prefixes.endOfGeneration.length > 0 && probe(state, prefixes.endOfGeneration[0] as Token)) return null;

    const groups: Int32Array[] = [];
    const key: string[] = [];
    let count = 0;
    for (let b1 = 0; b1 < 256; b1++) {
      const tokens = prefixes.byFirst[b1]!;
      if (tokens.length === 0 || !allows(prefixes.single[b1]!)) continue;
      if (tokens.length <= options.refineAbove) {
        groups.push(tokens);
        key.push(String(b1));
        count += tokens.length;
      } else {
        // Only the second bytes the grammar accepts after b1 (a pair with no two-byte token stays: a superset).
        const single = prefixes.single[b1]!;
        if (single >= 0) groups.push(Int32Array.of(single));
        key.push(`${b1}:`);
        for (const [b2, rest] of prefixes.bySecond[b1]!) {
          if (!allows(prefixes.pair[(b1 << 8) | b2]!)) continue;
          groups.push(rest);
          key.push(`${b1}.${b2}`);
          count += rest.length;
          if (count > options.maxBoosted) return null;
        }
        count += single >= 0 ? 1 : 0;
      }
      if (count > options.maxBoosted) return null;
    }
    if (count > options.exactBelow) return { key: key.join(","), tokens: groups };
    // Few enough to ask about each: S becomes exactly the tokens the grammar accepts.
    const exact: number[] = [];
    for (const group of groups) for (const token of group) if (probe(state, token as Token)) exact.push(token);
    return { key: `=${exact.join(",")}`, tokens: [Int32Array.from(exact)] };
  }
}
