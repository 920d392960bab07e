/**
 * Removes the tags some families wrap their answer in after a thought
 * (Granite 3.3 with `thinking`: `<think>…</think><response>…</response>`):
 * the open tag when the answer starts with it (after whitespace), and then
 * the close tag when it ends the answer (before whitespace). Anywhere else the
 * tags are text. Pure and streaming-safe: only what may still turn out to be
 * one of the tags is held back.
 */
import { partialSuffixLength } from "./marker-scanner.js";

export class AnswerTagStripper {
  private readonly open: string;
  private readonly close: string;
  /** `opened`: right after the open tag, where one line break is dropped (it may still be on its way). */
  private phase: "start" | "opened" | "inside" | "plain" = "start";
  private held = "";

  constructor(tags: { open: string; close: string }) {
    this.open = tags.open;
    this.close = tags.close;
  }

  push(text: string): string {
    this.held += text;
    if (this.phase === "start") {
      const trimmed = this.held.trimStart();
      if (trimmed.startsWith(this.open)) {
        this.held = trimmed.slice(this.open.length);
        this.phase = "opened";
      } else if (trimmed === "" || this.open.startsWith(trimmed)) {
        return "";
      } else {
        this.phase = "plain";
      }
    }
    if (this.phase === "opened") {
      if (this.held === "" || this.held === "\r") return "";
      this.held = this.held.replace(/^\r?\n/, "");
      this.phase = "inside";
    }
    if (this.phase === "plain") return this.release();
    // Inside: hold a close tag followed only by whitespace, or a partial one at the end.
    const at = this.held.indexOf(this.close);
    if (at >= 0) {
      if (this.held.slice(at + this.close.length).trim() === "") {
        const out = this.held.slice(0, at);
        this.held = this.held.slice(at);
        return out;
      }
      // Text after the close tag: it did not end the answer.
      this.phase = "plain";
      return this.release();
    }
    const keep = partialSuffixLength(this.held, this.close);
    const out = this.held.slice(0, this.held.length - keep);
    this.held = this.held.slice(this.held.length - keep);
    return out;
  }

  /** End of the answer: a final close tag (and the whitespace after it) is dropped. */
  finish(): string {
    if (this.phase === "inside" && this.held.startsWith(this.close)) this.held = "";
    return this.release();
  }

  private release(): string {
    const out = this.held;
    this.held = "";
    return out;
  }
}
