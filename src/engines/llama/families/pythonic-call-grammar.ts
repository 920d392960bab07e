/**
 * The grammar of a forced pythonic call (`[name(key=value, …), …]`, see
 * `output/pythonic-call-shape.ts`): the wrapper rules around the list, and
 * one call per allowed tool whose keyword arguments are the tool's declared
 * properties (required ones always, optional ones in declaration order), each
 * value compiled from its property's schema by our JSON Schema compiler and
 * written as a Python literal. JSON and Python literals agree (strings in
 * double quotes with JSON escapes, numbers, lists, dicts) except for
 * `true`/`false`/`null`, which are spelled `True`/`False`/`None` here.
 */
import type { ToolDefinition } from "../../../protocol/chat-request.js";
import { invalidRequest } from "../../../protocol/errors.js";
import { literal } from "../json-schema/gbnf-text.js";
import { JsonSchemaGrammar } from "../json-schema/schema-compiler.js";
import { addSchema } from "../response-grammar.js";
import { gbnfLiteral, type ToolCallSyntaxDefinition } from "./model-family.js";

/** `[call, …]`, between the open and close markers where the family has them. */
export function pythonicListGrammar(open: string | null, close: string | null): ToolCallSyntaxDefinition["grammarRules"] {
  return (objectRule, { parallel, afterMarker }) => {
    const list = `"[" ${objectRule}${parallel ? ` (", " ${objectRule})*` : ""} "]"`;
    const before = open === null || afterMarker ? "" : `${gbnfLiteral(open)} `;
    const after = close === null ? "" : ` ${gbnfLiteral(close)}`;
    return `root ::= ${before}${list}${after}`;
  };
}

const PYTHON_WORDS: Readonly<Record<string, string>> = { '"true"': '"True"', '"false"': '"False"', '"null"': '"None"' };

/** A compiled JSON grammar with its JSON literals in Python spelling (`"\"true\""`, a string, is left alone). */
function pythonLiterals(gbnf: string): string {
  return gbnf.replace(/(?<![\\\w])"(true|false|null)"/g, (match) => PYTHON_WORDS[match] ?? match);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `objectRule ::= name "(" keyword arguments ")"` for each allowed tool, and the rules of their values. */
export function pythonicCallRules(tools: ReadonlyArray<{ tool: ToolDefinition; index: number }>, objectRule: string): string {
  const grammar = new JsonSchemaGrammar();
  const rules: string[] = [];
  const calls = tools.map(({ tool, index }) => {
    const param = `tools[${index}].function.parameters`;
    const schema = tool.parameters;
    const properties = isRecord(schema) && isRecord(schema.properties) ? schema.properties : isRecord(schema) && schema.properties === undefined ? {} : null;
    if (!isRecord(schema) || properties === null || ["$ref", "anyOf", "oneOf", "allOf", "not", "if"].some((k) => k in schema)) {
      throw invalidRequest(
        "This model writes tool calls as Python keyword arguments, so a forced call needs parameters that are one object schema with 'properties'.",
        param,
        "invalid_json_schema",
      );
    }
    const required = new Set(Array.isArray(schema.required) ? schema.required.filter((k): k is string => typeof k === "string") : []);
    // Definitions the properties may point at stay reachable from each property's own document.
    const defs = Object.fromEntries(["$defs", "definitions"].filter((k) => k in schema).map((k) => [k, schema[k]]));
    const items = Object.entries(properties).map(([key, propertySchema]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
        throw invalidRequest(`The parameter name '${key}' is not a Python identifier, so this model cannot pass it as a keyword argument.`, param, "invalid_json_schema");
      }
      const document = isRecord(propertySchema) ? { ...defs, ...propertySchema } : propertySchema;
      const value = addSchema(grammar, document, `${param}.properties.${key}`);
      return { rule: `${literal(`${key}=`)} ${value}`, required: required.has(key) };
    });
    // a{k}f: the arguments from k on with none written yet; a{k}n: after one was written (so a ", " comes first).
    const base = `pycall-${index}`;
    rules.push(`${base}-a${items.length}f ::= ""`, `${base}-a${items.length}n ::= ""`);
    for (let k = items.length - 1; k >= 0; k--) {
      const item = items[k];
      if (item === undefined) continue;
      const first = `${item.rule} ${base}-a${k + 1}n`;
      const later = `", " ${item.rule} ${base}-a${k + 1}n`;
      rules.push(`${base}-a${k}f ::= ${first}${item.required ? "" : ` | ${base}-a${k + 1}f`}`);
      rules.push(`${base}-a${k}n ::= ${later}${item.required ? "" : ` | ${base}-a${k + 1}n`}`);
    }
    return `${literal(`${tool.name}(`)} ${base}-a0f ")"`;
  });
  grammar.useWhitespace();
  return [`${objectRule} ::= ${calls.join(" | ")}`, ...rules, pythonLiterals(grammar.grammar())].join("\n");
}

/** A JSON value as a Python literal (strings in JSON's double-quoted form, which Python reads the same). */
export function pythonLiteral(value: unknown): string {
  if (value === true) return "True";
  if (value === false) return "False";
  if (value === null || value === undefined) return "None";
  if (Array.isArray(value)) return `[${value.map(pythonLiteral).join(", ")}]`;
  if (typeof value === "object") return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${pythonLiteral(v)}`).join(", ")}}`;
  return JSON.stringify(value);
}

/** `[name(key=value, …), …]` for calls whose arguments are JSON text (an argument that is no JSON object is passed as `arguments=`). */
export function pythonicCallList(calls: ReadonlyArray<{ name: string; arguments: string }>): string {
  const one = ({ name, arguments: text }: { name: string; arguments: string }): string => {
    let args: unknown;
    try {
      args = JSON.parse(text) as unknown;
    } catch {
      args = { arguments: text };
    }
    const entries = isRecord(args) ? Object.entries(args) : [["arguments", args] as const];
    return `${name}(${entries.map(([k, v]) => `${k}=${pythonLiteral(v)}`).join(", ")})`;
  };
  return `[${calls.map(one).join(", ")}]`;
}
