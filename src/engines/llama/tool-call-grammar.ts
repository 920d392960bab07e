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

/** The text that opens a call, for syntaxes that have one. */
export function callMarker(syntax: ToolCallSyntax): string | null {
  return syntax === "hermes" ? "<tool_call>" : syntax === "mistral" ? "[TOOL_CALLS]" : null;
}

/**
 * Rules for the whole output (`afterMarker` false), or for what follows the
 * call marker once the model has written it on its own (tool_choice auto
 * with strict tools: the grammar is switched on lazily at the marker).
 */
function wrapperRules(syntax: ToolCallSyntax, parallel: boolean, afterMarker: boolean): string {
  switch (syntax) {
    default:
      throw new Error(`no tool-call grammar for syntax ${String(syntax)}`);
    case "hermes": {
      const more = parallel ? ' ("\\n" call)*' : "";
      return [
        afterMarker ? `root ::= [ \\n]* ${objectRule} "\\n</tool_call>"${more}` : `root ::= call${more}`,
        `call ::= "<tool_call>\\n" ${objectRule} "\\n</tool_call>"`,
      ].join("\n");
    }
    case "mistral": {
      const list = `"[" ${objectRule}${parallel ? ` (", " ${objectRule})*` : ""} "]"`;
      return afterMarker ? `root ::= ${list}` : `root ::= "[TOOL_CALLS]" ${list}`;
    }
    case "llama3-json":
      return `root ::= ${objectRule}${parallel ? ` ("; " ${objectRule})*` : ""}`;
  }
}

export async function toolCallGrammar(
  llama: Llama,
  tools: readonly ToolDefinition[],
  options: { onlyName: string | null; syntax: ToolCallSyntax; parallel: boolean; afterMarker: boolean },
): Promise<LlamaGrammar> {
  const allowed = tools.map((tool, index) => ({ tool, index })).filter(({ tool }) => options.onlyName === null || tool.name === options.onlyName);
  const argumentsKey = options.syntax === "llama3-json" ? "parameters" : "arguments";
  const objectGrammar = await compileSchemaGrammar(llama, callObjectSchema(allowed, argumentsKey), "tools");
  const rules = wrapperRules(options.syntax, options.parallel, options.afterMarker);
  return llama.createGrammar({ grammar: `${rules}\n${objectRules(objectGrammar.grammar)}` });
}
