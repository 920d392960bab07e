/**
 * The `pythonic` call shape (`families/model-family.ts` `PythonicCalls`):
 * `[get_weather(city="Paris", days=3), get_time(zone='UTC')]`, after an open
 * marker anywhere in the text and before an optional close marker (LFM2:
 * `<|tool_call_start|>[…]<|tool_call_end|>`), or, without markers, as the
 * whole output (Llama 3.2 / 4 pythonic templates: anything else makes the
 * whole output content).
 *
 * Same contract as `ToolCallStreamParser` (which hands this shape here): pure,
 * streaming-safe, a call emitted the moment `name(` is read, then its
 * arguments as JSON fragments — keyword arguments become an object, each
 * Python literal value is converted by `PythonLiteralScanner` as it arrives.
 * Text that started like a call but never got a name goes back to content.
 */
import type { PythonicCalls } from "../families/model-family.js";
import { PythonLiteralScanner } from "./python-literal.js";
import { partialSuffixLength, type ParsedToolCall, type ToolCallParserOptions, type ToolCallPiece } from "./tool-call-parser.js";

type State =
  | "content" // free text, watching for the open marker
  | "text" // free text, nothing is recognised any more
  | "leading" // no open marker: leading whitespace, then `[`
  | "afterOpen" // after the open marker: whitespace, then `[`
  | "item" // after `[` or `,`: a call name
  | "name" // the name, up to `(`
  | "argKey?" // after `(` or `,`: a keyword or `)`
  | "argKey" // a keyword, up to `=`
  | "argEq" // whitespace between a keyword and `=`
  | "argValue" // a value (PythonLiteralScanner)
  | "argNext" // after a value: `,` or `)`
  | "listNext" // after a call: `,` or `]`
  | "closeTag" // after `]`: whitespace and the close marker
  | "between"; // after a list: whitespace held, then another marker or content

interface CallInProgress {
  index: number;
  id: string;
  name: string;
  arguments: string;
  argumentCount: number;
}

export class PythonicCallParser {
  private readonly shape: PythonicCalls;
  private readonly newId: () => string;
  private readonly parallel: boolean;
  private readonly done: ParsedToolCall[] = [];
  private state: State;
  private out: ToolCallPiece = emptyPiece();
  /** Raw text of an attempt not yet committed (no name yet): content if it fails. */
  private pending = "";
  private capturing = false;
  private partialMarker = "";
  /** `content` entered after a list: whitespace dropped if another marker follows at once. */
  private leadingSpace = "";
  /** Whitespace after a list: dropped if only whitespace or another list follows. */
  private pendingSpace = "";
  private tag = "";
  private word = "";
  private call: CallInProgress | null = null;
  private value: PythonLiteralScanner | null = null;

  constructor(shape: PythonicCalls, options: ToolCallParserOptions) {
    this.shape = shape;
    this.newId = options.newId;
    this.parallel = options.parallel;
    this.state = shape.open === null ? "leading" : "content";
    this.capturing = shape.open === null;
  }

  get calls(): readonly ParsedToolCall[] {
    return this.done;
  }

  push(text: string): ToolCallPiece {
    this.out = emptyPiece();
    this.feed(text);
    return this.takeOut();
  }

  finish(): ToolCallPiece {
    this.out = emptyPiece();
    if (this.call !== null) {
      // Name known, cut off: keep what arrived, closed where it can be.
      if (this.state === "argValue" && this.value?.finish() === true) this.state = "argNext";
      this.completeCall(this.atArgumentBoundary());
    } else if (this.capturing) {
      this.emitContent(this.pending);
    } else if (this.state === "content" && this.partialMarker !== "") {
      this.emitContent(this.leadingSpace + this.partialMarker);
    }
    this.reset("text");
    return this.takeOut();
  }

  private feed(text: string): void {
    let i = 0;
    while (i < text.length) {
      if (this.state === "content") {
        i = this.scanContent(text, i);
        continue;
      }
      if (this.state === "text") {
        this.emitContent(text.slice(i));
        return;
      }
      const ch = text.charAt(i);
      if (this.step(ch)) {
        if (this.capturing) this.pending += ch;
        i++;
      }
    }
  }

  private scanContent(text: string, from: number): number {
    const marker = this.shape.open;
    if (marker === null) throw new Error("unreachable: content is scanned for the open marker");
    const s = this.partialMarker + text.slice(from);
    const at = s.indexOf(marker);
    if (at < 0) {
      const keep = partialSuffixLength(s, marker);
      const safe = s.slice(0, s.length - keep);
      if (safe !== "") {
        this.emitContent(this.leadingSpace + safe);
        this.leadingSpace = "";
      }
      this.partialMarker = s.slice(s.length - keep);
      return text.length;
    }
    if (at > 0) this.emitContent(this.leadingSpace + s.slice(0, at));
    this.leadingSpace = "";
    const next = from + at + marker.length - this.partialMarker.length;
    this.pending = marker;
    this.capturing = true;
    this.partialMarker = "";
    this.state = "afterOpen";
    return next;
  }

  /** One character in a structured state; false when it must be scanned again in the new state. */
  private step(ch: string): boolean {
    switch (this.state) {
      case "leading":
      case "afterOpen":
        if (isSpace(ch)) return true;
        if (ch !== "[") return this.fail();
        this.state = "item";
        return true;
      case "item":
        if (isSpace(ch)) return true;
        if (!isNameStart(ch)) return this.fail();
        this.word = ch;
        this.state = "name";
        return true;
      case "name":
        if (isNameChar(ch)) {
          this.word += ch;
          return true;
        }
        if (ch !== "(") return this.fail();
        this.nameKnown(this.word);
        this.state = "argKey?";
        return true;
      case "argKey?":
        if (isSpace(ch)) return true;
        if (ch === ")") return this.endCall();
        if (!isNameStart(ch) || isDigit(ch)) return this.abandon();
        this.word = ch;
        this.state = "argKey";
        return true;
      case "argKey":
        if (isNameChar(ch) && ch !== "." && ch !== "-") {
          this.word += ch;
          return true;
        }
        this.state = "argEq";
        return false;
      case "argEq":
        if (isSpace(ch)) return true;
        if (ch !== "=") return this.abandon();
        this.keyword(this.word);
        this.state = "argValue";
        return true;
      case "argValue":
        return this.stepValue(ch);
      case "argNext":
        if (isSpace(ch)) return true;
        if (ch === ",") {
          this.state = "argKey?";
          return true;
        }
        if (ch === ")") return this.endCall();
        return this.abandon();
      case "listNext":
        if (isSpace(ch)) return true;
        if (ch === "," && this.parallel) {
          this.pending = "";
          this.capturing = true;
          this.state = "item";
          return true;
        }
        if (ch === "]") {
          this.state = this.shape.close === null ? "between" : "closeTag";
          return true;
        }
        this.state = "between";
        return false;
      case "closeTag":
        return this.stepCloseTag(ch);
      case "between":
        return this.stepBetween(ch);
      case "content":
      case "text":
        throw new Error(`unreachable: ${this.state} is scanned in bulk`);
    }
  }

  private stepValue(ch: string): boolean {
    if (this.value === null) {
      if (isSpace(ch)) return true;
      this.value = new PythonLiteralScanner((json) => this.addArguments(json));
    }
    const result = this.value.step(ch);
    if (result === "error") return this.abandon();
    if (result === "end") {
      this.value = null;
      this.state = "argNext";
      return false;
    }
    if (result === "done") {
      this.value = null;
      this.state = "argNext";
    }
    return true;
  }

  private stepCloseTag(ch: string): boolean {
    const close = this.shape.close;
    if (close === null) throw new Error("unreachable: no close marker");
    if (this.tag === "" && isSpace(ch)) {
      this.pendingSpace += ch;
      return true;
    }
    if (ch === close.charAt(this.tag.length)) {
      this.tag += ch;
      if (this.tag === close) {
        this.tag = "";
        this.pendingSpace = "";
        this.state = "between";
      }
      return true;
    }
    // No close marker (or not all of it): what was matched is ordinary text again.
    const replay = this.tag;
    this.tag = "";
    this.state = "between";
    if (replay !== "") this.feed(replay);
    return false;
  }

  private stepBetween(ch: string): boolean {
    if (isSpace(ch)) {
      this.pendingSpace += ch;
      return true;
    }
    if (this.parallel && this.shape.open !== null) {
      this.leadingSpace = this.pendingSpace;
      this.pendingSpace = "";
      this.state = "content";
      return false;
    }
    this.emitContent(this.pendingSpace);
    this.pendingSpace = "";
    this.state = "text";
    return false;
  }

  /** `name(` was read: commit the call and emit its first delta and the object's `{`. */
  private nameKnown(name: string): void {
    const call: CallInProgress = { index: this.done.length, id: this.newId(), name, arguments: "", argumentCount: 0 };
    this.call = call;
    this.capturing = false;
    this.pending = "";
    this.out.toolCalls.push({ index: call.index, id: call.id, name, arguments: "" });
    this.addArguments("{");
  }

  private keyword(name: string): void {
    const call = this.call;
    if (call === null) throw new Error("no call in progress");
    this.addArguments(`${call.argumentCount > 0 ? ", " : ""}${JSON.stringify(name)}: `);
    call.argumentCount++;
  }

  private endCall(): boolean {
    this.completeCall(true);
    this.state = "listNext";
    return true;
  }

  private addArguments(text: string): void {
    const call = this.call;
    if (call === null) throw new Error("no call in progress");
    call.arguments += text;
    const last = this.out.toolCalls.at(-1);
    if (last !== undefined && last.index === call.index && last.name === undefined) last.arguments = (last.arguments ?? "") + text;
    else this.out.toolCalls.push({ index: call.index, arguments: text });
  }

  private completeCall(close: boolean): void {
    const call = this.call;
    if (call === null) throw new Error("no call in progress");
    if (close) this.addArguments("}");
    this.done.push({ id: call.id, name: call.name, arguments: call.arguments });
    this.call = null;
    this.value = null;
  }

  /** An uncommitted attempt failed: its raw text is content. */
  private fail(): boolean {
    this.emitContent(this.pending);
    const textOnly = this.shape.open === null || (!this.parallel && this.done.length > 0);
    this.reset(textOnly ? "text" : "content");
    return false;
  }

  /** A named call hit a syntax error: keep it as it is; the rest is text. */
  private abandon(): boolean {
    this.completeCall(this.atArgumentBoundary());
    this.reset("text");
    return false;
  }

  /** Between arguments: the object written so far can be closed. */
  private atArgumentBoundary(): boolean {
    return this.state === "argNext" || this.state === "argKey?" || this.state === "argKey" || this.state === "argEq";
  }

  private reset(state: State): void {
    this.state = state;
    this.pending = "";
    this.capturing = false;
    this.partialMarker = "";
    this.leadingSpace = "";
    this.pendingSpace = "";
    this.tag = "";
    this.word = "";
    this.call = null;
    this.value = null;
  }

  private emitContent(text: string): void {
    this.out.content += text;
  }

  private takeOut(): ToolCallPiece {
    const out = this.out;
    this.out = emptyPiece();
    return out;
  }
}

function emptyPiece(): ToolCallPiece {
  return { content: "", toolCalls: [] };
}

function isSpace(ch: string): boolean {
  return /\s/.test(ch);
}

function isDigit(ch: string): boolean {
  return ch >= "0" && ch <= "9";
}

function isNameStart(ch: string): boolean {
  return /[A-Za-z_]/.test(ch);
}

/** Characters of a tool name (OpenAI allows `-`; dotted names such as `brave_search.call` occur too). */
function isNameChar(ch: string): boolean {
  return /[A-Za-z0-9_.-]/.test(ch);
}
