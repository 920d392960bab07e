/**
 * Tokens that can never be part of valid UTF-8, banned while a grammar
 * constrains the output.
 *
 * llama.cpp's grammar engine decodes UTF-8 leniently: an overlong sequence
 * (`C1 81` reads as `A`), a surrogate half (`ED A0 80`) or a value past
 * U+10FFFF reads as a code point and can match a grammar's character class,
 * while the text a client gets has U+FFFD for each of those bytes — a string
 * one grammar character long comes out four characters long, or fails its
 * pattern. Byte-level vocabularies (Qwen, Llama 3, our test models) have a
 * token for every byte, so a model can write them. Our grammars' classes
 * exclude surrogates and values past U+10FFFF; this bans the tokens holding
 * a byte no UTF-8 has (C0, C1, F5–FF) or an ill-formed sequence within the
 * token. Across a token boundary llama.cpp itself rejects a token that does
 * not continue a character the last one began; Utf8SequenceGuard bans the
 * continuations out of range after an E0, ED, F0 or F4 lead split from its
 * second byte (overlong forms, surrogates, values past U+10FFFF).
 */
import type { Token } from "node-llama-cpp";
import type { TokenBytes } from "./token-bytes.js";

/** Whether `bytes` can occur somewhere inside well-formed UTF-8 (it may start mid-character and end mid-character). */
export function canBePartOfUtf8(bytes: Uint8Array): boolean {
  let i = 0;
  // Continuation bytes of a character begun in an earlier token.
  while (i < bytes.length && i < 3 && ((bytes[i] ?? 0) & 0xc0) === 0x80) i++;
  while (i < bytes.length) {
    const lead = bytes[i] ?? 0;
    let need: number;
    let secondLow = 0x80;
    let secondHigh = 0xbf;
    if (lead < 0x80) need = 0;
    else if (lead >= 0xc2 && lead <= 0xdf) need = 1;
    else if (lead >= 0xe0 && lead <= 0xef) {
      need = 2;
      if (lead === 0xe0) secondLow = 0xa0;
      if (lead === 0xed) secondHigh = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      need = 3;
      if (lead === 0xf0) secondLow = 0x90;
      if (lead === 0xf4) secondHigh = 0x8f;
    } else return false;
    for (let k = 1; k <= need; k++) {
      const b = bytes[i + k];
      if (b === undefined) return true; // ends mid-character: a later token may complete it
      const low = k === 1 ? secondLow : 0x80;
      const high = k === 1 ? secondHigh : 0xbf;
      if (b < low || b > high) return false;
    }
    i += need + 1;
  }
  return true;
}

const cache = new WeakMap<TokenBytes, readonly Token[]>();

/** The tokens of the vocabulary that can never be part of valid UTF-8 (computed once per vocabulary). */
export function malformedUtf8Tokens(tokenBytes: TokenBytes): readonly Token[] {
  let found = cache.get(tokenBytes);
  if (found === undefined) {
    const list: Token[] = [];
    for (let token = 0; token < tokenBytes.size; token++) if (!canBePartOfUtf8(tokenBytes.bytes(token as Token))) list.push(token as Token);
    found = list;
    cache.set(tokenBytes, found);
  }
  return found;
}
