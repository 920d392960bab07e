/**
 * Mistral's newer call form (Small 3.2, Devstral Small 1.1, Ministral 3):
 * `[TOOL_CALLS]name[ARGS]{…}`, repeated for parallel calls, with an optional
 * `[CALL_ID]id` before `[ARGS]` (Small 3.2 writes ids back into history).
 * The parser is the `marker-list` name form `mistral.ts` declares; what
 * differs from the v3 JSON list is what a forced call is written as.
 * Ministral 3 Reasoning thinks in `[THINK]…[/THINK]` before the answer (its
 * default system prompt asks for it; no switch), and its template takes past
 * thoughts back as `{type: "thinking"}` content blocks.
 */
import { mistralFamily, mistralToolCalls } from "./mistral.js";
import { gbnfLiteral, type ModelFamily, type ReasoningFormat, type ToolCallSyntaxDefinition } from "./model-family.js";

const MARKER = "[TOOL_CALLS]";
const ARGS = "[ARGS]";

export const mistralArgsToolCalls: ToolCallSyntaxDefinition = {
  ...mistralToolCalls,
  name: "mistral-args",
  grammarRules(objectRule, { parallel, afterMarker }) {
    const more = parallel ? ` (${gbnfLiteral(MARKER)} ${objectRule})*` : "";
    return afterMarker ? `root ::= ${objectRule}${more}` : `root ::= ${gbnfLiteral(MARKER)} ${objectRule}${more}`;
  },
  callRule: (name, argumentsRule) => `${gbnfLiteral(name + ARGS)} ${argumentsRule}`,
};

export const thinkBrackets: ReasoningFormat = { open: "[THINK]", close: "[/THINK]", switchVariable: null };

export const mistralArgsFamily: ModelFamily = {
  name: "mistral-args",
  description: "Mistral Small 3.2, Devstral, Ministral 3: [TOOL_CALLS]name[ARGS]{…}, [THINK] reasoning",
  detect: ({ template }) => template.includes(MARKER) && template.includes(ARGS),
  toolCalls: mistralArgsToolCalls,
  reasoning: thinkBrackets,
  callIdLength: mistralFamily.callIdLength,
  historyReasoningBlock: true,
  // [THINK] and [/THINK] are added where a template spells them (make-test-model reads its control strings).
  tokens: mistralFamily.tokens,
};
