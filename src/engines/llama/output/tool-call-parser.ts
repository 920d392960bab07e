/**
 * Finds tool calls in a model's streamed output and turns them into
 * OpenAI-style deltas as soon as it safely can. Pure (no I/O) and
 * streaming-safe: text arrives in arbitrary pieces, a marker may be split
 * across them at any character, and the result is the same however the text
 * was split. The JSON is scanned one character at a time by small state
 * machines (strings with escapes, nesting), never re-parsed, so the cost is
 * linear in the output length.
 *
 * The markers come from the model family (`../families/`); the parser knows
 * the shapes they are used in:
 * - `tagged-json` (Hermes, Qwen): `OPEN{"name": …, "arguments": {…}}CLOSE`,
 *   repeated; text before the first call is content.
 * - `marker-list` (Mistral): `MARKER[{"name": …, "arguments": {…}}, …]`, or
 *   `MARKERname[ARGS]{…}` (an optional `[CALL_ID]id` before `[ARGS]` is
 *   skipped), repeated.
 * - `leading-json` (Llama 3): only at the start of the output, after optional
 *   whitespace and the prefix tag: `{"name": …, "parameters": {…}}`, several
 *   separated by the separator, or (xLAM) one list of them, its prefix's
 *   close (a code fence) dropped after it. Otherwise the whole output is content.
 * - a `marker-list` may name each call by its object's one key,
 *   `{"NAME": {…}}` (Apertus).
 *
 * A call is emitted the moment its name is known: `{index, id, name,
 * arguments: ""}`, then the raw text of its arguments value in fragments.
 * Text that started like a call but never got a name goes back to content.
 */
import type { ToolCallDelta } from "../../../protocol/chat-events.js";
import type { ToolDefinition } from "../../../protocol/chat-request.js";
import type { ToolCallShape, ToolCallShapeParser, ToolCallSyntaxName } from "../families/model-family.js";
import { toolCallSyntax } from "../families/registry.js";
import { CallShapeParser, type ParsedToolCall, type ToolCallPiece } from "./call-shape-parser.js";
import { isNameChar, isSpace, partialSuffixLength } from "./marker-scanner.js";
import { PythonicCallParser } from "./pythonic-call-shape.js";

export type { ToolCallDelta, ParsedToolCall, ToolCallPiece };

export type ToolCallSyntax = ToolCallSyntaxName;

export interface ToolCallParserOptions {
  /** Makes the id of each call (called once per call, when its name is known). */
  newId: () => string;
  /** When false, nothing is recognised after the first complete call. */
  parallel: boolean;
  /** The request's tools, for shapes that convert arguments by their schemas (XML parameters). */
  tools?: readonly ToolDefinition[];
}

type State =
  | "between" // after a call: whitespace held, then more calls or content
  | "closeTag" // tagged-json: after a call object, whitespace and the close tag
  | "afterMarker" // after the start marker: whitespace, then the call(s)
  | "object" // inside a call object `{…}`
  | "arrayItem" // marker-list array: expecting a call object
  | "arrayNext" // marker-list array: expecting `,` or `]`
  | "listName" // marker-list: `MARKERname`
  | "listTag" // marker-list: the args or call-id tag after the name
  | "listCallId" // marker-list: the id after the call-id tag, up to the args tag
  | "listArgs" // marker-list: the arguments value after the args tag
  | "leadingStart" // leading-json: leading whitespace and the prefix tag, then `{`
  | "leadingNext"; // leading-json: after the separator, whitespace then `{`

/** The JSON shapes (`tagged-json`, `marker-list`, `leading-json`); a shape with states of its own is handed to its parser. */
export class ToolCallStreamParser {
  private readonly inner: ToolCallShapeParser;

  constructor(syntax: ToolCallSyntax, options: ToolCallParserOptions) {
    const shape = toolCallSyntax(syntax).shape;
    this.inner = shape.kind === "own-parser" ? shape.createParser(options) : shape.kind === "pythonic" ? new PythonicCallParser(shape, options) : new JsonCallParser(shape, options);
  }

  /** Complete calls so far. */
  get calls(): readonly ParsedToolCall[] {
    return this.inner.calls;
  }

  /** Feed the next piece of output; returns what is safe to emit now. */
  push(text: string): ToolCallPiece {
    return this.inner.push(text);
  }

  /** End of generation: release held text and close a call cut off mid-way. */
  finish(): ToolCallPiece {
    return this.inner.finish();
  }
}

type JsonShape = Exclude<ToolCallShape, { kind: "own-parser" } | { kind: "pythonic" }>;

class JsonCallParser extends CallShapeParser<State> implements ToolCallShapeParser {
  private readonly shape: JsonShape;
  private prefixSeen = false;
  private listCallName = "";
  private listNameEnded = false;
  private inArray = false;
  /** A call has begun (its object or its name form) and its name may still be unknown. */
  private started = false;
  /** Arguments text that arrived before the name. */
  private bufferedArguments = "";
  private object: ObjectScanner | null = null;
  private value: JsonValueScanner | null = null;

  constructor(shape: JsonShape, options: ToolCallParserOptions) {
    const startMarker = shape.kind === "tagged-json" ? shape.open : shape.kind === "marker-list" ? shape.marker : null;
    super(startMarker === null ? [] : [startMarker], options, shape.kind === "leading-json" ? "leadingStart" : "content");
    this.shape = shape;
    if (shape.kind === "leading-json") this.capturing = true;
  }

  override finish(): ToolCallPiece {
    if (this.capturing) {
      // Started like a call but never got a name: it was text after all,
      // unless it is only a separator (`;`, `,`) left after the last call.
      const separatorOnly =
        (this.state === "leadingNext" || this.state === "arrayItem") && this.done.length > 0 && /^\s*[;,]\s*$/.test(this.pending);
      if (!separatorOnly) this.emitContent(this.pending);
    } else if (this.call !== null) {
      // Name known, arguments cut off: keep whatever arrived.
      this.closeCall();
    } else {
      this.releaseHeldMarker();
    }
    // Whitespace after the last call, or a cut-off `</tool_call>`, is dropped.
    this.reset("text");
    return this.take();
  }

  protected markerFound(marker: string, leadingSpace: string): void {
    this.pending = leadingSpace + marker;
    this.state = "afterMarker";
  }

  /** One character in a structured state; false when it must be scanned again in the new state. */
  protected step(ch: string): boolean {
    switch (this.state) {
      case "afterMarker":
        if (isSpace(ch)) return true;
        if (ch === "{") return this.openObject(false);
        if (this.shape.kind === "marker-list" && ch === "[") {
          this.state = "arrayItem";
          return true;
        }
        if (this.shape.kind === "marker-list" && this.shape.nameForm !== null && isNameChar(ch)) {
          this.listCallName = ch;
          this.listNameEnded = false;
          this.state = "listName";
          return true;
        }
        return this.fail();
      case "object":
        return this.stepObject(ch);
      case "arrayItem":
        if (isJsonSpace(ch)) return true;
        if (ch === "{") return this.openObject(true);
        return this.fail();
      case "arrayNext":
        if (isJsonSpace(ch)) {
          this.pendingSpace += ch;
          return true;
        }
        if (ch === "]") {
          this.pendingSpace = "";
          this.state = this.closeAfterCalls() === undefined ? "between" : "closeTag";
          return true;
        }
        if (ch === "," && this.parallel) {
          this.pendingSpace = "";
          this.state = "arrayItem";
          this.capturing = true;
          this.pending = "";
          return true;
        }
        this.state = "between";
        return false;
      case "listName":
        if (isNameChar(ch) && !this.listNameEnded) {
          this.listCallName += ch;
          return true;
        }
        if (isSpace(ch)) {
          this.listNameEnded = true; // only a tag may follow now
          return true;
        }
        if (this.shape.kind === "marker-list" && this.shape.nameForm !== null && (ch === this.shape.nameForm.argsTag.charAt(0) || ch === this.shape.nameForm.callIdTag.charAt(0))) {
          this.tag = "";
          this.state = "listTag";
          return false;
        }
        return this.fail();
      case "listTag": {
        if (this.shape.kind !== "marker-list" || this.shape.nameForm === null) throw new Error("unreachable: tags belong to marker-list's name form");
        const { argsTag, callIdTag } = this.shape.nameForm;
        const tag = this.tag + ch;
        if (tag === argsTag || tag === callIdTag) {
          this.tag = "";
          this.startCall(false);
          this.nameKnown(this.listCallName);
          this.state = tag === argsTag ? "listArgs" : "listCallId";
          this.value = null;
          return true;
        }
        if (argsTag.startsWith(tag) || callIdTag.startsWith(tag)) {
          this.tag = tag;
          return true;
        }
        return this.fail();
      }
      case "listCallId": {
        if (this.shape.kind !== "marker-list" || this.shape.nameForm === null) throw new Error("unreachable: tags belong to marker-list's name form");
        const { argsTag } = this.shape.nameForm;
        if (ch === argsTag.charAt(this.tag.length)) {
          this.tag += ch;
          if (this.tag === argsTag) {
            this.tag = "";
            this.state = "listArgs";
            this.value = null;
          }
          return true;
        }
        if (this.tag !== "") return this.abandon();
        return true; // part of the id, which is ignored
      }
      case "listArgs":
        return this.stepListArgs(ch);
      case "closeTag": {
        const close = this.shape.kind === "tagged-json" ? this.shape.close : this.closeAfterCalls();
        if (close === undefined) throw new Error("unreachable: a close tag belongs to tagged-json, a closed marker-list or a closed prefix");
        return this.stepCloseMarker(ch, close, "between");
      }
      case "between":
        return this.stepBetween(ch);
      case "leadingStart": {
        if (this.shape.kind !== "leading-json") throw new Error("unreachable: a prefix belongs to leading-json");
        const { prefix } = this.shape;
        if (this.tag === "" && isSpace(ch)) return true;
        if (!this.prefixSeen && (this.tag !== "" || ch === prefix.charAt(0))) {
          if (ch !== prefix.charAt(this.tag.length)) return this.fail();
          this.tag += ch;
          if (this.tag === prefix) {
            this.tag = "";
            this.prefixSeen = true;
          }
          return true;
        }
        if (ch === "{") return this.openObject(false);
        if (ch === "[" && this.shape.list === true) {
          this.state = "arrayItem";
          return true;
        }
        return this.fail();
      }
      case "leadingNext":
        if (isSpace(ch)) return true;
        if (ch === "{") return this.openObject(false);
        return this.fail();
      case "content":
      case "text":
        throw new Error(`unreachable: ${this.state} is scanned in bulk`);
    }
  }

  private stepObject(ch: string): boolean {
    const object = this.object;
    if (object === null) throw new Error("no call object in progress");
    const result = object.step(ch);
    if (result === "more") return true;
    if (result === "error") return this.call !== null ? this.abandon() : this.fail();
    // The object is complete.
    if (this.call === null) {
      this.pending += ch;
      this.fail();
      return true;
    }
    this.closeCall();
    if (this.shape.kind === "tagged-json") {
      this.state = "closeTag";
    } else if (this.inArray) {
      this.state = "arrayNext";
    } else {
      this.state = this.closeAfterCalls() === undefined ? "between" : "closeTag";
    }
    return true;
  }

  /** The text that may close the calls: a closed marker-list's, or the close of a leading prefix that was read. */
  private closeAfterCalls(): string | undefined {
    if (this.shape.kind === "marker-list") return this.shape.close;
    if (this.shape.kind === "leading-json" && this.prefixSeen) return this.shape.close;
    return undefined;
  }

  private stepListArgs(ch: string): boolean {
    if (this.value === null) {
      if (isJsonSpace(ch)) return true;
      this.value = new JsonValueScanner();
    }
    const result = this.value.step(ch);
    if (result === "error") return this.abandon();
    if (result === "end") {
      this.closeCall();
      this.state = "between";
      return false;
    }
    this.addCallArguments(ch);
    if (result === "done") {
      this.closeCall();
      this.state = "between";
    }
    return true;
  }

  private stepBetween(ch: string): boolean {
    if (this.parallel && this.shape.kind === "leading-json" && ch === this.shape.separator) {
      this.pending = this.pendingSpace;
      this.pendingSpace = "";
      this.capturing = true;
      this.state = "leadingNext";
      return true;
    }
    return this.stepAfterCalls(ch, true);
  }

  private openObject(inArray: boolean): boolean {
    this.inArray = inArray;
    this.startCall(true);
    this.state = "object";
    return true;
  }

  private startCall(withObject: boolean): void {
    this.call = null;
    this.started = true;
    this.bufferedArguments = "";
    const sink: CallObjectSink = {
      onName: (name) => this.nameKnown(name),
      onArguments: (text) => this.addCallArguments(text),
    };
    this.object = !withObject ? null : this.shape.kind === "marker-list" && this.shape.nameKeyed === true ? new NameKeyedCallScanner(sink) : new CallObjectScanner(sink);
  }

  /** The name is known: commit the call and emit its first delta. */
  private nameKnown(name: string): void {
    if (!this.started) throw new Error("no call in progress");
    this.openCall(name);
    if (this.bufferedArguments !== "") this.addArguments(this.bufferedArguments);
    this.bufferedArguments = "";
  }

  private addCallArguments(text: string): void {
    if (this.call === null) this.bufferedArguments += text;
    else this.addArguments(text);
  }

  protected closeCall(): void {
    const call = this.call;
    if (call === null) throw new Error("no named call in progress");
    if (call.arguments === "") this.addArguments("{}");
    this.recordCall();
    this.started = false;
    this.object = null;
    this.value = null;
  }

  /** An uncommitted attempt failed: its raw text is content; rescan from here. */
  private fail(): boolean {
    this.releaseAttempt();
    const textOnly = this.shape.kind === "leading-json" || this.onlyTextFollows;
    this.reset(textOnly ? "text" : "content");
    return false;
  }

  /** A named call hit a syntax error: keep it as it is; rescan from here as text after a call. */
  private abandon(): boolean {
    this.closeCall();
    this.reset("between");
    return false;
  }

  private reset(state: State | "content" | "text"): void {
    this.resetTo(state);
    this.started = false;
    this.object = null;
    this.value = null;
    this.bufferedArguments = "";
  }
}

type ObjectStep = "more" | "done" | "error";

/** One call object after its `{`, a character at a time. */
interface ObjectScanner {
  step(ch: string): ObjectStep;
}

interface CallObjectSink {
  onName(name: string): void;
  onArguments(text: string): void;
}

/**
 * The members of one call object, after its `{`: `"name"` (a non-empty
 * string), `"arguments"` or `"parameters"` (any value, passed on raw as it
 * arrives), other keys skipped. The first of each wins; later duplicates are
 * skipped.
 */
class CallObjectScanner implements ObjectScanner {
  private at: "key?" | "key" | "colon" | "value?" | "value" | "comma?" = "key?";
  private keyText = "";
  private keyEscaped = false;
  private role: "name" | "arguments" | "other" = "other";
  private value = new JsonValueScanner();
  private nameText = "";
  private nameSeen = false;
  private argumentsSeen = false;
  private readonly sink: CallObjectSink;

  constructor(sink: CallObjectSink) {
    this.sink = sink;
  }

  step(ch: string): ObjectStep {
    switch (this.at) {
      case "key?":
        if (isJsonSpace(ch)) return "more";
        if (ch === "}") return "done"; // `{}` or a trailing comma
        if (ch !== '"') return "error";
        this.keyText = ch;
        this.at = "key";
        return "more";
      case "key":
        this.keyText += ch;
        if (this.keyEscaped) this.keyEscaped = false;
        else if (ch === "\\") this.keyEscaped = true;
        else if (ch === '"') return this.endKey();
        return "more";
      case "colon":
        if (isJsonSpace(ch)) return "more";
        if (ch !== ":") return "error";
        this.at = "value?";
        return "more";
      case "value?":
        if (isJsonSpace(ch)) return "more";
        this.value = new JsonValueScanner();
        if (this.role === "name") this.nameSeen = true;
        if (this.role === "arguments") this.argumentsSeen = true;
        this.at = "value";
        return this.stepValue(ch);
      case "value":
        return this.stepValue(ch);
      case "comma?":
        if (isJsonSpace(ch)) return "more";
        if (ch === "}") return "done";
        if (ch !== ",") return "error";
        this.at = "key?";
        return "more";
    }
  }

  private endKey(): ObjectStep {
    const key = parseJson(this.keyText);
    if (typeof key !== "string") return "error";
    if ((key === "name" || key === "tool_name") && !this.nameSeen) this.role = "name"; // tool_name: Command R7B
    else if ((key === "arguments" || key === "parameters") && !this.argumentsSeen) this.role = "arguments";
    else this.role = "other";
    this.at = "colon";
    return "more";
  }

  private stepValue(ch: string): ObjectStep {
    const result = this.value.step(ch);
    if (result === "error") return "error";
    if (result === "end") {
      // A number or literal ended just before `ch`.
      this.at = "comma?";
      return this.step(ch);
    }
    if (this.role === "name") {
      if (!this.value.isString) return "error";
      this.nameText += ch;
    } else if (this.role === "arguments") {
      this.sink.onArguments(ch);
    }
    if (result === "done") {
      this.at = "comma?";
      if (this.role === "name") {
        const name = parseJson(this.nameText);
        if (typeof name !== "string" || name === "") return "error";
        this.sink.onName(name);
      }
    }
    return "more";
  }
}

/**
 * A call object whose one key is the tool's name and whose value is the
 * arguments, after its `{`: `"NAME": {…}}` (Apertus). The name is known when
 * its key closes; the value is passed on raw as it arrives.
 */
class NameKeyedCallScanner implements ObjectScanner {
  private at: "key?" | "key" | "colon" | "value?" | "value" | "close?" = "key?";
  private keyText = "";
  private keyEscaped = false;
  private value = new JsonValueScanner();
  private readonly sink: CallObjectSink;

  constructor(sink: CallObjectSink) {
    this.sink = sink;
  }

  step(ch: string): ObjectStep {
    switch (this.at) {
      case "key?":
        if (isJsonSpace(ch)) return "more";
        if (ch !== '"') return "error";
        this.keyText = ch;
        this.at = "key";
        return "more";
      case "key": {
        this.keyText += ch;
        if (this.keyEscaped) this.keyEscaped = false;
        else if (ch === "\\") this.keyEscaped = true;
        else if (ch === '"') {
          const name = parseJson(this.keyText);
          if (typeof name !== "string" || name === "") return "error";
          this.sink.onName(name);
          this.at = "colon";
        }
        return "more";
      }
      case "colon":
        if (isJsonSpace(ch)) return "more";
        if (ch !== ":") return "error";
        this.at = "value?";
        return "more";
      case "value?":
        if (isJsonSpace(ch)) return "more";
        this.at = "value";
        return this.stepValue(ch);
      case "value":
        return this.stepValue(ch);
      case "close?":
        if (isJsonSpace(ch)) return "more";
        return ch === "}" ? "done" : "error";
    }
  }

  private stepValue(ch: string): ObjectStep {
    const result = this.value.step(ch);
    if (result === "error") return "error";
    if (result === "end") {
      // A number or literal ended just before `ch`.
      this.at = "close?";
      return this.step(ch);
    }
    this.sink.onArguments(ch);
    if (result === "done") this.at = "close?";
    return "more";
  }
}

/** `more`: part of the value; `done`: its last character; `end`: not part of it, the value ended before. */
type ValueStep = "more" | "done" | "end" | "error";

const LITERAL = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)$/;

/**
 * Scans one JSON value a character at a time: strings with escapes, objects
 * and arrays with matching brackets, numbers and literals. Structural only:
 * what is inside containers is not validated beyond strings and brackets.
 */
class JsonValueScanner {
  private kind: "none" | "string" | "nested" | "literal" = "none";
  private closers = "";
  private inString = false;
  private escaped = false;
  private literal = "";

  get isString(): boolean {
    return this.kind === "string";
  }

  step(ch: string): ValueStep {
    switch (this.kind) {
      case "none":
        if (ch === '"') {
          this.kind = "string";
          this.inString = true;
          return "more";
        }
        if (ch === "{" || ch === "[") {
          this.kind = "nested";
          this.closers = ch === "{" ? "}" : "]";
          return "more";
        }
        if (isLiteralStart(ch)) {
          this.kind = "literal";
          this.literal = ch;
          return "more";
        }
        return "error";
      case "string":
        return this.stepString(ch) ? "more" : "done";
      case "nested":
        if (this.inString) {
          this.stepString(ch);
          return "more";
        }
        if (ch === '"') {
          this.inString = true;
          return "more";
        }
        if (ch === "{" || ch === "[") {
          this.closers += ch === "{" ? "}" : "]";
          return "more";
        }
        if (ch === "}" || ch === "]") {
          if (!this.closers.endsWith(ch)) return "error";
          this.closers = this.closers.slice(0, -1);
          return this.closers === "" ? "done" : "more";
        }
        return "more";
      case "literal":
        if (isLiteralChar(ch)) {
          this.literal += ch;
          return "more";
        }
        return LITERAL.test(this.literal) ? "end" : "error";
    }
  }

  /** Inside a string: false when `ch` closes it. */
  private stepString(ch: string): boolean {
    if (this.escaped) {
      this.escaped = false;
    } else if (ch === "\\") {
      this.escaped = true;
    } else if (ch === '"') {
      this.inString = false;
      return false;
    }
    return true;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isJsonSpace(ch: string): boolean {
  return ch === " " || ch === "\n" || ch === "\r" || ch === "\t";
}

function isLiteralStart(ch: string): boolean {
  return ch === "-" || ch === "t" || ch === "f" || ch === "n" || (ch >= "0" && ch <= "9");
}

function isLiteralChar(ch: string): boolean {
  return /[A-Za-z0-9.+-]/.test(ch);
}

/** The scanners shared with the shapes whose states live in files of their own (`own-parser`). */
export { JsonValueScanner, isJsonSpace, isSpace, partialSuffixLength };
