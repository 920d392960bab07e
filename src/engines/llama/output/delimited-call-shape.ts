/**
 * The `delimited` call shape: calls between special-token delimiters with
 * the tool's name outside the JSON arguments (DeepSeek R1 / V3.1, Kimi K2,
 * Hunyuan 7B's `<tool_call>NAME` + a ```json block):
 *
 *   SECTION_OPEN (CALL_OPEN NAME_PREFIX name [:INDEX] NAME_END {…} ARGUMENTS_END CALL_CLOSE)+ SECTION_CLOSE
 *
 * Text before the section is content; a model that leaves out the section
 * delimiters and starts with CALL_OPEN is read the same. Its states on
 * `call-shape-parser.ts`'s skeleton, the arguments read by the JSON scanner
 * of `tool-call-parser.ts`; streaming-safe: however the text is
 * split, the result is the same, and a call's first delta goes out the
 * moment its name has ended. Whitespace inside a delimiter (R1's
 * "\n```json\n") matches any run of whitespace, and whitespace before each
 * part is skipped. Text that started like a call but broke off before a name
 * is content again.
 */
import type { ToolCallShapeParser } from "../families/model-family.js";
import { CallShapeParser } from "./call-shape-parser.js";
import { ChoiceScanner, LiteralScanner, isNameChar, isSpace } from "./marker-scanner.js";
import { JsonValueScanner, isJsonSpace, type ToolCallParserOptions } from "./tool-call-parser.js";

export interface DelimitedCallSyntax {
  /** Opens the calls anywhere in the output. */
  sectionOpen: string;
  sectionClose: string;
  callOpen: string;
  /** Between CALL_OPEN and the name (R1: `function<｜tool▁sep｜>`); "" for none. */
  namePrefix: string;
  /** Kimi K2: `:INDEX` follows the name. */
  nameIndex: boolean;
  /** Between the name (and index) and the arguments. */
  nameEnd: string;
  /** After the arguments, before CALL_CLOSE (R1: "\n```"); "" for none. */
  argumentsEnd: string;
  callClose: string;
  /** Kimi K2: a call's id is `<idPrefix>name:INDEX` (INDEX: the call's place in this output); null: the engine's id. */
  idPrefix: string | null;
}

type Part = { kind: "literal"; scanner: LiteralScanner } | { kind: "name" } | { kind: "index" } | { kind: "arguments" };

type State =
  | "section" // after SECTION_OPEN: CALL_OPEN expected
  | "call" // inside a call, at `parts[part]`
  | "afterCall" // after CALL_CLOSE: another CALL_OPEN (parallel) or SECTION_CLOSE
  | "between"; // after the section: whitespace held, then more calls (parallel) or text

export class DelimitedCallParser extends CallShapeParser<State> implements ToolCallShapeParser {
  private readonly syntax: DelimitedCallSyntax;
  /** `section` / `afterCall`: what of a delimiter has been matched. */
  private choice: ChoiceScanner | null = null;
  private parts: Part[] = [];
  private part = 0;
  /** The part at `part` has begun (its leading whitespace is over). */
  private partStarted = false;
  private nameText = "";
  private indexDigits = -1;
  private value: JsonValueScanner | null = null;

  constructor(syntax: DelimitedCallSyntax, options: ToolCallParserOptions) {
    super([syntax.sectionOpen, syntax.callOpen], options);
    this.syntax = syntax;
  }

  protected markerFound(marker: string): void {
    if (marker === this.syntax.sectionOpen) {
      this.state = "section";
      this.choice = new ChoiceScanner([this.syntax.callOpen]);
    } else {
      this.startCall();
    }
  }

  /** One character in a structured state; false when it must be scanned again in the new state. */
  protected step(ch: string): boolean {
    switch (this.state) {
      case "section":
      case "afterCall":
        return this.stepChoice(ch);
      case "call":
        return this.stepCall(ch);
      case "between":
        return this.stepAfterCalls(ch, false);
      case "content":
      case "text":
        throw new Error(`unreachable: ${this.state} is scanned in bulk`);
    }
  }

  private stepChoice(ch: string): boolean {
    const choice = this.choice;
    if (choice === null) throw new Error("no delimiter expected");
    if (choice.matched === "" && isSpace(ch)) {
      if (this.state === "afterCall") this.pendingSpace += ch;
      return true;
    }
    const result = choice.step(ch);
    if (result === "more") return true;
    if (result === "fail") {
      if (this.state === "section") return this.attemptFailed();
      // After a call: whatever follows is text.
      this.emitContent(this.pendingSpace + choice.matched);
      this.pendingSpace = "";
      this.state = "text";
      return false;
    }
    this.pendingSpace = "";
    this.choice = null;
    if (result.delimiter === this.syntax.callOpen) {
      this.startCall();
    } else {
      this.state = "between";
    }
    return true;
  }

  private startCall(): void {
    const { namePrefix, nameIndex, nameEnd, argumentsEnd, callClose } = this.syntax;
    const literal = (text: string): Part[] => (text.trim() === "" ? [] : [{ kind: "literal", scanner: new LiteralScanner(text) }]);
    this.parts = [
      ...literal(namePrefix),
      { kind: "name" },
      ...(nameIndex ? [{ kind: "index" } as const] : []),
      ...literal(nameEnd),
      { kind: "arguments" },
      ...literal(argumentsEnd),
      ...literal(callClose),
    ];
    this.part = 0;
    this.partStarted = false;
    this.nameText = "";
    this.indexDigits = -1;
    this.value = null;
    this.state = "call";
  }

  private stepCall(ch: string): boolean {
    const part = this.parts[this.part];
    if (part === undefined) throw new Error("unreachable: a call ends after its last part");
    if (!this.partStarted && part.kind !== "index") {
      if (isJsonSpace(ch)) return true;
      this.partStarted = true;
    }
    switch (part.kind) {
      case "literal": {
        const result = part.scanner.step(ch);
        if (result === "fail") return this.callBroken();
        if (result === "done") this.nextPart();
        return true;
      }
      case "name":
        if (isNameChar(ch)) {
          this.nameText += ch;
          return true;
        }
        if (this.nameText === "") return this.attemptFailed();
        this.nameKnown();
        this.nextPart();
        return false;
      case "index":
        if (this.indexDigits < 0) {
          this.indexDigits = 0;
          if (ch === ":") return true;
          this.nextPart();
          return false;
        }
        if (ch >= "0" && ch <= "9") {
          this.indexDigits++;
          return true;
        }
        this.nextPart();
        return false;
      case "arguments": {
        this.value ??= new JsonValueScanner();
        const result = this.value.step(ch);
        if (result === "error") return this.callBroken();
        if (result === "end") {
          this.nextPart();
          return false;
        }
        this.addArguments(ch);
        if (result === "done") this.nextPart();
        return true;
      }
    }
  }

  private nextPart(): void {
    this.part++;
    this.partStarted = false;
    if (this.part < this.parts.length) return;
    this.closeCall();
    this.state = "afterCall";
    this.choice = new ChoiceScanner(this.parallel ? [this.syntax.callOpen, this.syntax.sectionClose] : [this.syntax.sectionClose]);
  }

  /** The name has ended: commit the call and emit its first delta. */
  private nameKnown(): void {
    const name = this.nameText;
    this.openCall(name, this.syntax.idPrefix === null ? this.newId() : `${this.syntax.idPrefix}${name}:${this.done.length}`);
  }

  protected closeCall(): void {
    const call = this.call;
    if (call === null) return;
    if (call.arguments === "") this.addArguments("{}");
    this.recordCall();
    this.value = null;
  }
}

export { ChoiceScanner, LiteralScanner, isNameChar };
