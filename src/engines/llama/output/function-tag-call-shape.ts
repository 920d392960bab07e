/**
 * The `function-tag` call shape (Functionary v3.1, after Meta's Llama 3.1
 * custom-tool format): `<function=NAME>{…}</function>`, repeated, anywhere
 * after text; and a code marker (`<|python_tag|>`) after which the rest of
 * the output is code, one call of the code tool with the arguments
 * `{"code": "…"}`.
 *
 * Its states on `call-shape-parser.ts`'s skeleton, the arguments read by the
 * JSON scanner of `tool-call-parser.ts`; streaming-safe: however the text is
 * split, the result is the same, a call's first delta goes out the moment
 * its name has ended, and code is streamed as JSON string fragments. Text
 * that started like a call but broke off before a name is content again.
 */
import type { ToolCallShapeParser } from "../families/model-family.js";
import { CallShapeParser } from "./call-shape-parser.js";
import { isNameChar } from "./marker-scanner.js";
import { JsonValueScanner, isJsonSpace, type ToolCallParserOptions } from "./tool-call-parser.js";

export interface FunctionTagCallSyntax {
  /** Opens a call anywhere in the output; the name follows. */
  open: string;
  /** The one character that ends the name. */
  nameEnd: string;
  /** Follows the arguments. */
  close: string;
  /** A marker after which the rest of the output is code for the tool `tool`; null: none. */
  code: { marker: string; tool: string } | null;
}

type State =
  | "name" // after `open`: the name, up to `nameEnd`
  | "arguments" // whitespace, then one JSON value
  | "close" // after the arguments: whitespace and `close`
  | "between" // after a call: whitespace held, then more calls (parallel) or text
  | "code"; // after the code marker: every character is code

export class FunctionTagCallParser extends CallShapeParser<State> implements ToolCallShapeParser {
  private readonly syntax: FunctionTagCallSyntax;
  private nameText = "";
  private value: JsonValueScanner | null = null;

  constructor(syntax: FunctionTagCallSyntax, options: ToolCallParserOptions) {
    super(syntax.code === null ? [syntax.open] : [syntax.open, syntax.code.marker], options);
    this.syntax = syntax;
  }

  protected markerFound(marker: string): void {
    const code = this.syntax.code;
    if (code !== null && marker === code.marker) {
      // Code needs no name to be a call: it is one from the marker on.
      this.openCall(code.tool);
      this.addArguments('{"code": "');
      this.state = "code";
      return;
    }
    this.nameText = "";
    this.state = "name";
  }

  /** One character in a structured state; false when it must be scanned again in the new state. */
  protected step(ch: string): boolean {
    switch (this.state) {
      case "name":
        if (isNameChar(ch)) {
          this.nameText += ch;
          return true;
        }
        if (ch !== this.syntax.nameEnd || this.nameText === "") return this.attemptFailed();
        this.openCall(this.nameText);
        this.value = null;
        this.state = "arguments";
        return true;
      case "arguments":
        return this.stepArguments(ch);
      case "close":
        return this.stepCloseMarker(ch, this.syntax.close, "between");
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
    if (this.value === null) {
      if (isJsonSpace(ch)) return true;
      this.value = new JsonValueScanner();
    }
    const result = this.value.step(ch);
    if (result === "error") return this.callBroken();
    if (result === "end") {
      this.callDone();
      return false;
    }
    this.addArguments(ch);
    if (result === "done") this.callDone();
    return true;
  }

  private callDone(): void {
    this.closeCall();
    this.state = "close";
  }

  protected closeCall(): void {
    const call = this.call;
    if (call === null) return;
    if (this.state === "code") this.addArguments('"}');
    else if (call.arguments === "") this.addArguments("{}");
    this.recordCall();
    this.value = null;
  }
}
