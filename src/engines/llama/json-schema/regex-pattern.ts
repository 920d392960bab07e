/**
 * The ECMAScript regular expressions JSON Schema `pattern`s use, parsed
 * (with the `u` flag, as Ajv compiles them) into a small syntax tree: sets of
 * characters, sequences, alternatives and bounded or unbounded repetitions.
 * What has no regular-grammar equivalent (lookaround, backreferences, word
 * boundaries, anchors in the middle) is refused, naming the construct.
 */
import type { CodePointRange } from "./gbnf-text.js";

export type RegexNode =
  | { kind: "chars"; ranges: CodePointRange[]; negated: boolean }
  | { kind: "seq"; items: RegexNode[] }
  | { kind: "alt"; options: RegexNode[] }
  | { kind: "repeat"; item: RegexNode; min: number; max: number | null };

/** A pattern as anchored alternatives: each may match at the start/end only, or anywhere. */
export interface ParsedPattern {
  alternatives: Array<{ body: RegexNode; anchoredStart: boolean; anchoredEnd: boolean }>;
}

export class UnsupportedPattern extends Error {}

const maxCodePoint = 0x10ffff;
const r = (from: number, to = from): CodePointRange => ({ from, to });
const digits = [r(0x30, 0x39)];
const word = [r(0x30, 0x39), r(0x41, 0x5a), r(0x5f), r(0x61, 0x7a)];
const spaces = [r(0x09, 0x0d), r(0x20), r(0xa0), r(0x1680), r(0x2000, 0x200a), r(0x2028, 0x2029), r(0x202f), r(0x205f), r(0x3000), r(0xfeff)];
const lineTerminators = [r(0x0a), r(0x0d), r(0x2028, 0x2029)];

/** Sorted, merged ranges. */
export function normalizeRanges(ranges: readonly CodePointRange[]): CodePointRange[] {
  const sorted = [...ranges].sort((a, b) => a.from - b.from);
  const out: CodePointRange[] = [];
  for (const range of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && range.from <= last.to + 1) last.to = Math.max(last.to, range.to);
    else out.push({ ...range });
  }
  return out;
}

export function complementRanges(ranges: readonly CodePointRange[]): CodePointRange[] {
  const out: CodePointRange[] = [];
  let next = 0;
  for (const range of normalizeRanges(ranges)) {
    if (range.from > next) out.push(r(next, range.from - 1));
    next = range.to + 1;
  }
  if (next <= maxCodePoint) out.push(r(next, maxCodePoint));
  return out;
}

/** Letters and digits of the Unicode properties schemas use, narrowed to ASCII (a subset is never wrong). */
const propertySubsets: Readonly<Record<string, CodePointRange[]>> = {
  L: [r(0x41, 0x5a), r(0x61, 0x7a)],
  Letter: [r(0x41, 0x5a), r(0x61, 0x7a)],
  Lu: [r(0x41, 0x5a)],
  Ll: [r(0x61, 0x7a)],
  N: digits,
  Nd: digits,
  Number: digits,
  Alphabetic: [r(0x41, 0x5a), r(0x61, 0x7a)],
  P: [r(0x21, 0x23), r(0x25, 0x2a), r(0x2c, 0x2f), r(0x3a, 0x3b), r(0x3f, 0x40), r(0x5b, 0x5d), r(0x5f), r(0x7b), r(0x7d)],
};

/** A group some of whose alternatives hold an anchor: spread over the pattern's top-level alternatives. */
class AnchoredGroup {
  constructor(readonly options: PatternItem[][]) {}
}

type PatternItem = RegexNode | "^" | "$" | AnchoredGroup;

/** More alternatives than this from spreading anchored groups: refused. */
const maxSpreadAlternatives = 64;

/** `x(^a|b)y` → `x^ay`, `xby`: each anchored group replaced by each of its alternatives, recursively. */
function expandAnchoredGroups(items: readonly PatternItem[]): Array<Array<RegexNode | "^" | "$">> {
  const at = items.findIndex((item) => item instanceof AnchoredGroup);
  if (at < 0) return [items as Array<RegexNode | "^" | "$">];
  const group = items[at] as AnchoredGroup;
  const out: Array<Array<RegexNode | "^" | "$">> = [];
  for (const option of group.options) {
    for (const expanded of expandAnchoredGroups([...items.slice(0, at), ...option, ...items.slice(at + 1)])) {
      out.push(expanded);
      if (out.length > maxSpreadAlternatives) throw new UnsupportedPattern("anchors inside groups with too many alternatives");
    }
  }
  return out;
}

/** The shortest match of items (anchors count nothing). */
function minLengthOf(items: ReadonlyArray<RegexNode | "^" | "$">): number {
  return lengthRange({ kind: "seq", items: items.filter((item): item is RegexNode => typeof item !== "string") })[0];
}

/** Whether some anchor in `items` stands where it can never hold: `^` after text that cannot be empty, `$` before it. */
function anchorCannotHold(items: ReadonlyArray<RegexNode | "^" | "$">): boolean {
  return items.some((item, k) => (item === "^" && minLengthOf(items.slice(0, k)) > 0) || (item === "$" && minLengthOf(items.slice(k + 1)) > 0));
}

class PatternParser {
  private i = 0;
  constructor(private readonly src: string) {}

  parse(): ParsedPattern {
    const options = this.alternatives();
    if (this.i < this.src.length) throw new UnsupportedPattern(`unexpected '${this.src[this.i] ?? ""}'`);
    const flat = options.flatMap((items) => expandAnchoredGroups(items));
    const alternatives: ParsedPattern["alternatives"] = [];
    for (const items of flat) {
      let start = 0;
      let end = items.length;
      let anchoredStart = false;
      let anchoredEnd = false;
      while (start < end && (items[start] === "^" || items[start] === "$")) {
        if (items[start] === "^") anchoredStart = true;
        else anchoredEnd = true; // `$` first: only the empty string, checked below
        start++;
      }
      while (end > start && (items[end - 1] === "$" || items[end - 1] === "^")) {
        if (items[end - 1] === "$") anchoredEnd = true;
        else anchoredStart = true;
        end--;
      }
      let body = items.slice(start, end);
      // `a?^b`, `a$b?`: what stands before a `^` (after a `$`) can only match the empty string there.
      const caret = body.lastIndexOf("^");
      if (caret >= 0 && !body.slice(0, caret).includes("$") && minLengthOf(body.slice(0, caret)) === 0) {
        body = body.slice(caret + 1);
        anchoredStart = true;
      }
      const dollar = body.indexOf("$");
      if (dollar >= 0 && !body.slice(dollar).includes("^") && minLengthOf(body.slice(dollar + 1)) === 0) {
        body = body.slice(0, dollar);
        anchoredEnd = true;
      }
      if (body.some((item) => item === "^" || item === "$")) {
        // `a^b`, `a$b`: where the text around the anchor cannot be empty the alternative matches nothing.
        if (anchorCannotHold(body)) continue;
        throw new UnsupportedPattern("an anchor inside the pattern");
      }
      const nodes = body as RegexNode[];
      // `$` before the body or `^` after it: only an empty body can match there.
      const misplaced = items.slice(0, start).includes("$") || items.slice(end).includes("^");
      if (misplaced && lengthRange({ kind: "seq", items: nodes })[0] > 0) continue;
      alternatives.push({ body: { kind: "seq", items: nodes }, anchoredStart, anchoredEnd });
    }
    if (alternatives.length === 0) throw new UnsupportedPattern("anchors that no string can satisfy");
    return { alternatives };
  }

  private peek(): string | undefined {
    return this.src[this.i];
  }

  /** Alternatives of sequences; anchors are kept as markers (and groups holding them as AnchoredGroups). */
  private alternatives(): PatternItem[][] {
    const options: PatternItem[][] = [[]];
    while (this.i < this.src.length) {
      const c = this.peek();
      if (c === ")") break;
      if (c === "|") {
        this.i++;
        options.push([]);
        continue;
      }
      const current = options[options.length - 1] ?? [];
      if (c === "^" || c === "$") {
        this.i++;
        current.push(c);
        continue;
      }
      const atom = this.atom();
      current.push(atom instanceof AnchoredGroup ? this.anchoredGroupUnrepeated(atom) : this.quantified(atom));
    }
    return options;
  }

  private anchoredGroupUnrepeated(group: AnchoredGroup): AnchoredGroup {
    const c = this.peek();
    if (c === "*" || c === "+" || c === "?" || c === "{") throw new UnsupportedPattern("an anchor inside a repeated group");
    return group;
  }

  private quantified(atom: RegexNode): RegexNode {
    const c = this.peek();
    let min: number;
    let max: number | null;
    if (c === "*") [min, max] = [0, null];
    else if (c === "+") [min, max] = [1, null];
    else if (c === "?") [min, max] = [0, 1];
    else if (c === "{") {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.i));
      if (m === null) throw new UnsupportedPattern("a malformed quantifier");
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === "" || m[3] === undefined ? null : Number(m[3]);
      this.i += m[0].length - 1;
    } else return atom;
    this.i++;
    if (this.peek() === "?") this.i++; // lazy: the same language
    return { kind: "repeat", item: atom, min, max };
  }

  private atom(): RegexNode | AnchoredGroup {
    const c = this.src[this.i++] ?? "";
    if (c === "(") {
      if (this.src.startsWith("?:", this.i)) this.i += 2;
      else if (this.src.startsWith("?<", this.i) && !this.src.startsWith("?<=", this.i) && !this.src.startsWith("?<!", this.i)) {
        const end = this.src.indexOf(">", this.i);
        this.i = end + 1;
      } else if (this.peek() === "?") throw new UnsupportedPattern("a lookaround assertion");
      const options = this.alternatives();
      if (this.src[this.i++] !== ")") throw new UnsupportedPattern("an unclosed group");
      if (options.some((items) => items.some((item) => typeof item === "string" || item instanceof AnchoredGroup))) return new AnchoredGroup(options);
      const nodes = options.map((items): RegexNode => ({ kind: "seq", items: items as RegexNode[] }));
      return nodes.length === 1 ? (nodes[0] as RegexNode) : { kind: "alt", options: nodes };
    }
    if (c === ")") throw new UnsupportedPattern("unbalanced ')'");
    if (c === "[") return this.charClass();
    if (c === ".") return { kind: "chars", ranges: lineTerminators, negated: true };
    if (c === "\\") return this.escape(false);
    if ("*+?{}".includes(c)) throw new UnsupportedPattern(`a quantifier '${c}' with nothing to repeat`);
    const cp = this.src.codePointAt(this.i - 1) ?? 0;
    if (cp > 0xffff) this.i++;
    return { kind: "chars", ranges: [r(cp)], negated: false };
  }

  /** An escape; in a class `\b` is a backspace and assertions cannot occur. */
  private escape(inClass: boolean): RegexNode {
    const c = this.src[this.i++] ?? "";
    const set = (ranges: CodePointRange[], negated = false): RegexNode => ({ kind: "chars", ranges, negated });
    switch (c) {
      case "d":
        return set(digits);
      case "D":
        return set(digits, true);
      case "w":
        return set(word);
      case "W":
        return set(word, true);
      case "s":
        return set(spaces);
      case "S":
        return set(spaces, true);
      case "n":
        return set([r(0x0a)]);
      case "r":
        return set([r(0x0d)]);
      case "t":
        return set([r(0x09)]);
      case "v":
        return set([r(0x0b)]);
      case "f":
        return set([r(0x0c)]);
      case "0":
        return set([r(0)]);
      case "b":
        if (inClass) return set([r(0x08)]);
        throw new UnsupportedPattern("a word boundary \\b");
      case "B":
        throw new UnsupportedPattern("a non-word-boundary \\B");
      case "c": {
        const letter = this.src.charCodeAt(this.i++);
        return set([r(letter % 32)]);
      }
      case "x": {
        const hex = this.src.slice(this.i, this.i + 2);
        this.i += 2;
        return set([r(parseInt(hex, 16))]);
      }
      case "u": {
        if (this.peek() === "{") {
          const end = this.src.indexOf("}", this.i);
          const cp = parseInt(this.src.slice(this.i + 1, end), 16);
          this.i = end + 1;
          return set([r(cp)]);
        }
        const cp = parseInt(this.src.slice(this.i, this.i + 4), 16);
        this.i += 4;
        return set([r(cp)]);
      }
      case "p":
      case "P": {
        const end = this.src.indexOf("}", this.i);
        const name = this.src.slice(this.i + 1, end).replace(/^(General_Category|gc)=/, "");
        this.i = end + 1;
        const subset = propertySubsets[name];
        if (c === "P" || subset === undefined) throw new UnsupportedPattern(`the Unicode property escape \\${c}{${name}}`);
        return set(subset);
      }
      case "k":
        throw new UnsupportedPattern("a named backreference");
      default:
        if (/[1-9]/.test(c)) throw new UnsupportedPattern("a backreference");
        return set([r(c.codePointAt(0) ?? 0)]);
    }
  }

  private classAtom(): CodePointRange[] {
    const c = this.src[this.i++] ?? "";
    if (c === "\\") {
      const node = this.escape(true);
      if (node.kind !== "chars") throw new UnsupportedPattern("an escape in a class");
      return node.negated ? complementRanges(node.ranges) : node.ranges;
    }
    const cp = this.src.codePointAt(this.i - 1) ?? 0;
    if (cp > 0xffff) this.i++;
    return [r(cp)];
  }

  private charClass(): RegexNode {
    const negated = this.peek() === "^";
    if (negated) this.i++;
    const ranges: CodePointRange[] = [];
    while (this.peek() !== "]") {
      if (this.i >= this.src.length) throw new UnsupportedPattern("an unclosed class");
      const from = this.classAtom();
      if (this.peek() === "-" && this.src[this.i + 1] !== "]" && from.length === 1 && from[0]?.from === from[0]?.to) {
        this.i++;
        const to = this.classAtom();
        const start = from[0]?.from ?? 0;
        const end = to[0]?.from ?? 0;
        if (to.length !== 1 || to[0]?.from !== to[0]?.to) throw new UnsupportedPattern("a class range ending in a class escape");
        ranges.push(r(start, end));
      } else ranges.push(...from);
    }
    this.i++;
    return { kind: "chars", ranges: normalizeRanges(ranges), negated };
  }
}

/** Parses `pattern`; throws UnsupportedPattern for what a grammar cannot express. */
export function parsePattern(pattern: string): ParsedPattern {
  try {
    new RegExp(pattern, "u");
  } catch {
    throw new UnsupportedPattern("not a valid regular expression");
  }
  return new PatternParser(pattern).parse();
}

/** Shortest and longest match in characters (null: unbounded). */
export function lengthRange(node: RegexNode): [number, number | null] {
  switch (node.kind) {
    case "chars":
      return [1, 1];
    case "seq": {
      let min = 0;
      let max: number | null = 0;
      for (const item of node.items) {
        const [a, b] = lengthRange(item);
        min += a;
        max = max === null || b === null ? null : max + b;
      }
      return [min, max];
    }
    case "alt": {
      const ranges = node.options.map(lengthRange);
      return [Math.min(...ranges.map((x) => x[0])), ranges.some((x) => x[1] === null) ? null : Math.max(...ranges.map((x) => x[1] ?? 0))];
    }
    case "repeat": {
      const [a, b] = lengthRange(node.item);
      return [a * node.min, node.max === null ? (b === 0 ? 0 : null) : b === null ? (node.max === 0 ? 0 : null) : b * node.max];
    }
  }
}

/** How many repetitions the tree holds (the indexes `raiseRepeats` takes). */
export function countRepeats(node: RegexNode): number {
  switch (node.kind) {
    case "chars":
      return 0;
    case "seq":
      return node.items.reduce((n, item) => n + countRepeats(item), 0);
    case "alt":
      return node.options.reduce((n, option) => n + countRepeats(option), 0);
    case "repeat":
      return 1 + countRepeats(node.item);
  }
}

/**
 * Repetitions with room to vary get `extra` more iterations required (never
 * past their maximum): all of them, or only the one at `only` (pre-order).
 */
export function raiseRepeats(node: RegexNode, extra: number, only: number | null = null): RegexNode {
  let index = 0;
  const walk = (n: RegexNode): RegexNode => {
    switch (n.kind) {
      case "chars":
        return n;
      case "seq":
        return { kind: "seq", items: n.items.map(walk) };
      case "alt":
        return { kind: "alt", options: n.options.map(walk) };
      case "repeat": {
        const mine = only === null || index === only;
        index++;
        const min = !mine ? n.min : n.max === null ? n.min + extra : Math.min(n.max, n.min + extra);
        return { kind: "repeat", item: walk(n.item), min, max: n.max };
      }
    }
  };
  return walk(node);
}

/** Every repetition may vary by at most `room` iterations above its minimum. */
export function capRepeats(node: RegexNode, room: number): RegexNode {
  switch (node.kind) {
    case "chars":
      return node;
    case "seq":
      return { kind: "seq", items: node.items.map((item) => capRepeats(item, room)) };
    case "alt":
      return { kind: "alt", options: node.options.map((option) => capRepeats(option, room)) };
    case "repeat": {
      const max = node.max === null ? node.min + room : Math.min(node.max, node.min + room);
      return { kind: "repeat", item: capRepeats(node.item, room), min: node.min, max };
    }
  }
}
