/**
 * While a grammar constrains the output, the byte after a lead byte whose
 * second byte has a narrower range than 80–BF must be in that range.
 *
 * llama.cpp's grammar engine carries a character begun in one token into the
 * next and rejects a next token that does not continue it, but it does not
 * check the second byte's range: a token `F0` followed by a token `8C A6 A6`
 * decodes as U+C9A6 (an overlong form) and matches a string's character
 * class, where the client decodes four U+FFFD — a string under `maxLength: 12`
 * came out longer than 12 characters (zod's recursive schema, tiny model). The
 * same holds for `E0` (overlong), `ED` (surrogate halves) and `F4` (past
 * U+10FFFF). {@link malformedUtf8Tokens} bans the tokens that are ill-formed on
 * their own; this bans, while such a lead is open, the few tokens that would be
 * ill-formed across the boundary: those that start with a continuation byte
 * out of its range. (Bytes that are no continuation at all llama.cpp rejects
 * by itself, so nothing else needs a ban: the list stays a few dozen tokens,
 * never the near-whole vocabulary that node-llama-cpp would copy at every
 * token.)
 */
import type { Token } from "node-llama-cpp";
import type { TokenBytes } from "./token-bytes.js";

const isContinuation = (byte: number): boolean => (byte & 0xc0) === 0x80;

/** The range of the byte after `lead` where it is narrower than 80–BF (null for every other byte). */
export function secondByteRange(lead: number): readonly [number, number] | null {
  if (lead === 0xe0) return [0xa0, 0xbf];
  if (lead === 0xed) return [0x80, 0x9f];
  if (lead === 0xf0) return [0x90, 0xbf];
  if (lead === 0xf4) return [0x80, 0x8f];
  return null;
}

/** The lead byte left open at the end of `bytes` whose second byte is narrowed, or 0 (starting from `open`, for empty tokens). */
export function openLeadAfter(open: number, bytes: Uint8Array): number {
  if (bytes.length === 0) return open;
  const last = bytes[bytes.length - 1] ?? 0;
  return secondByteRange(last) === null ? 0 : last;
}

/** Whether a token with these bytes may follow the open lead `lead` (0: nothing open; empty tokens — special ones — always may). */
export function mayFollowLead(lead: number, bytes: Uint8Array): boolean {
  const range = secondByteRange(lead);
  const first = bytes[0];
  if (range === null || first === undefined || !isContinuation(first)) return true;
  return first >= range[0] && first <= range[1];
}

const banned = new WeakMap<TokenBytes, Map<number, readonly Token[]>>();

/** The tokens that may not follow the open lead `lead` (computed once per vocabulary and lead). */
export function bannedAfterLead(tokenBytes: TokenBytes, lead: number): readonly Token[] {
  if (secondByteRange(lead) === null) return [];
  let byLead = banned.get(tokenBytes);
  if (byLead === undefined) banned.set(tokenBytes, (byLead = new Map()));
  let list = byLead.get(lead);
  if (list === undefined) {
    const found: Token[] = [];
    for (let token = 0; token < tokenBytes.size; token++) if (!mayFollowLead(lead, tokenBytes.bytes(token as Token))) found.push(token as Token);
    byLead.set(lead, (list = found));
  }
  return list;
}

/** One choice's open lead: feed it every token the choice emits. */
export class Utf8SequenceGuard {
  private lead = 0;

  constructor(private readonly tokenBytes: TokenBytes) {}

  /** The open lead byte (0 when none is open): the key of {@link banned}. */
  get state(): number {
    return this.lead;
  }

  accept(token: Token): void {
    this.lead = openLeadAfter(this.lead, this.tokenBytes.bytes(token));
  }

  /** The tokens that may not come next. */
  banned(): readonly Token[] {
    return bannedAfterLead(this.tokenBytes, this.lead);
  }
}
