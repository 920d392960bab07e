/**
 * The `recipient` call shape (Functionary v3.2): every message names its
 * recipient on a line of its own after a marker, `>>>NAME\n{…}` for a call,
 * `>>>all\ntext` for text to the user. The generation prompt ends in the
 * marker, so the output starts with a recipient; more messages follow, each
 * after the marker again.
 *
 * A call is `NAME\n` and a JSON object (committed at its `{`, as llama.cpp
 * reads it, so a line of text is never taken for a call); the code tool's
 * name followed by anything but `{` opens code, the rest of the output, as
 * the arguments `{"code": "…"}`. The plain recipient's line is dropped and its
 * text is content. Its states on `call-shape-parser.ts`'s skeleton,
 * streaming-safe: however the text is split, the result is the same. Text
 * that started like a recipient but broke off before a call is content again.
 */
import type { ToolCallShapeParser } from "../families/model-family.js";
import { CallShapeParser, type ToolCallPiece } from "./call-shape-parser.js";
import { isNameChar } from "./marker-scanner.js";
import { JsonValueScanner, type ToolCallParserOptions } from "./tool-call-parser.js";

export interface RecipientCallSyntax {
  /** Opens a message anywhere in the output (the prompt ends in it, so the output starts inside one). */
  marker: string;
  /** The recipient of plain text to the user. */
  plain: string;
  /** The tool whose arguments may be raw code (`{"code": …}`); null: none. */
  codeTool: string | null;
}

type State =
  | "recipient" // the recipient's name, up to its newline
  | "brace" // after a tool's name and newline: the arguments' `{` (or code)
  | "arguments" // the JSON arguments
  | "between" // after a call: whitespace held, then more messages (parallel) or text
  | "code"; // every character is code

export class RecipientCallParser extends CallShapeParser<State> implements ToolCallShapeParser {
  private readonly syntax: RecipientCallSyntax;
  private name = "";
  private value: JsonValueScanner | null = null;

  constructor(syntax: RecipientCallSyntax, options: ToolCallParserOptions) {
    super([syntax.marker], options, "recipient");
    this.syntax = syntax;
    this.capturing = true;
  }

  override finish(): ToolCallPiece {
    // A recipient line cut off before its text, or a plain one with nothing after it, says nothing.
    if (this.call === null && this.state === "recipient" && this.syntax.plain.startsWith(this.name)) this.pending = "";
    return super.finish();
  }

  protected markerFound(): void {
    this.name = "";
    this.state = "recipient";
  }

  /** One character in a structured state; false when it must be scanned again in the new state. */
  protected step(ch: string): boolean {
    switch (this.state) {
      case "recipient":
        if (isNameChar(ch)) {
          this.name += ch;
          return true;
        }
        if (ch !== "\n" || this.name === "") return this.attemptFailed();
        if (this.name === this.syntax.plain) {
          // Text to the user: the recipient line goes, the text is content.
          this.pending = "";
          this.capturing = false;
          this.state = "content";
          return true;
        }
        this.state = "brace";
        return true;
      case "brace":
        if (ch === "{") {
          this.openCall(this.name);
          this.value = new JsonValueScanner();
          this.state = "arguments";
          return this.stepArguments(ch);
        }
        if (this.name === this.syntax.codeTool) {
          this.openCall(this.name);
          this.addArguments('{"code": "');
          this.state = "code";
          return false;
        }
        return this.attemptFailed();
      case "arguments":
        return this.stepArguments(ch);
      case "between":
        return this.stepAfterCalls(ch, true);
      case "code":
        return this.stepCode(ch);
      case "content":
      case "text":
        throw new Error(`unreachable: ${this.state} is scanned in bulk`);
    }
  }

  private stepArguments(ch: string): boolean {
    const value = this.value;
    if (value === null) throw new Error("no arguments in progress");
    const result = value.step(ch);
    if (result === "error" || result === "end") return this.callBroken();
    this.addArguments(ch);
    if (result === "done") {
      this.closeCall();
      this.state = "between";
    }
    return true;
  }

  protected closeCall(): void {
    const call = this.call;
    if (call === null) return;
    if (this.state === "code") this.addArguments('"}');
    this.recordCall();
    this.value = null;
  }
}
