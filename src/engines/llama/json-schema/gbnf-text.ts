/**
 * GBNF text: literals and character classes written the way llama.cpp's
 * grammar parser reads them. Characters are code points; anything outside
 * printable ASCII is written as an escape so the grammar text stays ASCII.
 */

function escapeCodePoint(cp: number): string {
  if (cp <= 0xff) return `\\x${cp.toString(16).padStart(2, "0").toUpperCase()}`;
  if (cp <= 0xffff) return `\\u${cp.toString(16).padStart(4, "0").toUpperCase()}`;
  return `\\U${cp.toString(16).padStart(8, "0").toUpperCase()}`;
}

/** A GBNF string literal matching exactly `text`. */
export function literal(text: string): string {
  let out = '"';
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === "\\") out += `\\${ch}`;
    else if (cp < 0x20 || cp >= 0x7f) out += escapeCodePoint(cp);
    else out += ch;
  }
  return `${out}"`;
}

/** A code-point range, both ends inclusive. */
export interface CodePointRange {
  from: number;
  to: number;
}

/** A character inside `[…]`: llama.cpp knows no `\^` or `\-`, so those (and `]`, `\`, `[`) are written as hex escapes. */
function classChar(cp: number): string {
  if (cp === 0x5d || cp === 0x5c || cp === 0x2d || cp === 0x5e || cp === 0x5b) return escapeCodePoint(cp);
  if (cp < 0x20 || cp >= 0x7f) return escapeCodePoint(cp);
  return String.fromCodePoint(cp);
}

/** `[…]` or `[^…]` over the given ranges. */
export function charClass(ranges: readonly CodePointRange[], negated = false): string {
  const body = ranges.map((r) => (r.from === r.to ? classChar(r.from) : `${classChar(r.from)}-${classChar(r.to)}`)).join("");
  return `[${negated ? "^" : ""}${body}]`;
}

/** `x{min,max}` written compactly; `max` null is unbounded. */
export function repeat(item: string, min: number, max: number | null): string {
  if (max !== null && max === 0) return '""';
  if (min === 0 && max === null) return `${item}*`;
  if (min === 1 && max === null) return `${item}+`;
  if (min === 0 && max === 1) return `${item}?`;
  if (min === 1 && max === 1) return item;
  if (max === null) return `${item}{${min},}`;
  if (min === max) return `${item}{${min}}`;
  return `${item}{${min},${max}}`;
}
