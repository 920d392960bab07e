/**
 * A deterministic synthetic GPT-2-style byte-level BPE vocabulary.
 *
 * Byte-level BPE (GPT-2, Qwen) first maps every byte of UTF-8 text to a
 * printable Unicode character (space -> "Ġ" U+0120, newline -> "Ċ" U+010A,
 * ...), so every token is a printable string and any byte sequence can be
 * tokenized. The vocabulary starts with the 256 single-byte tokens; each merge
 * "left right" (the GGUF `tokenizer.ggml.merges` entry) adds the token
 * left+right, and a merge's index is its priority (lower merges first).
 *
 * Merges come from two stages:
 *   1. real BPE training on a small built-in English corpus (common words with
 *      and without the space prefix "Ġ", whitespace runs, JSON punctuation), so
 *      English prose and tool-call JSON genuinely compress;
 *   2. seeded random growth of letter tokens until the requested size: a
 *      letter-ish token (optionally "Ġ"-prefixed) extended by a short
 *      lowercase token, weighted by English letter frequencies.
 * Every merge result is a new unique token, and both parts are earlier tokens.
 *
 * Then come the special tokens, and `[PAD<id>]` tokens fill the rest so the
 * token count equals the embedding rows, as in Qwen GGUFs.
 */
import { Xoshiro128 } from "./random-weights.js";

/** `tokenizer.ggml.token_type` codes (llama.cpp's llama_token_type). */
export const TokenType = {
  NORMAL: 1,
  UNKNOWN: 2,
  /** Rendered only when detokenizing with special tokens; matched only when tokenizing with them. */
  CONTROL: 3,
  /** Always matched as one token in text and rendered as its text. */
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

export const SPECIAL_TOKENS = [
  { text: "<|endoftext|>", type: TokenType.CONTROL },
  { text: "<|im_start|>", type: TokenType.CONTROL },
  { text: "<|im_end|>", type: TokenType.CONTROL },
  { text: "<tool_call>", type: TokenType.USER_DEFINED },
  { text: "</tool_call>", type: TokenType.USER_DEFINED },
  { text: "<think>", type: TokenType.USER_DEFINED },
  { text: "</think>", type: TokenType.USER_DEFINED },
] as const;

export interface SpecialTokenSpec {
  text: string;
  type: number;
}

export interface BpeVocabOptions {
  /** Total token count, specials and padding included. */
  size: number;
  seed: number;
  /**
   * Byte tokens plus merge tokens; the special tokens get the ids right after
   * them, padding fills the rest. Defaults to `size - specialTokens.length`.
   */
  regularTokens?: number;
  /** The special tokens, in id order (default: the ChatML set, SPECIAL_TOKENS). */
  specialTokens?: readonly SpecialTokenSpec[];
}

export interface BpeVocab {
  tokens: string[];
  tokenTypes: Int32Array;
  /** "left right" strings in priority order. */
  merges: string[];
  /** Each special token's id, by its text. */
  specialIds: ReadonlyMap<string, number>;
  /** The ChatML set's ids; null when the vocabulary was built with other special tokens. */
  special: {
    endOfText: number;
    imStart: number;
    imEnd: number;
    toolCallStart: number;
    toolCallEnd: number;
    thinkStart: number;
    thinkEnd: number;
  } | null;
}

let byteTable: string[] | undefined;

/**
 * GPT-2's byte -> character table. Printable Latin-1 bytes ("!".."~",
 * "¡".."¬", "®".."ÿ") stand for themselves; the other 68 bytes (controls,
 * space, DEL, NBSP, soft hyphen...) are shifted to U+0100 + n in byte order.
 */
export function byteToUnicode(): readonly string[] {
  if (!byteTable) {
    const table: string[] = new Array<string>(256);
    let shifted = 0;
    for (let b = 0; b < 256; b++) {
      const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
      table[b] = String.fromCodePoint(printable ? b : 256 + shifted++);
    }
    byteTable = table;
  }
  return byteTable;
}

/** UTF-8 text in byte-level form, e.g. " hi\n" -> "ĠhiĊ". */
export function toByteLevel(text: string): string {
  const table = byteToUnicode();
  let out = "";
  for (const b of Buffer.from(text, "utf8")) out += table[b];
  return out;
}

/**
 * The 256 byte tokens in GPT-2 order: the printable bytes in ascending order,
 * then the shifted ones. So "!" is token 0, "Ċ" (newline) 198 and "Ġ" (space) 220.
 */
function byteTokens(): string[] {
  const table = byteToUnicode();
  const order = [...table.keys()].sort((a, b) => table[a]!.codePointAt(0)! - table[b]!.codePointAt(0)!);
  return order.map((b) => table[b]!);
}

export function buildBpeVocab(options: BpeVocabOptions): BpeVocab {
  const { size, seed } = options;
  const specials = options.specialTokens ?? SPECIAL_TOKENS;
  const regularTokens = options.regularTokens ?? size - specials.length;
  if (!Number.isInteger(size) || !Number.isInteger(regularTokens) || regularTokens < 256 || regularTokens + specials.length > size) {
    throw new RangeError(`vocabulary of ${size} tokens cannot hold ${regularTokens} regular tokens (>= 256) and ${specials.length} special ones`);
  }
  if (new Set(specials.map((s) => s.text)).size !== specials.length) throw new RangeError("special tokens must be distinct");
  const rng = new Xoshiro128(seed, 0x42504556); // "BPEV"
  const tokens = byteTokens();
  const ids = new Map<string, number>(tokens.map((t, i) => [t, i]));
  const merges: string[] = [];
  const addMerge = (left: string, right: string): void => {
    const merged = left + right;
    ids.set(merged, tokens.length);
    tokens.push(merged);
    merges.push(`${left} ${right}`);
  };

  trainOnCorpus(tokens, ids, addMerge, regularTokens, rng);
  growRandomLetterMerges(tokens, ids, addMerge, regularTokens, rng);

  const tokenTypes = new Int32Array(size).fill(TokenType.NORMAL);
  const specialIds = new Map<string, number>();
  for (const special of specials) {
    specialIds.set(special.text, tokens.length);
    tokenTypes[tokens.length] = special.type;
    tokens.push(special.text);
  }
  while (tokens.length < size) {
    tokenTypes[tokens.length] = TokenType.CONTROL;
    tokens.push(`[PAD${tokens.length}]`);
  }
  const id = (text: string): number | undefined => specialIds.get(text);
  const chatml = SPECIAL_TOKENS.map((t) => id(t.text));
  const [endOfText, imStart, imEnd, toolCallStart, toolCallEnd, thinkStart, thinkEnd] = chatml;
  const special =
    endOfText === undefined || imStart === undefined || imEnd === undefined || toolCallStart === undefined ||
    toolCallEnd === undefined || thinkStart === undefined || thinkEnd === undefined
      ? null
      : { endOfText, imStart, imEnd, toolCallStart, toolCallEnd, thinkStart, thinkEnd };
  return { tokens, tokenTypes, merges, specialIds, special };
}

// ---------------------------------------------------------------------------
// Stage 1: BPE training on a tiny built-in corpus.

/** Frequent English words, most frequent first (rank -> Zipf weight). */
const COMMON_WORDS = (
  "the of and to a in is it you that he was for on are with as I his they be at one have this from or had by " +
  "word but what some we can out other were all there when up use your how said an each she which do their time " +
  "if will way about many then them write would like so these her long make thing see him two has look more day " +
  "could go come did number sound no most people my over know water than call first who may down side been now " +
  "find any new work part take get place made live where after back little only round man year came show every " +
  "good me give our under name very through just form sentence great think say help low line differ turn cause " +
  "much mean before move right boy old too same tell does set three want air well also play small end put home " +
  "read hand port large spell add even land here must big high such follow act why ask men change went light " +
  "kind off need house picture try us again animal point mother world near build self earth father head stand " +
  "own page should country found answer school grow study still learn plant cover food sun four between state " +
  "keep eye never last let thought city tree cross farm hard start might story saw far sea draw left late run " +
  "while press close night real life few north open seem together next white children begin got walk example " +
  "ease paper group always music those both mark often letter until mile river car feet care second book carry " +
  "took science eat room friend began idea fish mountain stop once base hear horse cut sure watch color face wood " +
  "main enough plain girl usual young ready above ever red list though feel talk bird soon body dog family direct " +
  "pose leave song measure door product black short numeral class wind question happen complete ship area half " +
  "rock order fire south problem piece told knew pass since top whole king space heard best hour better true " +
  "during hundred five remember step early hold west ground interest reach fast verb sing listen six table travel " +
  "less morning ten simple several toward war lay against pattern slow center love person money serve appear road " +
  "map rain rule govern pull cold notice voice unit power town fine certain fly fall lead cry dark machine note " +
  "wait plan figure star box noun field rest correct able pound done beauty drive stood contain front teach week " +
  "final gave green quick develop ocean warm free minute strong special mind behind clear tail produce fact " +
  "function tool call result value name type string number object array true false null content message user " +
  "assistant system model token request response error data file test server weather today please thanks hello"
).split(" ");

/** Non-word pretokens (as the qwen2 pre-tokenizer cuts them) with rough relative weights. */
const PUNCTUATION_PRETOKENS: ReadonlyArray<readonly [string, number]> = [
  [".\n", 6], ["\n\n", 8], [" (", 3], ["),", 2], [").", 2], [" \"", 3], ["\",", 3], ["\":", 4], ["{\"", 4],
  ["\"}", 2], ["\"}\n", 1], ["\":\"", 2], [" {", 2], ["}\n", 2], ["  ", 3], ["   ", 2], ["       ", 1], ["...", 1],
  [" -", 2], ["://", 1], ["</", 1], ["/>", 1], ["\n}", 1], [" =", 2], [" ==", 1], ["();", 1], ["'s", 3], ["'t", 2],
];

interface CorpusWord {
  symbols: number[];
  weight: number;
}

/** Upper bound of stage-1 merges: the rest of the vocabulary is cheap random growth. */
const MAX_TRAINED_MERGES = 6000;

function trainOnCorpus(
  tokens: string[],
  ids: Map<string, number>,
  addMerge: (left: string, right: string) => void,
  regularTokens: number,
  rng: Xoshiro128,
): void {
  const corpus = new Map<string, number>();
  const add = (text: string, weight: number): void => {
    const b = toByteLevel(text);
    corpus.set(b, (corpus.get(b) ?? 0) + weight);
  };
  COMMON_WORDS.forEach((word, rank) => {
    const w = 1000 / (rank + 10);
    const cap = word[0]!.toUpperCase() + word.slice(1);
    add(` ${word}`, w);
    add(word, w / 4);
    add(` ${cap}`, w / 6);
    add(cap, w / 8);
  });
  for (const [text, weight] of PUNCTUATION_PRETOKENS) add(text, weight * 20);

  // Symbols are token ids (each byte-level character is a byte token).
  const words: CorpusWord[] = [...corpus].map(([text, weight]) => ({
    symbols: [...text].map((ch) => ids.get(ch)!),
    weight,
  }));
  // Ties between equally frequent pairs are broken by a seeded per-pair key.
  const tieSalt = rng.nextU32();
  const tieOf = (key: number): number => Math.imul((key % 0x7fffffff) ^ tieSalt, 0x9e3779b1) >>> 0;
  const stop = Math.min(regularTokens, tokens.length + MAX_TRAINED_MERGES);

  // Pair counts are kept up to date incrementally; the heap holds (count, key)
  // snapshots and stale ones are skipped when popped.
  const counts = new Map<number, number>();
  const heap = new PairHeap();
  const adjust = (w: CorpusWord, sign: 1 | -1, touched: Set<number>): void => {
    for (let i = 0; i + 1 < w.symbols.length; i++) {
      const key = pairKey(w.symbols[i]!, w.symbols[i + 1]!);
      counts.set(key, (counts.get(key) ?? 0) + sign * w.weight);
      touched.add(key);
    }
  };
  const initial = new Set<number>();
  for (const w of words) adjust(w, 1, initial);
  for (const key of initial) heap.push(counts.get(key)!, tieOf(key), key);

  while (tokens.length < stop) {
    const top = heap.pop();
    if (!top) return; // every corpus word is a single token
    const current = counts.get(top.key) ?? 0;
    if (current !== top.count || current <= 1e-9) continue; // stale snapshot
    const left = Math.floor(top.key / PAIR_RADIX);
    const right = top.key % PAIR_RADIX;
    if (ids.has(tokens[left]! + tokens[right]!)) continue; // result exists already (another split)
    const mergedId = tokens.length;
    addMerge(tokens[left]!, tokens[right]!);
    const touched = new Set<number>();
    for (const w of words) {
      const s = w.symbols;
      let found = false;
      for (let i = 0; i + 1 < s.length && !found; i++) found = s[i] === left && s[i + 1] === right;
      if (!found) continue;
      adjust(w, -1, touched);
      let out = 0;
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === left && s[i + 1] === right) {
          s[out++] = mergedId;
          i++;
        } else {
          s[out++] = s[i]!;
        }
      }
      s.length = out;
      adjust(w, 1, touched);
    }
    for (const key of touched) {
      const count = counts.get(key)!;
      if (count > 1e-9) heap.push(count, tieOf(key), key);
    }
  }
}

/** Token ids are below 2^18 (Qwen's vocabulary is 151936), so a pair packs into one number. */
const PAIR_RADIX = 0x40000;
const pairKey = (a: number, b: number): number => a * PAIR_RADIX + b;

/** Binary max-heap of (count, tie, key) ordered by count, then tie. */
class PairHeap {
  private readonly items: { count: number; tie: number; key: number }[] = [];

  private above(i: number, j: number): boolean {
    const a = this.items[i]!;
    const b = this.items[j]!;
    return a.count > b.count || (a.count === b.count && a.tie > b.tie);
  }

  private swap(i: number, j: number): void {
    const t = this.items[i]!;
    this.items[i] = this.items[j]!;
    this.items[j] = t;
  }

  push(count: number, tie: number, key: number): void {
    this.items.push({ count, tie, key });
    let i = this.items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.above(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): { count: number; tie: number; key: number } | undefined {
    const top = this.items[0];
    const last = this.items.pop();
    if (top === undefined || last === undefined || this.items.length === 0) return top;
    this.items[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.items.length && this.above(l, m)) m = l;
      if (r < this.items.length && this.above(r, m)) m = r;
      if (m === i) return top;
      this.swap(i, m);
      i = m;
    }
  }
}

// ---------------------------------------------------------------------------
// Stage 2: seeded random growth of letter tokens.

/** Approximate English letter frequencies (per mille), a..z. */
const LETTER_FREQUENCIES = [82, 15, 28, 43, 127, 22, 20, 61, 70, 2, 8, 40, 24, 67, 75, 19, 1, 60, 63, 91, 28, 10, 24, 2, 20, 1];
const SPACE = toByteLevel(" ");
const MAX_RANDOM_TOKEN_CHARS = 14;

function growRandomLetterMerges(
  tokens: string[],
  ids: Map<string, number>,
  addMerge: (left: string, right: string) => void,
  regularTokens: number,
  rng: Xoshiro128,
): void {
  const letters = "abcdefghijklmnopqrstuvwxyz";
  const cumulative: number[] = [];
  LETTER_FREQUENCIES.reduce((acc, f) => (cumulative.push(acc + f), acc + f), 0);
  const totalFrequency = cumulative[cumulative.length - 1]!;
  const randomLetter = (): string => {
    const x = rng.nextFloat() * totalFrequency;
    let i = 0;
    while (cumulative[i]! <= x) i++;
    return letters[i]!;
  };

  const isHead = (t: string): boolean => /^Ġ?[A-Za-z]+$/.test(t);
  const isTail = (t: string): boolean => t.length <= 4 && /^[a-z]+$/.test(t);
  const heads: string[] = [SPACE, ...tokens.filter(isHead)];
  const tails: string[] = tokens.filter(isTail);
  const pickHead = (): string => {
    // The shorter of two random heads: keeps growth broad instead of ever-longer chains.
    const a = heads[rng.nextInt(heads.length)]!;
    const b = heads[rng.nextInt(heads.length)]!;
    return b.length < a.length ? b : a;
  };

  let failures = 0;
  while (tokens.length < regularTokens) {
    const left = pickHead();
    const right = rng.nextFloat() < 0.6 ? randomLetter() : tails[rng.nextInt(tails.length)]!;
    const merged = left + right;
    const maxChars = MAX_RANDOM_TOKEN_CHARS + Math.floor(failures / 1000); // relax if the space gets crowded
    if (merged.length > maxChars || ids.has(merged)) {
      failures++;
      continue;
    }
    failures = 0;
    addMerge(left, right);
    heads.push(merged);
    if (isTail(merged)) tails.push(merged);
  }
}
