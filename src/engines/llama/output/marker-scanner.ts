/**
 * Markers and delimiters in streamed text, a piece or a character at a time,
 * the same however the text was split: `MarkerScanner` finds the first of
 * several start markers in free text and holds back a possible partial one;
 * `LiteralScanner` matches one delimiter (whitespace inside it matching any
 * run of whitespace); `ChoiceScanner` tells which of several delimiters
 * follows. Shared by every call shape (`call-shape-parser.ts`).
 */

/** What one scan of free text found. */
export interface MarkerScan {
  /** Text before the marker (or, without one, all that cannot start a marker): safe to emit. */
  before: string;
  /** The marker found, or null. */
  marker: string | null;
  /** Where scanning goes on in the piece given: after the marker, or its end. */
  next: number;
}

/** Finds the first of several start markers in free text; a possible partial marker at the end is held for the next piece. */
export class MarkerScanner {
  private readonly markers: readonly string[];
  /** A possible partial marker at the end of the text so far. */
  held = "";

  constructor(markers: readonly string[]) {
    this.markers = markers;
  }

  scan(text: string, from: number): MarkerScan {
    const s = this.held + text.slice(from);
    let found: { marker: string; at: number } | undefined;
    for (const marker of this.markers) {
      const at = s.indexOf(marker);
      if (at >= 0 && (found === undefined || at < found.at)) found = { marker, at };
    }
    if (found === undefined) {
      const keep = Math.max(0, ...this.markers.map((marker) => partialSuffixLength(s, marker)));
      this.held = s.slice(s.length - keep);
      return { before: s.slice(0, s.length - keep), marker: null, next: text.length };
    }
    const next = from + found.at + found.marker.length - this.held.length;
    this.held = "";
    return { before: s.slice(0, found.at), marker: found.marker, next };
  }
}

/**
 * One delimiter, a character at a time; a run of whitespace inside it
 * matches any run of whitespace (leading and trailing whitespace is left to
 * the parts around it).
 */
export class LiteralScanner {
  private readonly pieces: string[];
  private piece = 0;
  private at = 0;
  /** Between two pieces: whitespace is being skipped. */
  private inSpace = false;

  constructor(text: string) {
    this.pieces = text.trim().split(/\s+/);
  }

  /** Some of it has been matched. */
  get started(): boolean {
    return this.piece > 0 || this.at > 0;
  }

  step(ch: string): "more" | "done" | "fail" {
    if (this.inSpace) {
      if (isSpace(ch)) return "more";
      this.inSpace = false;
    }
    const piece = this.pieces[this.piece] ?? "";
    if (ch !== piece.charAt(this.at)) return "fail";
    this.at++;
    if (this.at < piece.length) return "more";
    this.piece++;
    this.at = 0;
    if (this.piece === this.pieces.length) return "done";
    this.inSpace = true;
    return "more";
  }
}

/** Which of several delimiters follows; returns the one matched. */
export class ChoiceScanner {
  private readonly options: readonly string[];
  matched = "";

  constructor(options: readonly string[]) {
    this.options = options;
  }

  step(ch: string): "more" | "fail" | { delimiter: string } {
    const matched = this.matched + ch;
    const whole = this.options.find((o) => o === matched);
    if (whole !== undefined) return { delimiter: whole };
    if (!this.options.some((o) => o.startsWith(matched))) return "fail";
    this.matched = matched;
    return "more";
  }
}

/** Length of the longest suffix of `text` that is a proper prefix of `marker`. */
export function partialSuffixLength(text: string, marker: string): number {
  for (let len = Math.min(marker.length - 1, text.length); len > 0; len--) {
    if (text.endsWith(marker.slice(0, len))) return len;
  }
  return 0;
}

export function isSpace(ch: string): boolean {
  return /\s/.test(ch);
}

/** Characters of a tool name (OpenAI allows `-`; dotted names such as `brave_search.call` occur too). */
export function isNameChar(ch: string): boolean {
  return /[A-Za-z0-9_.-]/.test(ch);
}
