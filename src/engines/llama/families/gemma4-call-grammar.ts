/**
 * The forced-call grammar of Gemma 4's call syntax (`output/gemma-call-shape.ts`):
 * `<|tool_call>call:NAME{key:value,…}<tool_call|>`, repeated for parallel
 * calls. The arguments are the tool's declared properties in declared order
 * (the required ones always, the others optionally), keys bare as the model
 * writes them, each value matching its schema:
 * - a plain string parameter (no enum, const, pattern, format or length
 *   bounds) is the model's own string, raw text between `<|"|>` delimiters
 *   (without `<`, which could open the closing delimiter);
 * - any other parameter is the JSON our schema compiler writes for it
 *   (numbers, booleans and null are spelled as Gemma spells them; strings
 *   and keys inside it in JSON's quotes), which the parser reads back as
 *   JSON.
 * Narrower than the schema, never wider: free keys of a map are not written.
 */
import { invalidRequest } from "../../../protocol/errors.js";
import { literal } from "../json-schema/gbnf-text.js";
import type { JsonSchemaGrammar } from "../json-schema/schema-compiler.js";
import { GEMMA_CALL_CLOSE, GEMMA_CALL_OPEN, GEMMA_CALL_PREFIX } from "../output/gemma-call-shape.js";
import { GEMMA_QUOTE, isKeyChar } from "../output/gemma-value.js";
import { addSchema } from "../response-grammar.js";
import { gbnfLiteral, type ToolCallSyntaxDefinition } from "./model-family.js";
import { isPlainString } from "./xml-call-grammar.js";

const GEMMA_STRING = `${gbnfLiteral(GEMMA_QUOTE)} [^<]* ${gbnfLiteral(GEMMA_QUOTE)}`;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `{key:value,…}`: the declared properties, each value matching its schema. */
export function gemmaArgumentsRule(grammar: JsonSchemaGrammar, parameters: unknown, param: string): string {
  const schema = isRecord(parameters) ? parameters : {};
  if (["$ref", "anyOf", "oneOf", "allOf", "not", "if"].some((k) => k in schema) || (schema.properties !== undefined && !isRecord(schema.properties))) {
    throw invalidRequest(
      "This model writes tool calls as Gemma key:value arguments, so a forced call needs parameters that are one object schema with 'properties'.",
      param,
      "invalid_json_schema",
    );
  }
  const properties = isRecord(schema.properties) ? schema.properties : {};
  const required = new Set(Array.isArray(schema.required) ? schema.required.filter((k): k is string => typeof k === "string") : []);
  // A property's references resolve against the parameters' own definitions.
  const shared = Object.fromEntries(["$defs", "definitions"].filter((k) => k in schema).map((k) => [k, schema[k]]));
  const items = Object.entries(properties).map(([key, sub]) => {
    const value = isPlainString(sub) ? GEMMA_STRING : addSchema(grammar, isRecord(sub) ? { ...shared, ...sub } : sub, `${param}.properties.${key}`);
    const name = key !== "" && [...key].every(isKeyChar) ? key : JSON.stringify(key);
    return { rule: `${literal(`${name}:`)} ${value}`, required: required.has(key) };
  });
  // After the first argument written, each one is `,` and the argument (optional ones maybe not);
  // the first is the first argument present: quadratic in the parameters at worst, never exponential.
  const after = (from: number): string =>
    items
      .slice(from)
      .map((item) => (item.required ? `"," ${item.rule}` : `("," ${item.rule})?`))
      .join(" ");
  let first = '""';
  for (let k = items.length - 1; k >= 0; k--) {
    const item = items[k];
    if (item === undefined) continue;
    const written = [item.rule, after(k + 1)].filter((part) => part !== "").join(" ");
    first = item.required ? `(${written})` : `(${written} | ${first})`;
  }
  return `"{" ${first} "}"`;
}

/** The grammar pieces: calls after the open marker (`callRule`), the marker around them (`grammarRules`), the arguments. */
export const gemma4Grammar: Pick<ToolCallSyntaxDefinition, "grammarRules" | "callRule" | "argumentsRule"> = {
  grammarRules(objectRule, { parallel, afterMarker }) {
    const more = parallel ? ` (${gbnfLiteral(GEMMA_CALL_OPEN)} ${objectRule})*` : "";
    return afterMarker ? `root ::= ${objectRule}${more}` : `root ::= ${gbnfLiteral(GEMMA_CALL_OPEN)} ${objectRule}${more}`;
  },
  callRule: (name, argumentsRule) => `${literal(`${GEMMA_CALL_PREFIX}${name}`)} ${argumentsRule} ${gbnfLiteral(GEMMA_CALL_CLOSE)}`,
  argumentsRule: gemmaArgumentsRule,
};
