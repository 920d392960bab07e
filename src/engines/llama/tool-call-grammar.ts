/**
 * A grammar that makes the whole output one or more tool calls in the model
 * family's own syntax, for tool_choice `required` or a named tool: the name
 * is one of the allowed tools and the arguments validate against that tool's
 * schema, by construction — even from a random-weight model.
 *
 * The call object `{"name": …, "arguments": …}` is compiled by node-llama-cpp's
 * JSON-schema grammar compiler; the family's markers are wrapped around it.
 */
import type { Llama, LlamaGrammar } from "node-llama-cpp";
import type { ToolDefinition } from "../../protocol/chat-request.js";
import type { ToolCallSyntax } from "./output/tool-call-parser.js";
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

function wrapperRules(syntax: ToolCallSyntax, parallel: boolean): string {
  switch (syntax) {
    default:
      throw new Error(`no tool-call grammar for syntax ${String(syntax)}`);
    case "hermes":
      return [
        `root ::= call${parallel ? ' ("\\n" call)*' : ""}`,
        `call ::= "<tool_call>\\n" ${objectRule} "\\n</tool_call>"`,
      ].join("\n");
    case "mistral":
      return `root ::= "[TOOL_CALLS][" ${objectRule}${parallel ? ` (", " ${objectRule})*` : ""} "]"`;
    case "llama3-json":
      return `root ::= ${objectRule}${parallel ? ` ("; " ${objectRule})*` : ""}`;
  }
}

export async function toolCallGrammar(
  llama: Llama,
  tools: readonly ToolDefinition[],
  onlyName: string | null,
  syntax: ToolCallSyntax,
  parallel: boolean,
): Promise<LlamaGrammar> {
  const allowed = tools.map((tool, index) => ({ tool, index })).filter(({ tool }) => onlyName === null || tool.name === onlyName);
  const argumentsKey = syntax === "llama3-json" ? "parameters" : "arguments";
  const objectGrammar = await compileSchemaGrammar(llama, callObjectSchema(allowed, argumentsKey), "tools");
  return llama.createGrammar({ grammar: `${wrapperRules(syntax, parallel)}\n${objectRules(objectGrammar.grammar)}` });
}
