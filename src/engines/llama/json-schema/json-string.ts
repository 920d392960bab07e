/**
 * The inside of a JSON string, as GBNF: any character (escaped where JSON
 * requires), or the characters of a regular expression, with length bounds
 * counted in characters (code points, as JSON Schema and Ajv count them).
 */
import { charClass, literal, repeat, type CodePointRange } from "./gbnf-text.js";
import { capRepeats, complementRanges, countRepeats, lengthRange, normalizeRanges, parsePattern, raiseRepeats, UnsupportedPattern, type RegexNode } from "./regex-pattern.js";

/** The most iterations a bounded repetition may have in a grammar; more is narrowed to this (never invalid, only shorter). */
export const repetitionCap = 1000;

/**
 * One character of a JSON string's value: a raw character other than `"`,
 * `\`, controls and DEL, or an escape (a `\u` escape of a surrogate half
 * is left out: alone it is not a character). The raw characters are listed,
 * not negated, so that what llama.cpp decodes from ill-formed UTF-8 (a
 * surrogate half, a value past U+10FFFF) never matches.
 */
export const jsonCharGbnf = String.raw`[\x20-\x21\x23-\x5B\x5D-\x7E\x80-\uD7FF\uE000-\U0010FFFF] | "\\" (["\\/bfnrt] | "u" ([0-9a-cA-CeEfF] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2}))`;

const quote = 0x22;
const backslash = 0x5c;
/** Characters never written raw inside a JSON string: controls, `"`, `\`, DEL, surrogate halves. */
const unwritable: CodePointRange[] = [{ from: 0, to: 0x1f }, { from: quote, to: quote }, { from: backslash, to: backslash }, { from: 0x7f, to: 0x7f }, { from: 0xd800, to: 0xdfff }];
const shortEscapes: ReadonlyArray<[number, string]> = [[0x09, "\\t"], [0x0a, "\\n"], [0x0d, "\\r"]];

function contains(ranges: readonly CodePointRange[], cp: number): boolean {
  return ranges.some((range) => range.from <= cp && cp <= range.to);
}

function subtract(ranges: readonly CodePointRange[], remove: readonly CodePointRange[]): CodePointRange[] {
  const keep = complementRanges(remove);
  const out: CodePointRange[] = [];
  for (const a of normalizeRanges(ranges)) {
    for (const b of keep) {
      const from = Math.max(a.from, b.from);
      const to = Math.min(a.to, b.to);
      if (from <= to) out.push({ from, to });
    }
  }
  return out;
}

/** One character of a set, as the JSON text that writes it; null if the set is empty. */
function setGbnf(ranges: readonly CodePointRange[], negated: boolean): string | null {
  const members = negated ? complementRanges(ranges) : normalizeRanges(ranges);
  const raw = subtract(members, unwritable);
  const options: string[] = [];
  if (raw.length > 0) options.push(charClass(raw));
  if (contains(members, quote)) options.push(literal('\\"'));
  if (contains(members, backslash)) options.push(literal("\\\\"));
  for (const [cp, escape] of shortEscapes) if (contains(members, cp)) options.push(literal(escape));
  if (options.length === 0) return null;
  return options.length === 1 ? (options[0] ?? null) : `(${options.join(" | ")})`;
}

/**
 * Gives an expression a rule of its own and returns the rule's name: a
 * repetition must apply to a class, a literal or a rule name, because
 * llama.cpp refuses `(…){m,n}` when the group's own sub-rules times n reach
 * 2,000 ("number of rules … exceeds sane defaults").
 */
export type Hoist = (expr: string) => string;

/** `expr` as one repeatable unit: a class or a literal as is, anything else a rule of its own. */
function atomic(expr: string, hoist: Hoist): string {
  return /^(\[(\\.|[^\]\\])*\]|"(\\.|[^"\\])*"|[a-z0-9-]+)$/.test(expr) ? expr : hoist(expr);
}

/** Null when the node can match nothing. */
function regexGbnf(node: RegexNode, hoist: Hoist): string | null {
  switch (node.kind) {
    case "chars":
      return setGbnf(node.ranges, node.negated);
    case "seq": {
      const parts: string[] = [];
      for (const item of node.items) {
        const part = regexGbnf(item, hoist);
        if (part === null) return null;
        if (part !== '""') parts.push(part);
      }
      return parts.length === 0 ? '""' : parts.join(" ");
    }
    case "alt": {
      const options = node.options.map((option) => regexGbnf(option, hoist)).filter((x): x is string => x !== null);
      if (options.length === 0) return null;
      return options.length === 1 ? (options[0] ?? null) : `(${options.join(" | ")})`;
    }
    case "repeat": {
      const item = regexGbnf(node.item, hoist);
      if (item === null) return node.min === 0 ? '""' : null;
      if (node.min > repetitionCap) throw new UnsupportedPattern(`a repetition of at least ${node.min}`);
      const max = node.max === null ? null : Math.min(node.max, repetitionCap);
      return repeat(atomic(item, hoist), node.min, max);
    }
  }
}

const anyChar: RegexNode = { kind: "chars", ranges: [], negated: true };
const anything: RegexNode = { kind: "repeat", item: anyChar, min: 0, max: null };

/** The characters of a plain string of min…max characters; `charRule` names a rule of `jsonCharGbnf`. */
export function plainStringGbnf(minLength: number, maxLength: number | null, charRule: string): string {
  if (minLength > repetitionCap) throw new UnsupportedPattern(`a minLength of ${minLength}`);
  return repeat(charRule, minLength, maxLength === null ? null : Math.min(maxLength, repetitionCap));
}

/**
 * The inside of a string matching `pattern` (unanchored ends match anything)
 * with min…max characters. Where the pattern allows other lengths, its
 * repetitions are narrowed (raised minimums, capped maximums) until every
 * match it keeps has an allowed length; throws UnsupportedPattern if that
 * cannot be done.
 */
export function patternStringGbnf(pattern: string, minLength: number, maxLength: number | null, hoist: Hoist): string {
  const parsed = parsePattern(pattern);
  const body: RegexNode = {
    kind: "alt",
    options: parsed.alternatives.map(({ body, anchoredStart, anchoredEnd }) => ({
      kind: "seq",
      items: [...(anchoredStart ? [] : [anything]), body, ...(anchoredEnd ? [] : [anything])],
    })),
  };
  const fitted = fitLength(body, minLength, maxLength);
  const gbnf = regexGbnf(fitted, hoist);
  if (gbnf === null) throw new UnsupportedPattern("a pattern no JSON string can match");
  return gbnf;
}

function fits(node: RegexNode, minLength: number, maxLength: number | null): boolean {
  const [min, max] = lengthRange(node);
  return min >= minLength && (maxLength === null || (max !== null && max <= maxLength));
}

/** Caps the repetitions of `node` until its longest match fits maxLength; null if that cannot be done. */
function capped(node: RegexNode, minLength: number, maxLength: number | null): RegexNode | null {
  if (maxLength === null) return fits(node, minLength, maxLength) ? node : null;
  for (let room = maxLength; room >= 0; room = room === 0 ? -1 : Math.floor(room / 2)) {
    const candidate = capRepeats(node, room);
    if (fits(candidate, minLength, maxLength)) return candidate;
  }
  return null;
}

/** Raises one repetition (else all together) until the shortest match reaches minLength. */
function raised(node: RegexNode, minLength: number, only: number | null): RegexNode | null {
  let candidate = node;
  for (let extra = 1; lengthRange(candidate)[0] < minLength; extra++) {
    if (extra > minLength) return null;
    candidate = raiseRepeats(node, extra, only);
  }
  return candidate;
}

function fitLength(node: RegexNode, minLength: number, maxLength: number | null): RegexNode {
  if (fits(node, minLength, maxLength)) return node;
  const repeats = countRepeats(node);
  for (const only of [...Array.from({ length: repeats }, (_, i) => i), null]) {
    const longer = raised(node, minLength, only);
    const fitted = longer === null ? null : capped(longer, minLength, maxLength);
    if (fitted !== null) return fitted;
  }
  throw new UnsupportedPattern(`matches that cannot be fitted to ${minLength}…${maxLength ?? "∞"} characters`);
}

/** The characters JSON writes unescaped inside a string (no surrogate halves). */
const unescapedJsonChars: readonly CodePointRange[] = [
  { from: 0x20, to: 0x21 },
  { from: 0x23, to: 0x5b },
  { from: 0x5d, to: 0x7e },
  { from: 0x80, to: 0xd7ff },
  { from: 0xe000, to: 0x10ffff },
];

interface TrieNode {
  word: boolean;
  children: Map<number, TrieNode>;
}

/**
 * The inside of any string but `words` (a `not` of string values). Along the
 * words' trie only unescaped characters are written, so what is written is
 * what is read: a string ends where no word ends, or leaves the trie with a
 * character no word continues with and then goes on freely (`charRule`).
 */
export function stringExceptGbnf(words: readonly string[], charRule: string, hoist: Hoist): string {
  const root: TrieNode = { word: false, children: new Map() };
  for (const word of words) {
    let node = root;
    for (const ch of word) {
      const cp = ch.codePointAt(0) ?? 0;
      let next = node.children.get(cp);
      if (next === undefined) node.children.set(cp, (next = { word: false, children: new Map() }));
      node = next;
    }
    node.word = true;
  }
  const walk = (node: TrieNode): string => {
    const options: string[] = [];
    if (!node.word) options.push('""');
    const children = [...node.children.keys()].map((cp) => ({ from: cp, to: cp }));
    const other = normalizeRanges(complementRanges([...complementRanges(unescapedJsonChars), ...children]));
    if (other.length > 0) options.push(`${charClass(other)} ${charRule}*`);
    for (const [cp, child] of node.children) {
      if (unescapedJsonChars.some((r) => cp >= r.from && cp <= r.to)) options.push(`${literal(String.fromCodePoint(cp))} ${walk(child)}`);
    }
    return hoist(options.join(" | "));
  };
  return walk(root);
}
