/**
 * A grammar that makes the whole output one or more tool calls in the model
 * family's own syntax, for tool_choice `required` or a named tool: the name
 * is one of the allowed tools and the arguments validate against that tool's
 * schema, by construction — even from a random-weight model.
 *
 * The call object `{"name": …, "arguments": …}` is written here around the
 * rules our JSON-schema compiler makes for each tool's parameters (one
 * grammar, one rule per tool's arguments); the family's wrapper rules (its
 * markers, from `families/`) go around it.
 */
import type { Llama, LlamaGrammar } from "node-llama-cpp";
import type { ToolDefinition } from "../../protocol/chat-request.js";
import { literal } from "./json-schema/gbnf-text.js";
import { JsonSchemaGrammar } from "./json-schema/schema-compiler.js";
import type { ToolCallSyntaxDefinition, ToolCallSyntaxName } from "./families/model-family.js";
import { toolCallSyntax } from "./families/registry.js";
import { addSchema } from "./response-grammar.js";

const objectRule = "tool-call-object";

/** `{"name": "<tool>", "<argumentsKey>": <arguments>}` for each allowed tool, as alternatives of one rule. */
function callObjectRules(tools: ReadonlyArray<{ tool: ToolDefinition; index: number }>, syntax: ToolCallSyntaxDefinition): string {
  const { argumentsKey } = syntax;
  const grammar = new JsonSchemaGrammar();
  const calls = tools.map(({ tool, index }) => {
    const param = `tools[${index}].function.parameters`;
    const args = syntax.argumentsRule === undefined ? addSchema(grammar, tool.parameters, param) : syntax.argumentsRule(grammar, tool.parameters, param);
    if (syntax.callRule !== undefined) return syntax.callRule(tool.name, args);
    const name = literal(JSON.stringify(tool.name));
    return `"{" ws ${literal('"name"')} ws ":" ws ${name} ws "," ws ${literal(JSON.stringify(argumentsKey))} ws ":" ws ${args} ws "}"`;
  });
  grammar.useWhitespace();
  return `${objectRule} ::= ${calls.join(" | ")}\n${grammar.grammar()}`;
}

/** The text that opens a call, for syntaxes that have one. */
export function callMarker(syntax: ToolCallSyntaxName): string | null {
  return toolCallSyntax(syntax).callMarker;
}

/** The GBNF text of a tool-call grammar: pure, so it can be cached or compiled elsewhere. */
export function toolCallGbnf(
  tools: readonly ToolDefinition[],
  options: { onlyName: string | null; syntax: ToolCallSyntaxName; parallel: boolean; afterMarker: boolean },
): string {
  const allowed = tools.map((tool, index) => ({ tool, index })).filter(({ tool }) => options.onlyName === null || tool.name === options.onlyName);
  const syntax = toolCallSyntax(options.syntax);
  const rules = syntax.grammarRules(objectRule, { parallel: options.parallel, afterMarker: options.afterMarker });
  return `${rules}\n${syntax.callRules?.(allowed, objectRule) ?? callObjectRules(allowed, syntax)}\n`;
}

export async function toolCallGrammar(
  llama: Llama,
  tools: readonly ToolDefinition[],
  options: { onlyName: string | null; syntax: ToolCallSyntaxName; parallel: boolean; afterMarker: boolean },
): Promise<LlamaGrammar> {
  return llama.createGrammar({ grammar: toolCallGbnf(tools, options) });
}
