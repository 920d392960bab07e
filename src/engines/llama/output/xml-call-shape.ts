/**
 * The `xml` call shape: a call's arguments as one element per parameter,
 * each value raw text (Qwen3-Coder, GLM-4.5/4.6/4.7):
 *
 *   OPEN NAME_OPEN name NAME_CLOSE (KEY_OPEN key KEY_CLOSE VALUE_OPEN value VALUE_CLOSE)* CALL_END CLOSE
 *
 * e.g. `<tool_call>\n<function=f>\n<parameter=p>\nvalue\n</parameter>\n</function>\n</tool_call>`
 * or `<tool_call>f\n<arg_key>p</arg_key>\n<arg_value>value</arg_value>\n</tool_call>`;
 * with `sharedBlock`, several calls in one OPEN … CLOSE (MiniMax-M2:
 * `<minimax:tool_call>\n<invoke name="f">…</invoke>\n<invoke name="g">…</invoke>\n</minimax:tool_call>`).
 * A value is converted by its parameter's schema: a string parameter keeps
 * the text (one newline either side trimmed; a JSON string literal is read
 * as the string it spells), anything else is read as JSON where it parses.
 * The arguments stream out as JSON, one parameter at a time. Its states on
 * `call-shape-parser.ts`'s skeleton; streaming-safe:
 * however the text is split the result is the same.
 */
import type { ToolDefinition } from "../../../protocol/chat-request.js";
import type { ToolCallShapeParser } from "../families/model-family.js";
import { CallShapeParser, type ToolCallPiece } from "./call-shape-parser.js";
import { ChoiceScanner, LiteralScanner, isNameChar, isSpace } from "./marker-scanner.js";
import type { ToolCallParserOptions } from "./tool-call-parser.js";

export interface XmlCallSyntax {
  open: string;
  close: string;
  /** Before the name (`<function=`; "" where the name follows OPEN). */
  nameOpen: string;
  /** After the name (`>`; "" where whitespace or the first key follows). */
  nameClose: string;
  keyOpen: string;
  keyClose: string;
  /** Before a value (`<arg_value>`; "" where it follows the key at once). */
  valueOpen: string;
  valueClose: string;
  /** After the last parameter, before CLOSE (`</function>`; "" for none). */
  callEnd: string;
  /** Calls share one OPEN … CLOSE block: after CALL_END, NAME_OPEN starts the next call (MiniMax-M2's `<invoke>`s). */
  sharedBlock?: boolean;
}

type State = "nameOpen" | "name" | "nameClose" | "body" | "key" | "valueOpen" | "value" | "close" | "next" | "between";

export class XmlCallParser extends CallShapeParser<State> implements ToolCallShapeParser {
  private readonly syntax: XmlCallSyntax;
  private readonly tools: readonly ToolDefinition[];
  private literal: LiteralScanner | null = null;
  private choice: ChoiceScanner | null = null;
  /** Text of the name, a key or a value so far. */
  private text = "";
  private key = "";

  constructor(syntax: XmlCallSyntax, options: ToolCallParserOptions) {
    super([syntax.open], options);
    this.syntax = syntax;
    this.tools = options.tools ?? [];
  }

  finish(): ToolCallPiece {
    if (this.call !== null) this.completeCall();
    else if (this.capturing) this.emitContent(this.pending);
    else this.releaseHeldMarker();
    this.resetTo("text");
    return this.take();
  }

  protected markerFound(): void {
    this.text = "";
    this.literal = this.syntax.nameOpen === "" ? null : new LiteralScanner(this.syntax.nameOpen);
    this.state = this.literal === null ? "name" : "nameOpen";
  }

  protected step(ch: string): boolean {
    switch (this.state) {
      case "nameOpen":
        return this.stepLiteral(ch, () => (this.state = "name"), true);
      case "name":
        if (this.text === "" && isSpace(ch)) return true;
        if (isNameChar(ch)) {
          this.text += ch;
          return true;
        }
        if (this.text === "") return this.fail();
        this.nameKnown(this.text);
        this.toBody(this.syntax.nameClose);
        return false;
      case "nameClose":
        return this.stepLiteral(ch, () => this.toBody(""), false);
      case "body": {
        const choice = this.choice;
        if (choice === null) throw new Error("no element expected");
        if (choice.matched === "" && isSpace(ch)) return true;
        const result = choice.step(ch);
        if (result === "more") return true;
        if (result === "fail") return this.broken();
        this.choice = null;
        this.text = "";
        if (result.delimiter === this.syntax.keyOpen) this.state = "key";
        else if (result.delimiter === this.syntax.close) this.endCall();
        else if (this.syntax.sharedBlock === true) {
          this.choice = new ChoiceScanner([this.syntax.nameOpen, this.syntax.close]);
          this.state = "next";
        } else {
          this.literal = new LiteralScanner(this.syntax.close);
          this.state = "close";
        }
        return true;
      }
      case "next":
        return this.stepNext(ch);
      case "key":
        this.text += ch;
        if (this.text.endsWith(this.syntax.keyClose)) {
          this.key = this.text.slice(0, -this.syntax.keyClose.length).trim();
          this.text = "";
          this.literal = this.syntax.valueOpen === "" ? null : new LiteralScanner(this.syntax.valueOpen);
          this.state = this.literal === null ? "value" : "valueOpen";
        }
        return true;
      case "valueOpen":
        return this.stepLiteral(ch, () => (this.state = "value"), true);
      case "value":
        this.text += ch;
        if (this.text.endsWith(this.syntax.valueClose)) {
          this.addParameter(this.key, this.text.slice(0, -this.syntax.valueClose.length));
          this.text = "";
          this.toBody("");
        }
        return true;
      case "close":
        return this.stepLiteral(ch, () => this.endCall(), true);
      case "between":
        return this.stepAfterCalls(ch, false);
      case "content":
      case "text":
        throw new Error(`unreachable: ${this.state} is scanned in bulk`);
    }
  }

  /** After a call in a shared block: the next call's NAME_OPEN, or CLOSE (whitespace before either skipped). */
  private stepNext(ch: string): boolean {
    const choice = this.choice;
    if (choice === null) throw new Error("no delimiter expected");
    if (choice.matched === "" && isSpace(ch)) return true;
    const result = choice.step(ch);
    if (result === "more") return true;
    if (result === "fail") return this.broken();
    this.choice = null;
    if (result.delimiter === this.syntax.close) {
      this.endCall();
      return true;
    }
    this.completeCall();
    if (this.onlyTextFollows) {
      // Without parallel calls the block's next call is text.
      this.emitContent(result.delimiter);
      this.state = "text";
      return true;
    }
    this.text = "";
    this.state = "name";
    return true;
  }

  /** A delimiter; `skipSpace`: whitespace before it is skipped. */
  private stepLiteral(ch: string, then: () => void, skipSpace: boolean): boolean {
    const literal = this.literal;
    if (literal === null) throw new Error("no delimiter expected");
    if (skipSpace && !literal.started && isSpace(ch)) return true;
    const result = literal.step(ch);
    if (result === "fail") return this.broken();
    if (result === "done") {
      this.literal = null;
      then();
    }
    return true;
  }

  private toBody(nameClose: string): void {
    if (nameClose !== "") {
      this.literal = new LiteralScanner(nameClose);
      this.state = "nameClose";
      return;
    }
    const { keyOpen, callEnd, close } = this.syntax;
    this.choice = new ChoiceScanner([keyOpen, callEnd === "" ? close : callEnd]);
    this.state = "body";
  }

  private nameKnown(name: string): void {
    this.openCall(name);
  }

  private addParameter(key: string, raw: string): void {
    const call = this.call;
    if (call === null) throw new Error("no call in progress");
    const value = parameterValue(this.tools.find((t) => t.name === call.name)?.parameters, key, trimNewline(raw));
    this.addArguments(`${call.arguments === "" ? "{" : ", "}${JSON.stringify(key)}: ${JSON.stringify(value)}`);
  }

  private endCall(): void {
    this.completeCall();
    this.state = "between";
  }

  private completeCall(): void {
    const call = this.call;
    if (call === null) return;
    this.addArguments(call.arguments === "" ? "{}" : "}");
    this.recordCall();
  }

  private fail(): boolean {
    this.releaseAttempt();
    this.literal = null;
    this.state = this.onlyTextFollows ? "text" : "content";
    return false;
  }

  /** Before the name, the attempt was text; after it, the call keeps the parameters that arrived and the rest is text. */
  private broken(): boolean {
    if (this.call === null) return this.fail();
    this.completeCall();
    this.literal = null;
    this.choice = null;
    this.state = "text";
    return false;
  }
}

function trimNewline(raw: string): string {
  let value = raw;
  if (value.startsWith("\n")) value = value.slice(1);
  if (value.endsWith("\n")) value = value.slice(0, -1);
  return value;
}

/** The schema of one parameter of a tool, if declared. */
export function parameterSchema(parameters: unknown, key: string): unknown {
  if (typeof parameters !== "object" || parameters === null) return undefined;
  const properties = (parameters as { properties?: unknown }).properties;
  if (typeof properties !== "object" || properties === null || !Object.hasOwn(properties, key)) return undefined;
  return (properties as Record<string, unknown>)[key];
}

/** A schema whose values are only strings. */
export function isStringSchema(schema: unknown): boolean {
  if (typeof schema !== "object" || schema === null) return false;
  const { type, enum: values, const: constant } = schema as { type?: unknown; enum?: unknown; const?: unknown };
  if (type === "string") return true;
  if (Array.isArray(type)) return type.length > 0 && type.every((t) => t === "string");
  if (type === undefined && Array.isArray(values)) return values.length > 0 && values.every((v) => typeof v === "string");
  return type === undefined && typeof constant === "string";
}

/** A raw value as its parameter's type: strings stay text, other types are read as JSON where they parse. */
function parameterValue(parameters: unknown, key: string, raw: string): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw) as unknown;
  } catch {
    parsed = undefined;
  }
  if (isStringSchema(parameterSchema(parameters, key))) return typeof parsed === "string" ? parsed : raw;
  return parsed === undefined ? raw : parsed;
}
