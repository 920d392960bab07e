/**
 * A grammar that makes the whole output one or more tool calls in the model
 * family's own syntax, for tool_choice `required` or a named tool: the name
 * is one of the allowed tools and the arguments validate against that tool's
 * schema, by construction — even from a random-weight model.
 *
 * The call object `{"name": …, "arguments": …}` is written here around the
 * rules our JSON-schema compiler makes for each tool's parameters (one
 * grammar, one rule per tool's arguments); the family's markers are wrapped
 * around it.
 */
import type { Llama, LlamaGrammar } from "node-llama-cpp";
import type { ToolDefinition } from "../../protocol/chat-request.js";
import { literal } from "./json-schema/gbnf-text.js";
import { JsonSchemaGrammar } from "./json-schema/schema-compiler.js";
import type { ToolCallSyntax } from "./output/tool-call-parser.js";
import { addSchema } from "./response-grammar.js";

const objectRule = "tool-call-object";

/** `{"name": "<tool>", "<argumentsKey>": <arguments>}` for each allowed tool, as alternatives of one rule. */
function callObjectRules(tools: ReadonlyArray<{ tool: ToolDefinition; index: number }>, argumentsKey: string): string {
  const grammar = new JsonSchemaGrammar();
  const calls = tools.map(({ tool, index }) => {
    const args = addSchema(grammar, tool.parameters, `tools[${index}].function.parameters`);
    const name = literal(JSON.stringify(tool.name));
    return `"{" ws ${literal('"name"')} ws ":" ws ${name} ws "," ws ${literal(JSON.stringify(argumentsKey))} ws ":" ws ${args} ws "}"`;
  });
  grammar.useWhitespace();
  return `${objectRule} ::= ${calls.join(" | ")}\n${grammar.grammar()}`;
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

/** The GBNF text of a tool-call grammar: pure, so it can be cached or compiled elsewhere. */
export function toolCallGbnf(
  tools: readonly ToolDefinition[],
  options: { onlyName: string | null; syntax: ToolCallSyntax; parallel: boolean; afterMarker: boolean },
): string {
  const allowed = tools.map((tool, index) => ({ tool, index })).filter(({ tool }) => options.onlyName === null || tool.name === options.onlyName);
  const argumentsKey = options.syntax === "llama3-json" ? "parameters" : "arguments";
  return `${wrapperRules(options.syntax, options.parallel, options.afterMarker)}\n${callObjectRules(allowed, argumentsKey)}\n`;
}

export async function toolCallGrammar(
  llama: Llama,
  tools: readonly ToolDefinition[],
  options: { onlyName: string | null; syntax: ToolCallSyntax; parallel: boolean; afterMarker: boolean },
): Promise<LlamaGrammar> {
  return llama.createGrammar({ grammar: toolCallGbnf(tools, options) });
}
