/**
 * The `xml` call shape: a call's arguments as one element per parameter,
 * each value raw text (Qwen3-Coder, GLM-4.5/4.6/4.7):
 *
 *   OPEN NAME_OPEN name NAME_CLOSE (KEY_OPEN key KEY_CLOSE VALUE_OPEN value VALUE_CLOSE)* CALL_END CLOSE
 *
 * e.g. `<tool_call>\n<function=f>\n<parameter=p>\nvalue\n</parameter>\n</function>\n</tool_call>`
 * or `<tool_call>f\n<arg_key>p</arg_key>\n<arg_value>value</arg_value>\n</tool_call>`,
 * or DeepSeek V3.2's DSML, several calls in one block and a string attribute
 * on each parameter: `<｜DSML｜function_calls>\n<｜DSML｜invoke name="f">\n
 * <｜DSML｜parameter name="p" string="true">value</｜DSML｜parameter>\n
 * </｜DSML｜invoke>\n</｜DSML｜function_calls>`; MiniMax-M2's `<invoke>`s share one
 * `<minimax:tool_call>` block the same way.
 * A value is converted by its parameter's schema: a string parameter keeps
 * the text (one newline either side trimmed; a JSON string literal is read
 * as the string it spells), anything else is read as JSON where it parses.
 * The arguments stream out as JSON, one parameter at a time. Its states on
 * `call-shape-parser.ts`'s skeleton; streaming-safe:
 * however the text is split the result is the same.
 */
import type { ToolDefinition } from "../../../protocol/chat-request.js";
import type { ToolCallShapeParser } from "../families/model-family.js";
import { CallShapeParser } from "./call-shape-parser.js";
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
  /**
   * Between a key and its attribute saying whether the value is a string
   * (DeepSeek V3.2: `" string="`, then `true` or `false`, in the key element):
   * `true` keeps the text, `false` reads it as JSON. Absent: the schema says.
   */
  keyAttribute?: string;
  /** After CALL_END, another call's NAME_OPEN may follow before CLOSE (DeepSeek V3.2's and MiniMax-M2's invokes in one block). */
  callsInSection?: boolean;
}

type State = "nameOpen" | "name" | "nameClose" | "body" | "key" | "valueOpen" | "value" | "close" | "sectionNext" | "between";

export class XmlCallParser extends CallShapeParser<State> implements ToolCallShapeParser {
  private readonly syntax: XmlCallSyntax;
  private readonly tools: readonly ToolDefinition[];
  private literal: LiteralScanner | null = null;
  private choice: ChoiceScanner | null = null;
  /** Text of the name, a key or a value so far. */
  private text = "";
  private key = "";
  /** The key's string attribute (`keyAttribute`), or null. */
  private stringAttribute: string | null = null;

  constructor(syntax: XmlCallSyntax, options: ToolCallParserOptions) {
    super([syntax.open], options);
    this.syntax = syntax;
    this.tools = options.tools ?? [];
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
        if (this.text === "") return this.attemptFailed();
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
        if (result === "fail") return this.callBroken();
        this.choice = null;
        this.text = "";
        if (result.delimiter === this.syntax.keyOpen) this.state = "key";
        else if (result.delimiter === this.syntax.close) this.endCall();
        else if (this.syntax.callsInSection === true) {
          this.closeCall();
          this.choice = new ChoiceScanner(this.parallel ? [this.syntax.nameOpen, this.syntax.close] : [this.syntax.close]);
          this.state = "sectionNext";
        } else {
          this.literal = new LiteralScanner(this.syntax.close);
          this.state = "close";
        }
        return true;
      }
      case "key":
        this.text += ch;
        if (this.text.endsWith(this.syntax.keyClose)) {
          const element = this.text.slice(0, -this.syntax.keyClose.length);
          const attribute = this.syntax.keyAttribute;
          const at = attribute === undefined ? -1 : element.indexOf(attribute);
          this.key = (at < 0 ? element : element.slice(0, at)).trim();
          this.stringAttribute = at < 0 || attribute === undefined ? null : element.slice(at + attribute.length).trim();
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
      case "sectionNext": {
        const choice = this.choice;
        if (choice === null) throw new Error("no element expected");
        if (choice.matched === "" && isSpace(ch)) return true;
        const result = choice.step(ch);
        if (result === "more") return true;
        this.choice = null;
        if (result === "fail") {
          this.emitContent(choice.matched);
          this.state = "text";
          return false;
        }
        if (result.delimiter === this.syntax.close) this.state = "between";
        else {
          this.text = "";
          this.state = "name";
        }
        return true;
      }
      case "between":
        return this.stepAfterCalls(ch, false);
      case "content":
      case "text":
        throw new Error(`unreachable: ${this.state} is scanned in bulk`);
    }
  }

  /** A delimiter; `skipSpace`: whitespace before it is skipped. */
  private stepLiteral(ch: string, then: () => void, skipSpace: boolean): boolean {
    const literal = this.literal;
    if (literal === null) throw new Error("no delimiter expected");
    if (skipSpace && !literal.started && isSpace(ch)) return true;
    const result = literal.step(ch);
    if (result === "fail") return this.callBroken();
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
    const text = trimNewline(raw);
    const value =
      this.stringAttribute === "true" ? text
      : this.stringAttribute === "false" ? parsedOr(text)
      : parameterValue(this.tools.find((t) => t.name === call.name)?.parameters, key, text);
    this.addArguments(`${call.arguments === "" ? "{" : ", "}${JSON.stringify(key)}: ${JSON.stringify(value)}`);
  }

  private endCall(): void {
    this.closeCall();
    this.state = "between";
  }

  protected closeCall(): void {
    const call = this.call;
    if (call === null) return;
    this.addArguments(call.arguments === "" ? "{}" : "}");
    this.recordCall();
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

/** The JSON a text spells, or the text where it spells none. */
function parsedOr(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
