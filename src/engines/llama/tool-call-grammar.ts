/**
 * A grammar that makes the whole output one or more tool calls in the model
 * family's own syntax, for tool_choice `required` or a named tool: the name
 * is one of the allowed tools and the arguments validate against that tool's
 * schema, by construction — even from a random-weight model.
 *
 * The call object `{"name": …, "arguments": …}` is compiled by node-llama-cpp's
 * JSON-schema grammar compiler; the family's wrapper rules (its markers, from
 * `families/`) go around it.
 */
import type { Llama, LlamaGrammar } from "node-llama-cpp";
import type { ToolDefinition } from "../../protocol/chat-request.js";
import type { ToolCallSyntaxName } from "./families/model-family.js";
import { toolCallSyntax } from "./families/registry.js";
import { compileSchemaGrammar, grammarSchema } from "./response-grammar.js";

const objectRule = "tool-call-object";

function callObjectSchema(tools: ReadonlyArray<{ tool: ToolDefinition; index: number }>, argumentsKey: string): unknown {
  const alternatives = tools.map(({ tool, index }) => ({
    type: "object",
    properties: {
      name: { const: tool.name },
      [argumentsKey]: grammarSchema(tool.parameters, `tools[${index}].function.parameters`),
    },
    required: ["name", argumentsKey],
    additionalProperties: false,
  }));
  return alternatives.length === 1 ? alternatives[0] : { oneOf: alternatives };
}

/** The compiler's root ends in free trailing newlines (its stop trigger); we need the bare object. */
function objectRules(grammar: string): string {
  const lines = grammar.split("\n");
  const rootIndex = lines.findIndex((line) => line.startsWith("root ::= "));
  const root = lines[rootIndex];
  const match = root === undefined ? null : /^root ::= (.*?)(?: "\\n\\n\\n\\n" \[\\n\]\*)?$/.exec(root);
  if (match === null || match[1] === undefined) throw new Error(`unexpected JSON grammar shape: ${root ?? "<no root>"}`);
  lines[rootIndex] = `${objectRule} ::= ${match[1]}`;
  return lines.join("\n");
}

/** The text that opens a call, for syntaxes that have one. */
export function callMarker(syntax: ToolCallSyntaxName): string | null {
  return toolCallSyntax(syntax).callMarker;
}

export async function toolCallGrammar(
  llama: Llama,
  tools: readonly ToolDefinition[],
  options: { onlyName: string | null; syntax: ToolCallSyntaxName; parallel: boolean; afterMarker: boolean },
): Promise<LlamaGrammar> {
  const allowed = tools.map((tool, index) => ({ tool, index })).filter(({ tool }) => options.onlyName === null || tool.name === options.onlyName);
  const syntax = toolCallSyntax(options.syntax);
  const objectGrammar = await compileSchemaGrammar(llama, callObjectSchema(allowed, syntax.argumentsKey), "tools");
  const rules = syntax.grammarRules(objectRule, { parallel: options.parallel, afterMarker: options.afterMarker });
  return llama.createGrammar({ grammar: `${rules}\n${objectRules(objectGrammar.grammar)}` });
}
