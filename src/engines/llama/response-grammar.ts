/**
 * response_format → a llama.cpp grammar that makes the output parse (and, for
 * json_schema, validate) by construction.
 *
 * node-llama-cpp compiles a subset of JSON Schema to GBNF. A keyword outside
 * that subset would be silently ignored and the output could then violate the
 * schema, so such schemas are refused with a 400 that names the keyword.
 */
import { LlamaText, type Llama, type LlamaGrammar } from "node-llama-cpp";
import { invalidRequest } from "../../protocol/errors.js";
import type { ResponseFormat } from "../../protocol/chat-request.js";
import { jsonObjectGbnf, withFiniteNumbers } from "./json-numbers.js";

/** Keywords the grammar compiler enforces (or that only annotate). */
const supportedKeywords = new Set([
  "type", "properties", "required", "additionalProperties", "enum", "const", "oneOf", "anyOf",
  "items", "prefixItems", "minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties",
  "format", "$defs", "definitions", "$ref", "$schema", "$id", "$comment",
  "title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly",
]);
const supportedFormats = new Set(["date", "time", "date-time"]);
const schemaMapKeywords = new Set(["properties", "$defs", "definitions"]);
const schemaListKeywords = new Set(["oneOf", "anyOf", "prefixItems"]);

function refuse(message: string, param: string): never {
  throw invalidRequest(message, param, "invalid_json_schema");
}

/**
 * Walks a JSON Schema, refusing (400, naming `param`) what the grammar cannot
 * enforce; returns a copy the grammar compiler understands.
 */
export function grammarSchema(schema: unknown, param: string): unknown {
  return toGrammarSchema(schema, "", param);
}

function toGrammarSchema(node: unknown, pointer: string, param: string): unknown {
  if (typeof node === "boolean") {
    if (node) return {};
    refuse(`The schema 'false' at '${pointer || "/"}' can never be satisfied.`, param);
  }
  if (typeof node !== "object" || node === null || Array.isArray(node)) {
    refuse(`Expected a schema object at '${pointer || "/"}'.`, param);
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    const at = `${pointer}/${key}`;
    if (!supportedKeywords.has(key)) {
      refuse(`The JSON Schema keyword '${key}' at '${at}' is not supported for constrained generation.`, param);
    }
    if (key === "format" && (typeof value !== "string" || !supportedFormats.has(value))) {
      refuse(`The format '${String(value)}' at '${at}' is not supported (supported: date, time, date-time).`, param);
    }
    if (key === "$ref" && (typeof value !== "string" || !/^#\/(\$defs|definitions)\/[^/]+$/.test(value))) {
      refuse(`Only local references of the form '#/$defs/<name>' are supported ('${String(value)}' at '${at}').`, param);
    }
    if (schemaMapKeywords.has(key) && typeof value === "object" && value !== null) {
      const mapped: Record<string, unknown> = {};
      for (const [name, sub] of Object.entries(value)) mapped[name] = toGrammarSchema(sub, `${at}/${name}`, param);
      out[key === "definitions" ? "$defs" : key] = mapped;
    } else if (schemaListKeywords.has(key) && Array.isArray(value)) {
      // anyOf is generated as oneOf: the output matches the alternative it was generated from.
      out[key === "anyOf" ? "oneOf" : key] = value.map((sub, i) => toGrammarSchema(sub, `${at}/${i}`, param));
    } else if ((key === "items" || key === "additionalProperties") && typeof value === "object" && value !== null) {
      out[key] = toGrammarSchema(value, at, param);
    } else if (key === "$ref" && typeof value === "string") {
      out[key] = value.replace("#/definitions/", "#/$defs/");
    } else {
      out[key] = value;
    }
  }
  return out;
}

/**
 * The model ends a JSON grammar's output with blank lines (node-llama-cpp's
 * convention for its JSON grammars): four newlines stop generation and the
 * trailing whitespace is trimmed.
 */
const jsonGrammarEnd = { stopGenerationTriggers: [LlamaText("\n".repeat(4))], trimWhitespaceSuffix: true } as const;

/**
 * Compile a (checked) JSON Schema to a grammar whose numbers are finite and
 * whose integers are digits only; the library types schemas known at compile
 * time, ours arrive as JSON.
 */
export async function compileSchemaGrammar(llama: Llama, schema: unknown, param: string): Promise<LlamaGrammar> {
  const compile = llama.createGrammarForJsonSchema.bind(llama) as unknown as (schema: unknown) => Promise<LlamaGrammar>;
  let compiled: LlamaGrammar;
  try {
    compiled = await compile(schema);
  } catch (err) {
    refuse(`The JSON Schema cannot be compiled to a grammar: ${err instanceof Error ? err.message : String(err)}`, param);
  }
  return llama.createGrammar({ grammar: withFiniteNumbers(compiled.grammar), ...jsonGrammarEnd });
}

export async function grammarForResponseFormat(llama: Llama, format: ResponseFormat): Promise<LlamaGrammar | null> {
  if (format.type === "text") return null;
  if (format.type === "json_object") return llama.createGrammar({ grammar: jsonObjectGbnf, ...jsonGrammarEnd });
  // The schema's validity was checked with the request; here only what the grammar can enforce.
  const param = "response_format.json_schema.schema";
  return compileSchemaGrammar(llama, grammarSchema(format.schema, param), param);
}
