/**
 * response_format → a llama.cpp grammar that makes the output parse (and, for
 * json_schema, validate) by construction.
 *
 * The schema is compiled by our own JSON Schema → GBNF compiler
 * (json-schema/). A keyword of the vocabulary it cannot enforce is refused
 * with a 400 naming the keyword and its JSON Pointer; annotations and
 * unknown keywords are ignored.
 */
import { LlamaText, type Llama, type LlamaGrammar } from "node-llama-cpp";
import { invalidRequest, type ApiError } from "../../protocol/errors.js";
import type { ResponseFormat } from "../../protocol/chat-request.js";
import { jsonObjectGbnf } from "./json-numbers.js";
import { JsonSchemaGrammar } from "./json-schema/schema-compiler.js";
import { SchemaRefusal } from "./json-schema/schema-refusal.js";

/** A compiler refusal as the 400 a client gets, `param` naming the schema's field. */
export function refusalError(refusal: SchemaRefusal, param: string): ApiError {
  const where = refusal.pointer === "" ? "/" : refusal.pointer;
  return invalidRequest(`The JSON Schema cannot be enforced for constrained generation: ${refusal.reason} (keyword '${refusal.keyword}' at '${where}').`, param, "invalid_json_schema");
}

/** Compiles one schema into `grammar`, turning a refusal into the client's 400. */
export function addSchema(grammar: JsonSchemaGrammar, schema: unknown, param: string): string {
  try {
    return grammar.add(schema);
  } catch (err) {
    if (err instanceof SchemaRefusal) throw refusalError(err, param);
    throw err;
  }
}

/**
 * The model ends a JSON grammar's output with blank lines (node-llama-cpp's
 * convention for its JSON grammars): four newlines stop generation and the
 * trailing whitespace is trimmed.
 */
const jsonGrammarEnd = { stopGenerationTriggers: [LlamaText("\n".repeat(4))], trimWhitespaceSuffix: true } as const;
const endRule = String.raw`"\n\n\n\n" [\n]*`;

/** The GBNF text for a JSON response format (null for text): pure, so it can be cached or compiled elsewhere. */
export function responseFormatGbnf(format: ResponseFormat): string | null {
  if (format.type === "text") return null;
  if (format.type === "json_object") return jsonObjectGbnf;
  // The schema's validity was checked with the request; here only what the grammar can enforce.
  const grammar = new JsonSchemaGrammar();
  const value = addSchema(grammar, format.schema, "response_format.json_schema.schema");
  return `root ::= ${value} ${endRule}\n${grammar.grammar()}\n`;
}

export async function grammarForResponseFormat(llama: Llama, format: ResponseFormat): Promise<LlamaGrammar | null> {
  const gbnf = responseFormatGbnf(format);
  if (gbnf === null) return null;
  return llama.createGrammar({ grammar: gbnf, ...jsonGrammarEnd });
}
