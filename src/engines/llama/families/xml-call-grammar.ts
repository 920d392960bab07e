/**
 * The forced-call grammar of the `xml` call shape (Qwen3-Coder, GLM): one
 * element per declared parameter, in declared order (the required ones
 * always, the others optionally), each value matching its schema:
 * - a plain string parameter (no enum, const, pattern, format or length
 *   bounds) is raw text without `<` (that would open the closing tag) that
 *   does not start with `"` (which the parser would read as a JSON string);
 * - any other parameter is the JSON our schema compiler writes for it, which
 *   the parser reads back as JSON (a string parameter's JSON literal as the
 *   string it spells).
 * Narrower than the schema, never wider: free keys of a map are not written.
 */
import type { JsonSchemaGrammar } from "../json-schema/schema-compiler.js";
import { literal } from "../json-schema/gbnf-text.js";
import { addSchema } from "../response-grammar.js";
import type { XmlCallSyntax } from "../output/xml-call-shape.js";
import { gbnfLiteral, type ToolCallSyntaxDefinition } from "./model-family.js";

const PLAIN_TEXT = String.raw`([^<"\x0A] [^<]*)?`;
const ANNOTATIONS = new Set(["type", "description", "title", "examples", "default", "$comment"]);

/** A string parameter with nothing that narrows it (a model's own raw-text string can write it). */
export function isPlainString(schema: unknown): boolean {
  if (typeof schema !== "object" || schema === null) return false;
  const entries = Object.entries(schema);
  return (schema as { type?: unknown }).type === "string" && entries.every(([key]) => ANNOTATIONS.has(key) || key.startsWith("x-"));
}

/** One parameter element around its value rule (`plain`: the value is raw text, not JSON). */
export type XmlParameter = (key: string, valueRule: string, plain: boolean) => string;

/** The arguments of one call as parameter elements, for `argumentsRule`. */
export function xmlArgumentsRule(parameter: XmlParameter): NonNullable<ToolCallSyntaxDefinition["argumentsRule"]> {
  return (grammar: JsonSchemaGrammar, parameters: unknown, param: string): string => {
    const schema = typeof parameters === "object" && parameters !== null ? (parameters as Record<string, unknown>) : {};
    const properties = typeof schema.properties === "object" && schema.properties !== null ? (schema.properties as Record<string, unknown>) : {};
    const required = new Set(Array.isArray(schema.required) ? schema.required.filter((k): k is string => typeof k === "string") : []);
    // A property's references resolve against the parameters' own definitions.
    const shared = { ...(schema.$defs === undefined ? {} : { $defs: schema.$defs }), ...(schema.definitions === undefined ? {} : { definitions: schema.definitions }) };
    const elements = Object.entries(properties).map(([key, sub]) => {
      const plain = isPlainString(sub);
      const value = plain
        ? PLAIN_TEXT
        : addSchema(grammar, typeof sub === "object" && sub !== null ? { ...shared, ...sub } : sub, `${param}.properties.${key}`);
      const element = parameter(key, value, plain);
      return required.has(key) ? element : `(${element})?`;
    });
    return elements.length === 0 ? '""' : elements.join(" ");
  };
}

/** The grammar pieces of an XML syntax: calls after OPEN (`callRule`), and OPEN around them (`grammarRules`). */
export function xmlGrammar(syntax: XmlCallSyntax, parameter: XmlParameter, separator: string): Pick<ToolCallSyntaxDefinition, "grammarRules" | "callRule" | "argumentsRule"> {
  const end = syntax.callEnd === "" ? syntax.close : `${syntax.callEnd}\n${syntax.close}`;
  return {
    grammarRules(objectRule, { parallel, afterMarker }) {
      const more = parallel ? ` (${gbnfLiteral(separator + syntax.open)} ${objectRule})*` : "";
      return afterMarker ? `root ::= ${objectRule}${more}` : `root ::= ${gbnfLiteral(syntax.open)} ${objectRule}${more}`;
    },
    callRule: (name, argumentsRule) => `${literal(`${syntax.nameOpen === "" ? "" : "\n"}${syntax.nameOpen}${name}${syntax.nameClose}\n`)} ${argumentsRule} ${literal(end)}`,
    argumentsRule: xmlArgumentsRule(parameter),
  };
}

/** `<parameter=KEY>\nVALUE\n</parameter>\n` */
export const qwenParameter: XmlParameter = (key, value) => `${literal(`<parameter=${key}>\n`)} ${value} ${literal("\n</parameter>\n")}`;
/** `<arg_key>KEY</arg_key>\n<arg_value>VALUE</arg_value>\n` */
export const glmParameter: XmlParameter = (key, value) => `${literal(`<arg_key>${key}</arg_key>\n<arg_value>`)} ${value} ${literal("</arg_value>\n")}`;
