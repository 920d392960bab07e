/**
 * A vocabulary laid out for asking a grammar about its tokens in few
 * questions: the tokens sorted by their bytes, so that the tokens beginning
 * with a given token's bytes follow it in one run, and for each token the end
 * of that run.
 *
 * llama.cpp's grammar accepts a token only if it accepts every prefix of its
 * bytes (it walks the token's characters one by one, and checks a trailing
 * partial character against the character classes): so when the grammar
 * rejects a token, it rejects every token that begins with that token's bytes,
 * and the walk in `acceptedTokens` skips them without asking. Asked in this
 * order, the grammar answers about the tokens it accepts and about the first
 * rejected token of each branch, never about the rest of a rejected branch.
 * test/grammar-token-trie.test.ts compares the answer with the grammar's own
 * about every token of the vocabulary over many states.
 */
import type { Token } from "node-llama-cpp";
import type { TokenBytes } from "./token-bytes.js";

export class VocabularyTrie {
  /** The tokens (end-of-generation and empty ones left out), sorted by their bytes. */
  readonly order: Int32Array;
  /** For position i of `order`: the first position after i whose token does not begin with order[i]'s bytes. */
  readonly skip: Int32Array;
  /** The token that is exactly byte b, or -1. */
  readonly single = new Int32Array(256).fill(-1);
  /** End-of-generation tokens (the grammar allows them only where it may end). */
  readonly endOfGeneration: Int32Array;
  readonly size: number;

  constructor(tokenBytes: TokenBytes, isEog: (token: Token) => boolean) {
    this.size = tokenBytes.size;
    const kept: number[] = [];
    const eog: number[] = [];
    // Each token's bytes as a string of code units 0–255: JavaScript compares strings by code unit, so they sort as the bytes do.
    const keys: string[] = new Array<string>(tokenBytes.size);
    for (let token = 0; token < tokenBytes.size; token++) {
      if (isEog(token as Token)) {
        eog.push(token);
        continue;
      }
      const b = tokenBytes.bytes(token as Token);
      if (b.length === 0) continue; // llama.cpp's grammar rejects empty pieces
      keys[token] = String.fromCharCode(...b);
      kept.push(token);
      if (b.length === 1 && this.single[b[0]!] === -1) this.single[b[0]!] = token;
    }
    kept.sort((x, y) => (keys[x]! < keys[y]! ? -1 : keys[x]! > keys[y]! ? 1 : x - y));
    this.order = Int32Array.from(kept);
    this.skip = new Int32Array(kept.length);
    // The positions whose run is still open: each one's bytes are a prefix of the next one's.
    const open: number[] = [];
    for (let i = 0; i < kept.length; i++) {
      const current = keys[kept[i]!]!;
      while (open.length > 0 && !current.startsWith(keys[kept[open[open.length - 1]!]!]!)) this.skip[open.pop()!] = i;
      open.push(i);
    }
    for (const i of open) this.skip[i] = kept.length;
    this.endOfGeneration = Int32Array.from(eog);
  }

  /**
   * The tokens `accepts` says yes to, asking only about those whose every
   * shorter token-prefix was accepted; null as soon as more than `limit` are
   * accepted.
   */
  acceptedTokens(accepts: (token: Token) => boolean, limit: number): Int32Array | null {
    const { order, skip } = this;
    const found: number[] = [];
    for (let i = 0; i < order.length; ) {
      const token = order[i]!;
      if (accepts(token as Token)) {
        if (found.push(token) > limit) return null;
        i++;
      } else i = skip[i]!;
    }
    return Int32Array.from(found);
  }
}

const trieOf = new WeakMap<TokenBytes, VocabularyTrie>();

/** The trie of a vocabulary, built once. */
export function vocabularyTrie(tokenBytes: TokenBytes, isEog: (token: Token) => boolean): VocabularyTrie {
  let found = trieOf.get(tokenBytes);
  if (found === undefined) trieOf.set(tokenBytes, (found = new VocabularyTrie(tokenBytes, isEog)));
  return found;
}
