/**
 * The `delimited` call shape: calls between special-token delimiters with
 * the tool's name outside the JSON arguments (DeepSeek R1 / V3.1, Kimi K2):
 *
 *   SECTION_OPEN (CALL_OPEN NAME_PREFIX name [:INDEX] NAME_END {…} ARGUMENTS_END CALL_CLOSE)+ SECTION_CLOSE
 *
 * Text before the section is content; a model that leaves out the section
 * delimiters and starts with CALL_OPEN is read the same. Streaming-safe like
 * `tool-call-parser.ts` (whose JSON scanner it shares): however the text is
 * split, the result is the same, and a call's first delta goes out the
 * moment its name has ended. Whitespace inside a delimiter (R1's
 * "\n```json\n") matches any run of whitespace, and whitespace before each
 * part is skipped. Text that started like a call but broke off before a name
 * is content again.
 */
import type { ToolCallShapeParser } from "../families/model-family.js";
import {
  JsonValueScanner,
  isJsonSpace,
  isSpace,
  partialSuffixLength,
  type ParsedToolCall,
  type ToolCallParserOptions,
  type ToolCallPiece,
} from "./tool-call-parser.js";

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
  | "content" // free text, watching for SECTION_OPEN or CALL_OPEN
  | "text" // free text, nothing is recognised any more
  | "section" // after SECTION_OPEN: CALL_OPEN expected
  | "call" // inside a call, at `parts[part]`
  | "afterCall" // after CALL_CLOSE: another CALL_OPEN (parallel) or SECTION_CLOSE
  | "between"; // after the section: whitespace held, then more calls (parallel) or text

export class DelimitedCallParser implements ToolCallShapeParser {
  private readonly syntax: DelimitedCallSyntax;
  private readonly newId: () => string;
  private readonly parallel: boolean;
  private readonly done: ParsedToolCall[] = [];
  private out: ToolCallPiece = { content: "", toolCalls: [] };
  private state: State = "content";
  /** Raw text of an attempt not yet committed (no name yet): content if it fails. */
  private pending = "";
  private capturing = false;
  /** `content`: a possible partial start marker at the end of the text. */
  private partialMarker = "";
  /** Whitespace after a call or a section: dropped if a call or the end follows. */
  private heldSpace = "";
  /** `section` / `afterCall`: what of a delimiter has been matched. */
  private choice: ChoiceScanner | null = null;
  private parts: Part[] = [];
  private part = 0;
  /** The part at `part` has begun (its leading whitespace is over). */
  private partStarted = false;
  private nameText = "";
  private indexDigits = -1;
  private value: JsonValueScanner | null = null;
  private call: { index: number; id: string; name: string; arguments: string } | null = null;

  constructor(syntax: DelimitedCallSyntax, options: ToolCallParserOptions) {
    this.syntax = syntax;
    this.newId = options.newId;
    this.parallel = options.parallel;
  }

  get calls(): readonly ParsedToolCall[] {
    return this.done;
  }

  push(text: string): ToolCallPiece {
    this.feed(text);
    return this.take();
  }

  finish(): ToolCallPiece {
    if (this.call !== null) this.completeCall();
    else if (this.capturing) this.out.content += this.pending;
    else if (this.state === "content") this.out.content += this.partialMarker;
    this.state = "text";
    this.pending = "";
    this.capturing = false;
    this.partialMarker = "";
    this.heldSpace = "";
    return this.take();
  }

  private feed(text: string): void {
    let i = 0;
    while (i < text.length) {
      if (this.state === "content") {
        i = this.scanContent(text, i);
        continue;
      }
      if (this.state === "text") {
        this.out.content += text.slice(i);
        return;
      }
      const ch = text.charAt(i);
      if (this.step(ch)) {
        if (this.capturing) this.pending += ch;
        i++;
      }
    }
  }

  /** Free text: emit all but a possible partial start marker; returns the next index. */
  private scanContent(text: string, from: number): number {
    const { sectionOpen, callOpen } = this.syntax;
    const s = this.partialMarker + text.slice(from);
    const found = [sectionOpen, callOpen]
      .map((marker) => ({ marker, at: s.indexOf(marker) }))
      .filter((f) => f.at >= 0)
      .sort((a, b) => a.at - b.at)[0];
    if (found === undefined) {
      const keep = Math.max(partialSuffixLength(s, sectionOpen), partialSuffixLength(s, callOpen));
      this.out.content += s.slice(0, s.length - keep);
      this.partialMarker = s.slice(s.length - keep);
      return text.length;
    }
    this.out.content += s.slice(0, found.at);
    const next = from + found.at + found.marker.length - this.partialMarker.length;
    this.partialMarker = "";
    this.pending = found.marker;
    this.capturing = true;
    if (found.marker === sectionOpen) {
      this.state = "section";
      this.choice = new ChoiceScanner([callOpen]);
    } else {
      this.startCall();
    }
    return next;
  }

  /** One character in a structured state; false when it must be scanned again in the new state. */
  private step(ch: string): boolean {
    switch (this.state) {
      case "section":
      case "afterCall":
        return this.stepChoice(ch);
      case "call":
        return this.stepCall(ch);
      case "between":
        if (isSpace(ch)) {
          this.heldSpace += ch;
          return true;
        }
        this.heldSpace = "";
        this.state = this.parallel ? "content" : "text";
        return false;
      case "content":
      case "text":
        throw new Error(`unreachable: ${this.state} is scanned in bulk`);
    }
  }

  private stepChoice(ch: string): boolean {
    const choice = this.choice;
    if (choice === null) throw new Error("no delimiter expected");
    if (choice.matched === "" && isSpace(ch)) {
      if (this.state === "afterCall") this.heldSpace += ch;
      return true;
    }
    const result = choice.step(ch);
    if (result === "more") return true;
    if (result === "fail") {
      if (this.state === "section") return this.fail();
      // After a call: whatever follows is text.
      this.out.content += this.heldSpace + choice.matched;
      this.heldSpace = "";
      this.state = "text";
      return false;
    }
    this.heldSpace = "";
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
        if (result === "fail") return this.broken();
        if (result === "done") this.nextPart();
        return true;
      }
      case "name":
        if (isNameChar(ch)) {
          this.nameText += ch;
          return true;
        }
        if (this.nameText === "") return this.fail();
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
        if (result === "error") return this.broken();
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
    this.completeCall();
    this.state = "afterCall";
    this.choice = new ChoiceScanner(this.parallel ? [this.syntax.callOpen, this.syntax.sectionClose] : [this.syntax.sectionClose]);
  }

  /** The name has ended: commit the call and emit its first delta. */
  private nameKnown(): void {
    const index = this.done.length;
    const name = this.nameText;
    const id = this.syntax.idPrefix === null ? this.newId() : `${this.syntax.idPrefix}${name}:${index}`;
    this.call = { index, id, name, arguments: "" };
    this.capturing = false;
    this.pending = "";
    this.out.toolCalls.push({ index, id, name, arguments: "" });
  }

  private addArguments(text: string): void {
    const call = this.call;
    if (call === null) throw new Error("no call in progress");
    call.arguments += text;
    const last = this.out.toolCalls.at(-1);
    if (last !== undefined && last.index === call.index && last.name === undefined) last.arguments = (last.arguments ?? "") + text;
    else this.out.toolCalls.push({ index: call.index, arguments: text });
  }

  private completeCall(): void {
    const call = this.call;
    if (call === null) return;
    if (call.arguments === "") this.addArguments("{}");
    this.done.push({ id: call.id, name: call.name, arguments: call.arguments });
    this.call = null;
    this.value = null;
  }

  /** An uncommitted attempt failed: its raw text is content; rescan from here. */
  private fail(): boolean {
    this.out.content += this.pending;
    this.pending = "";
    this.capturing = false;
    this.choice = null;
    this.state = !this.parallel && this.done.length > 0 ? "text" : "content";
    return false;
  }

  /** A syntax error inside a call: before its name it was text; after, the call keeps what arrived and the rest is text. */
  private broken(): boolean {
    if (this.call === null) return this.fail();
    this.completeCall();
    this.state = "text";
    return false;
  }

  private take(): ToolCallPiece {
    const out = this.out;
    this.out = { content: "", toolCalls: [] };
    return out;
  }
}

/**
 * One delimiter, a character at a time; a run of whitespace inside it
 * matches any run of whitespace (leading and trailing whitespace is left to
 * the parts around it).
 */
export class LiteralScanner {
  private readonly pieces: string[];
  private piece = 0;
  private at = 0;
  /** Between two pieces: whitespace is being skipped. */
  private inSpace = false;

  constructor(text: string) {
    this.pieces = text.trim().split(/\s+/);
  }

  /** Some of it has been matched. */
  get started(): boolean {
    return this.piece > 0 || this.at > 0;
  }

  step(ch: string): "more" | "done" | "fail" {
    if (this.inSpace) {
      if (isSpace(ch)) return "more";
      this.inSpace = false;
    }
    const piece = this.pieces[this.piece] ?? "";
    if (ch !== piece.charAt(this.at)) return "fail";
    this.at++;
    if (this.at < piece.length) return "more";
    this.piece++;
    this.at = 0;
    if (this.piece === this.pieces.length) return "done";
    this.inSpace = true;
    return "more";
  }
}

/** Which of several delimiters follows; returns the one matched. */
export class ChoiceScanner {
  private readonly options: readonly string[];
  matched = "";

  constructor(options: readonly string[]) {
    this.options = options;
  }

  step(ch: string): "more" | "fail" | { delimiter: string } {
    const matched = this.matched + ch;
    const whole = this.options.find((o) => o === matched);
    if (whole !== undefined) return { delimiter: whole };
    if (!this.options.some((o) => o.startsWith(matched))) return "fail";
    this.matched = matched;
    return "more";
  }
}

/** Characters of a tool name. */
export function isNameChar(ch: string): boolean {
  return /[A-Za-z0-9_.-]/.test(ch);
}
