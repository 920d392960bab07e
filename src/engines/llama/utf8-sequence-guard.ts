/**
 * While a grammar constrains the output, a UTF-8 character that one token
 * begins must be finished by the next, and no token may start with a byte
 * that continues no character.
 *
 * llama.cpp's grammar engine carries a character begun in one token into the
 * next and decodes it without checking the continuation bytes: a lead byte
 * `F0` followed by a token `" draw"` reads as one character, where the client
 * decodes one U+FFFD and five characters more. A string under `maxLength: 12`
 * then came out longer than 12 characters (zod's recursive schema, tiny
 * model). {@link malformedUtf8Tokens} bans the tokens that are ill-formed on
 * their own; this bans, token by token, what would be ill-formed across the
 * boundary.
 */
import { TokenBias, type LlamaModel, type Token } from "node-llama-cpp";
import type { TokenBytes } from "./token-bytes.js";

const isContinuation = (byte: number): boolean => (byte & 0xc0) === 0x80;

/** Continuation bytes a lead byte asks for (0 for ASCII and for bytes that lead nothing). */
function continuationsOf(lead: number): number {
  if (lead >= 0xc2 && lead <= 0xdf) return 1;
  if (lead >= 0xe0 && lead <= 0xef) return 2;
  if (lead >= 0xf0 && lead <= 0xf4) return 3;
  return 0;
}

/** Continuation bytes still owed after `bytes`, starting from `owed`. */
export function owedAfter(owed: number, bytes: Uint8Array): number {
  let left = owed;
  for (const byte of bytes) {
    if (left > 0 && isContinuation(byte)) left--;
    else left = continuationsOf(byte);
  }
  return left;
}

/** Whether a token with these bytes may follow when `owed` continuation bytes are due (empty tokens — special ones — always may). */
export function mayFollow(owed: number, bytes: Uint8Array): boolean {
  if (bytes.length === 0) return true;
  for (let i = 0; i < Math.min(owed, bytes.length); i++) if (!isContinuation(bytes[i] ?? 0)) return false;
  // The byte after the character is finished starts a new one: it must not be a continuation byte.
  return bytes.length <= owed || !isContinuation(bytes[owed] ?? 0);
}

const banned = new WeakMap<TokenBytes, Map<number, readonly Token[]>>();

/** The tokens that may not follow when `owed` continuation bytes are due (computed once per vocabulary and state). */
export function bannedWhenOwing(tokenBytes: TokenBytes, owed: number): readonly Token[] {
  let byState = banned.get(tokenBytes);
  if (byState === undefined) banned.set(tokenBytes, (byState = new Map()));
  let list = byState.get(owed);
  if (list === undefined) {
    const found: Token[] = [];
    for (let token = 0; token < tokenBytes.size; token++) if (!mayFollow(owed, tokenBytes.bytes(token as Token))) found.push(token as Token);
    byState.set(owed, (list = found));
  }
  return list;
}

/**
 * One choice's guard: feed it every token the choice emits; `bias()` is the
 * token bias for the next one (the choice's own bias plus the bans the open
 * character calls for).
 */
export class Utf8SequenceGuard {
  private owed = 0;
  private readonly biases = new Map<number, TokenBias>();
  private empty: TokenBias | undefined;

  /**
   * @param applyBase sets the choice's own biases (logit_bias, malformed tokens) on a bias; they
   *   win where both speak
   * @param banLogit the logit a ban gets: under a grammar, a large negative value rather than
   *   -infinity, so that a grammar left with only banned tokens still has one to pick
   */
  constructor(
    private readonly model: LlamaModel,
    private readonly tokenBytes: TokenBytes,
    private readonly applyBase: (bias: TokenBias) => void,
    private readonly banLogit: number,
  ) {}

  /** An empty bias, for steps before a lazy grammar switches on. */
  unbiased(): TokenBias {
    return (this.empty ??= new TokenBias(this.model.tokenizer));
  }

  accept(token: Token): void {
    this.owed = owedAfter(this.owed, this.tokenBytes.bytes(token));
  }

  bias(): TokenBias {
    let bias = this.biases.get(this.owed);
    if (bias === undefined) {
      bias = new TokenBias(this.model.tokenizer);
      for (const token of bannedWhenOwing(this.tokenBytes, this.owed)) bias.set(token, { logit: this.banLogit });
      this.applyBase(bias);
      this.biases.set(this.owed, bias);
    }
    return bias;
  }
}
