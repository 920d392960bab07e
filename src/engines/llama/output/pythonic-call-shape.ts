/**
 * The `pythonic` call shape (`families/model-family.ts` `PythonicCalls`):
 * `[get_weather(city="Paris", days=3), get_time(zone='UTC')]`, after an open
 * marker anywhere in the text and before an optional close marker (LFM2:
 * `<|tool_call_start|>[…]<|tool_call_end|>`), or, without markers, as the
 * whole output (Llama 3.2 / 4 pythonic templates: anything else makes the
 * whole output content). Llama 4's optional `<|python_start|>…<|python_end|>`
 * (the shape's `wrap`) is read at the start or, being a special token, after
 * text too; its close tag may be missing.
 *
 * Same contract as `ToolCallStreamParser` (which hands this shape here), its
 * states on `call-shape-parser.ts`'s skeleton: pure, streaming-safe, a call
 * emitted the moment `name(` is read, then its
 * arguments as JSON fragments — keyword arguments become an object, each
 * Python literal value is converted by `PythonLiteralScanner` as it arrives.
 * Text that started like a call but never got a name goes back to content.
 */
import type { PythonicCalls } from "../families/model-family.js";
import { PythonLiteralScanner } from "./python-literal.js";
import { CallShapeParser, type ToolCallPiece } from "./call-shape-parser.js";
import { isNameChar, isSpace } from "./marker-scanner.js";
import type { ToolCallParserOptions } from "./tool-call-parser.js";

type State =
  | "leading" // no open marker: leading whitespace, the optional wrap tag, then `[`
  | "afterOpen" // after the open marker: whitespace, then `[`
  | "item" // after `[` or `,`: a call name
  | "name" // the name, up to `(`
  | "argKey?" // after `(` or `,`: a keyword or `)`
  | "argKey" // a keyword, up to `=`
  | "argEq" // whitespace between a keyword and `=`
  | "argValue" // a value (PythonLiteralScanner)
  | "argNext" // after a value: `,` or `)`
  | "listNext" // after a call: `,` or `]`
  | "closeTag" // after `]`: whitespace and the close marker (or the wrap's)
  | "between"; // after a list: whitespace held, then another marker or content

export class PythonicCallParser extends CallShapeParser<State> {
  private readonly shape: PythonicCalls;
  private word = "";
  private argumentCount = 0;
  private value: PythonLiteralScanner | null = null;
  /** The list being read opened with the wrap tag, so the wrap's close tag may follow it. */
  private wrapped = false;

  constructor(shape: PythonicCalls, options: ToolCallParserOptions) {
    const start = shape.open ?? shape.wrap?.open ?? null;
    super(start === null ? [] : [start], options, shape.open === null ? "leading" : "content");
    this.shape = shape;
    this.capturing = shape.open === null;
  }

  override finish(): ToolCallPiece {
    if (this.call !== null) {
      // Name known, cut off: keep what arrived, closed where it can be.
      if (this.state === "argValue" && this.value?.finish() === true) this.state = "argNext";
      this.completeCall(this.atArgumentBoundary());
    } else if (this.capturing) {
      this.emitContent(this.pending);
    } else {
      this.releaseHeldMarker();
    }
    this.reset("text");
    return this.take();
  }

  protected markerFound(marker: string): void {
    this.wrapped = this.shape.open === null && marker === this.shape.wrap?.open;
    this.state = "afterOpen";
  }

  /** One character in a structured state; false when it must be scanned again in the new state. */
  protected step(ch: string): boolean {
    switch (this.state) {
      case "leading":
        if (this.tag === "" && isSpace(ch)) return true;
        if (this.shape.wrap !== undefined && (this.tag !== "" || ch === this.shape.wrap.open.charAt(0))) return this.stepWrapOpen(ch, this.shape.wrap.open);
        if (ch !== "[") return this.fail();
        this.state = "item";
        return true;
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
          this.state = this.closeMarker === null ? "between" : "closeTag";
          return true;
        }
        this.state = "between";
        return false;
      case "closeTag": {
        const close = this.closeMarker;
        if (close === null) throw new Error("unreachable: no close marker");
        return this.stepCloseMarker(ch, close, "between");
      }
      case "between":
        return this.stepAfterCalls(ch, true);
      case "content":
      case "text":
        throw new Error(`unreachable: ${this.state} is scanned in bulk`);
    }
  }

  /** The close marker after this list's `]`: the shape's, or the wrap's where the list opened with the wrap tag. */
  private get closeMarker(): string | null {
    return this.shape.close ?? (this.wrapped ? (this.shape.wrap?.close ?? null) : null);
  }

  /** At the start of the output: the wrap's open tag, a character at a time (held as part of the attempt). */
  private stepWrapOpen(ch: string, open: string): boolean {
    if (ch !== open.charAt(this.tag.length)) return this.fail();
    this.tag += ch;
    if (this.tag === open) {
      this.tag = "";
      this.wrapped = true;
      this.state = "afterOpen";
    }
    return true;
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

  /** `name(` was read: commit the call and emit its first delta and the object's `{`. */
  private nameKnown(name: string): void {
    this.openCall(name);
    this.argumentCount = 0;
    this.addArguments("{");
  }

  private keyword(name: string): void {
    this.addArguments(`${this.argumentCount > 0 ? ", " : ""}${JSON.stringify(name)}: `);
    this.argumentCount++;
  }

  private endCall(): boolean {
    this.completeCall(true);
    this.state = "listNext";
    return true;
  }

  protected closeCall(): void {
    this.completeCall(this.atArgumentBoundary());
  }

  private completeCall(close: boolean): void {
    if (close) this.addArguments("}");
    this.recordCall();
    this.value = null;
  }

  /** An uncommitted attempt failed: its raw text is content. */
  private fail(): boolean {
    this.releaseAttempt();
    // Without markers, a failed start makes the whole output text; a wrap tag may still come later.
    const textOnly = (this.shape.open === null && this.shape.wrap === undefined) || this.onlyTextFollows;
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

  private reset(state: State | "content" | "text"): void {
    this.resetTo(state);
    this.word = "";
    this.value = null;
    this.wrapped = false;
  }
}

function isDigit(ch: string): boolean {
  return ch >= "0" && ch <= "9";
}

function isNameStart(ch: string): boolean {
  return /[A-Za-z_]/.test(ch);
}
