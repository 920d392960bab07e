/**
 * Reads gpt-oss's harmony output: a sequence of messages, each a header
 * (`<|start|>assistant`, `<|channel|>NAME`, a recipient `to=functions.NAME`,
 * a content type `<|constrain|>json` or `json`) up to `<|message|>`, then a
 * body up to `<|end|>` (or `<|call|>` / `<|return|>`, which normally end the
 * generation first). The generation prompt already wrote `<|start|>assistant`,
 * so the output begins inside a header.
 *
 * - `analysis` bodies are the thought (reasoning);
 * - a body addressed to `functions.NAME` is a tool call: it is passed on as
 *   `to=functions.NAME<|message|>BODY`, the name form the family's
 *   `marker-list` shape reads (`families/gpt-oss.ts`), so the shared
 *   tool-call parser streams its arguments;
 * - every other body (`final`, a `commentary` preamble, a built-in tool's
 *   message) is content; headers and terminators appear in neither.
 *
 * Text that cannot be a header (the model wrote plain text where a header
 * belongs) is content, so a model that ignores the format still answers.
 * Pure and streaming-safe like the other stages of the pipeline: only a
 * possible partial control token or an unfinished header is held back, and
 * the result is the same however the text was split. Our own reader: the
 * harmony libraries (openai-harmony) read token ids through a native or WASM
 * tokenizer of the o200k vocabulary, not decoded text of any vocabulary.
 */
import type { ReasoningPiece } from "./reasoning-splitter.js";

export const HARMONY = {
  start: "<|start|>",
  channel: "<|channel|>",
  message: "<|message|>",
  constrain: "<|constrain|>",
  end: "<|end|>",
  call: "<|call|>",
  return: "<|return|>",
} as const;

/** Control tokens that may appear in a header. */
const HEADER_TOKENS = [HARMONY.start, HARMONY.channel, HARMONY.constrain];
/** Control tokens that end a body and are consumed. */
const BODY_ENDS: readonly string[] = [HARMONY.end, HARMONY.call, HARMONY.return];
/** Control tokens that end a body and begin the next header. */
const BODY_BREAKS = [HARMONY.start, HARMONY.channel];
const ALL_TOKENS = Object.values(HARMONY);
/** A header longer than this is no header. */
const MAX_HEADER = 256;
const RECIPIENT = /to=(\S+?)(?=\s|<\||$)/;

export interface HarmonyMessageReaderOptions {
  /** The prompt already opened an analysis message (default false). */
  startInReasoning?: boolean;
  /** The recipient prefix of the calls passed on to the tool-call parser (default `functions.`). */
  callPrefix?: string;
}

type Body = "reasoning" | "content" | "call";

export class HarmonyMessageReader {
  private readonly callPrefix: string;
  private phase: "header" | "body";
  private body: Body = "content";
  /** Header text so far (phase `header`), or a possible partial control token (phase `body`). */
  private held = "";

  constructor(options: HarmonyMessageReaderOptions = {}) {
    this.callPrefix = options.callPrefix ?? "functions.";
    this.phase = options.startInReasoning === true ? "body" : "header";
    if (options.startInReasoning === true) this.body = "reasoning";
  }

  /** True inside an analysis body. */
  get inReasoning(): boolean {
    return this.phase === "body" && this.body === "reasoning";
  }

  push(text: string): ReasoningPiece {
    const out: ReasoningPiece = { reasoning: "", content: "" };
    let rest = this.held + text;
    this.held = "";
    while (rest !== "") rest = this.phase === "header" ? this.stepHeader(rest, out) : this.stepBody(rest, out);
    return out;
  }

  finish(): ReasoningPiece {
    const out: ReasoningPiece = { reasoning: "", content: "" };
    if (this.phase === "body") {
      this.emit(this.held, out);
    } else if (!ALL_TOKENS.some((token) => this.held.includes(token) || token.startsWith(this.held.trim()))) {
      // Plain text that only looked like the start of a header (`to`): it was content. A cut-off header is dropped.
      out.content += this.held;
    }
    this.held = "";
    this.phase = "body";
    this.body = "content";
    return out;
  }

  /** In a header: consume it up to `<|message|>`, or hold it; returns what is left. */
  private stepHeader(s: string, out: ReasoningPiece): string {
    const at = s.indexOf(HARMONY.message);
    const header = at < 0 ? s : s.slice(0, at);
    const shape = headerShape(header);
    if (shape === "invalid" || (at < 0 && header.length > MAX_HEADER)) {
      // Not a header: the text is content, as the body of an unlabelled message.
      this.phase = "body";
      this.body = "content";
      return s;
    }
    if (at < 0) {
      this.held = s;
      return "";
    }
    this.openBody(header, out);
    return s.slice(at + HARMONY.message.length);
  }

  private openBody(header: string, out: ReasoningPiece): void {
    this.phase = "body";
    const recipient = RECIPIENT.exec(header)?.[1];
    const channel = header.split(HARMONY.channel)[1]?.trim().split(/[\s<]/)[0] ?? "";
    if (recipient?.startsWith(this.callPrefix) === true) {
      this.body = "call";
      out.content += `to=${recipient}${HARMONY.message}`;
    } else {
      this.body = channel === "analysis" && recipient === undefined ? "reasoning" : "content";
    }
  }

  /** In a body: emit up to its end, holding a possible partial control token; returns what is left. */
  private stepBody(s: string, out: ReasoningPiece): string {
    let at = -1;
    let token = "";
    for (const t of [...BODY_ENDS, ...BODY_BREAKS]) {
      const i = s.indexOf(t);
      if (i >= 0 && (at < 0 || i < at)) {
        at = i;
        token = t;
      }
    }
    if (at < 0) {
      const keep = partialTokenLength(s);
      this.emit(s.slice(0, s.length - keep), out);
      this.held = s.slice(s.length - keep);
      return "";
    }
    this.emit(s.slice(0, at), out);
    this.phase = "header";
    return BODY_ENDS.includes(token) ? s.slice(at + token.length) : s.slice(at);
  }

  private emit(text: string, out: ReasoningPiece): void {
    if (this.body === "reasoning") out.reasoning += text;
    else out.content += text;
  }
}

/**
 * Whether `header` (without `<|message|>`) is, or may still become, a harmony
 * header: header control tokens, words (`assistant`, `analysis`,
 * `to=functions.x`, `json`) and spaces; the first word, unless it follows
 * `<|start|>` (a role), is a recipient. A partial control token may end it.
 */
function headerShape(header: string): "partial" | "invalid" {
  let i = 0;
  let afterStart = false;
  let first = true;
  while (i < header.length) {
    const ch = header.charAt(i);
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    if (ch === "<") {
      const rest = header.slice(i);
      const token = HEADER_TOKENS.find((t) => rest.startsWith(t));
      if (token !== undefined) {
        i += token.length;
        afterStart = token === HARMONY.start;
        first = false;
        continue;
      }
      return [...HEADER_TOKENS, HARMONY.message].some((t) => t.startsWith(rest)) ? "partial" : "invalid";
    }
    const word = /^[\w.:=/-]+/.exec(header.slice(i))?.[0];
    if (word === undefined) return "invalid";
    if (first && !afterStart && !word.startsWith("to=") && !(i + word.length === header.length && "to=".startsWith(word))) return "invalid";
    i += word.length;
    afterStart = false;
    first = false;
  }
  return "partial";
}

/** Length of the longest suffix of `text` that is a proper prefix of a control token. */
function partialTokenLength(text: string): number {
  let best = 0;
  for (const token of ALL_TOKENS) {
    for (let len = Math.min(token.length - 1, text.length); len > best; len--) {
      if (text.endsWith(token.slice(0, len))) {
        best = len;
        break;
      }
    }
  }
  return best;
}
