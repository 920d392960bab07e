/**
 * Gemma 4's call shape:
 *
 *   <|tool_call>call:NAME{key:<|"|>text<|"|>,n:5,flag:true,list:[…],obj:{…}}<tool_call|>
 *
 * repeated for parallel calls; the template then writes `<|tool_response>`
 * (llama.cpp ends generation there), so whatever follows it is dropped. Text
 * before the first call is content; after the calls only text follows. The
 * arguments are converted to JSON as they arrive (`gemma-value.ts`). Its
 * states on `call-shape-parser.ts`'s skeleton: streaming-safe, the first
 * delta goes out the moment `NAME{` is read, and an attempt that breaks off
 * before its name is content again.
 */
import type { ToolCallShapeParser } from "../families/model-family.js";
import { CallShapeParser } from "./call-shape-parser.js";
import { GemmaValueScanner } from "./gemma-value.js";
import { ChoiceScanner, LiteralScanner, isNameChar, isSpace } from "./marker-scanner.js";
import type { ToolCallParserOptions } from "./tool-call-parser.js";

export const GEMMA_CALL_OPEN = "<|tool_call>";
export const GEMMA_CALL_CLOSE = "<tool_call|>";
export const GEMMA_RESPONSE_OPEN = "<|tool_response>";
/** Between the open marker and the name. */
export const GEMMA_CALL_PREFIX = "call:";

type State =
  | "prefix" // after the open marker: `call:`
  | "name" // the name, up to `{`
  | "arguments" // the arguments object (GemmaValueScanner)
  | "close" // the close marker
  | "afterCall" // another call (parallel), `<|tool_response>`, or text
  | "ended"; // after `<|tool_response>`: nothing more is read

export class GemmaCallParser extends CallShapeParser<State> implements ToolCallShapeParser {
  private literal: LiteralScanner | null = null;
  private choice: ChoiceScanner | null = null;
  private name = "";
  private nameEnded = false;
  private value: GemmaValueScanner | null = null;

  constructor(options: ToolCallParserOptions) {
    super([GEMMA_CALL_OPEN], options);
  }

  protected markerFound(): void {
    this.literal = new LiteralScanner(GEMMA_CALL_PREFIX);
    this.state = "prefix";
  }

  protected step(ch: string): boolean {
    switch (this.state) {
      case "prefix": {
        const literal = this.literal;
        if (literal === null) throw new Error("no prefix expected");
        if (!literal.started && isSpace(ch)) return true;
        const result = literal.step(ch);
        if (result === "fail") return this.attemptFailed();
        if (result === "done") {
          this.literal = null;
          this.name = "";
          this.nameEnded = false;
          this.state = "name";
        }
        return true;
      }
      case "name":
        if (isNameChar(ch) && !this.nameEnded) {
          this.name += ch;
          return true;
        }
        if (isSpace(ch) && this.name !== "") {
          this.nameEnded = true;
          return true;
        }
        if (ch !== "{" || this.name === "") return this.attemptFailed();
        this.openCall(this.name);
        this.value = new GemmaValueScanner((json) => this.addArguments(json));
        this.state = "arguments";
        return this.stepArguments(ch);
      case "arguments":
        return this.stepArguments(ch);
      case "close":
        return this.stepCloseMarker(ch, GEMMA_CALL_CLOSE, "afterCall");
      case "afterCall":
        return this.stepAfterCall(ch);
      case "ended":
        return true;
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
    if (result === "done") {
      this.closeCall();
      this.state = "close";
    }
    return true;
  }

  private stepAfterCall(ch: string): boolean {
    this.choice ??= new ChoiceScanner(this.parallel ? [GEMMA_CALL_OPEN, GEMMA_RESPONSE_OPEN] : [GEMMA_RESPONSE_OPEN]);
    const choice = this.choice;
    if (choice.matched === "" && isSpace(ch)) {
      this.pendingSpace += ch;
      return true;
    }
    const result = choice.step(ch);
    if (result === "more") return true;
    this.choice = null;
    if (result === "fail") {
      // After the calls: whatever follows is text.
      this.emitContent(this.pendingSpace + choice.matched);
      this.pendingSpace = "";
      this.state = "text";
      return false;
    }
    this.pendingSpace = "";
    if (result.delimiter === GEMMA_RESPONSE_OPEN) {
      this.state = "ended";
    } else {
      this.pending = GEMMA_CALL_OPEN;
      this.capturing = true;
      this.markerFound();
    }
    return true;
  }

  protected closeCall(): void {
    if (this.call === null) return;
    if (this.call.arguments === "") this.addArguments("{}");
    this.recordCall();
    this.value = null;
  }
}
