/**
 * Splits a model's streamed output into its thought and its answer:
 * `<think>…</think>answer`. Pure and streaming-safe: text arrives in arbitrary
 * pieces, a tag may be split across them at any character, and the result is
 * the same however the text was split. Only a possible partial tag (and, at
 * the very start, the whitespace that may precede the open tag) is held back.
 *
 * - The open tag counts only at the very start of the output, after optional
 *   whitespace. With `startInReasoning` (the chat template already opened the
 *   thought in the prompt) the output starts inside the thought; a redundant
 *   open tag at the very start is then consumed too.
 * - One newline right after the open tag, and all whitespace between the close
 *   tag and the first answer character, are dropped. Tags never appear in
 *   either part.
 * - An output that ends inside the thought is all reasoning.
 */

export interface ReasoningPiece {
  reasoning: string;
  content: string;
}

export interface ReasoningSplitterOptions {
  /** The prompt already opened the thought (default false). */
  startInReasoning?: boolean;
  /** Default `<think>`. */
  openTag?: string;
  /** Default `</think>`. */
  closeTag?: string;
}

type Phase =
  | "start" // nothing but whitespace seen: the open tag may still come
  | "afterOpen" // inside the thought, one leading newline still to drop
  | "reasoning" // inside the thought
  | "afterClose" // after the close tag, dropping whitespace
  | "content"; // the answer: everything passes through

export class ReasoningSplitter {
  private readonly startInReasoning: boolean;
  private readonly openTag: string;
  private readonly closeTag: string;
  private phase: Phase = "start";
  /** Whitespace seen before the open tag (phase `start`). */
  private leadingSpace = "";
  /** Text held back: a partial open tag, a lone `\r`, or a partial close tag. */
  private held = "";

  constructor(options: ReasoningSplitterOptions = {}) {
    this.startInReasoning = options.startInReasoning === true;
    this.openTag = options.openTag ?? "<think>";
    this.closeTag = options.closeTag ?? "</think>";
    if (this.openTag === "" || this.closeTag === "") throw new Error("reasoning tags must not be empty");
  }

  /**
   * True while inside the thought: from the open tag (or from the start, with
   * `startInReasoning`) until the close tag has been consumed.
   */
  get inReasoning(): boolean {
    switch (this.phase) {
      case "start":
        return this.startInReasoning;
      case "afterOpen":
      case "reasoning":
        return true;
      default:
        return false;
    }
  }

  /** Feed the next piece of output; returns what is safe to emit now. */
  push(text: string): ReasoningPiece {
    const out: ReasoningPiece = { reasoning: "", content: "" };
    let rest = text;
    while (rest !== "") rest = this.step(rest, out);
    return out;
  }

  /** End of generation: release everything still held back. */
  finish(): ReasoningPiece {
    const out: ReasoningPiece = { reasoning: "", content: "" };
    if (this.phase === "start") {
      const all = this.leadingSpace + this.held;
      this.leadingSpace = "";
      this.held = "";
      this.phase = this.startInReasoning ? "afterOpen" : "content";
      let rest = all;
      while (rest !== "") rest = this.step(rest, out);
    }
    if (this.phase === "afterOpen" || this.phase === "reasoning") out.reasoning += this.held;
    this.held = "";
    this.phase = "content";
    return out;
  }

  /** Consumes a prefix of `text` (or holds all of it); returns what is left to process. */
  private step(text: string, out: ReasoningPiece): string {
    switch (this.phase) {
      case "start":
        return this.stepStart(text);
      case "afterOpen": {
        const s = this.held + text;
        this.held = "";
        if (s === "\r") {
          this.held = s;
          return "";
        }
        this.phase = "reasoning";
        if (s.startsWith("\n")) return s.slice(1);
        if (s.startsWith("\r\n")) return s.slice(2);
        return s;
      }
      case "reasoning": {
        const s = this.held + text;
        const at = s.indexOf(this.closeTag);
        if (at >= 0) {
          this.held = "";
          out.reasoning += s.slice(0, at);
          this.phase = "afterClose";
          return s.slice(at + this.closeTag.length);
        }
        const keep = partialSuffixLength(s, this.closeTag);
        out.reasoning += s.slice(0, s.length - keep);
        this.held = s.slice(s.length - keep);
        return "";
      }
      case "afterClose": {
        const first = text.search(/\S/);
        if (first < 0) return "";
        this.phase = "content";
        return text.slice(first);
      }
      case "content":
        out.content += text;
        return "";
    }
  }

  private stepStart(text: string): string {
    let s = this.held + text;
    if (this.held === "") {
      const first = s.search(/\S/);
      if (first < 0) {
        this.leadingSpace += s;
        return "";
      }
      this.leadingSpace += s.slice(0, first);
      s = s.slice(first);
    }
    this.held = "";
    if (s.startsWith(this.openTag)) {
      this.leadingSpace = "";
      this.phase = "afterOpen";
      return s.slice(this.openTag.length);
    }
    if (this.openTag.startsWith(s)) {
      this.held = s;
      return "";
    }
    // Not a thought after all (or, with startInReasoning, no redundant tag):
    // replay everything seen so far in the next phase.
    const all = this.leadingSpace + s;
    this.leadingSpace = "";
    this.phase = this.startInReasoning ? "afterOpen" : "content";
    return all;
  }
}

/** Length of the longest suffix of `text` that is a proper prefix of `tag`. */
function partialSuffixLength(text: string, tag: string): number {
  for (let len = Math.min(tag.length - 1, text.length); len > 0; len--) {
    if (text.endsWith(tag.slice(0, len))) return len;
  }
  return 0;
}
