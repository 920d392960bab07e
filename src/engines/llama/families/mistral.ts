/**
 * Mistral: `[TOOL_CALLS][{"name": …, "arguments": {…}}, …]` (v3 / NeMo, Small
 * 3.1) or `[TOOL_CALLS]name[ARGS]{…}` with an optional `[CALL_ID]id` before
 * `[ARGS]` (Small 3.2, Devstral, Ministral 3), repeated. Results come back in
 * `[TOOL_RESULTS]…[/TOOL_RESULTS]`, which the template writes.
 */
import { gbnfLiteral, type ModelFamily, type ToolCallSyntaxDefinition } from "./model-family.js";

const MARKER = "[TOOL_CALLS]";

/** A forced call as `MARKER[{…}, …]`, the form every marker-list family reads. */
export function markerListGrammar(marker: string): ToolCallSyntaxDefinition["grammarRules"] {
  return (objectRule, { parallel, afterMarker }) => {
    const list = `"[" ${objectRule}${parallel ? ` (", " ${objectRule})*` : ""} "]"`;
    return afterMarker ? `root ::= ${list}` : `root ::= ${gbnfLiteral(marker)} ${list}`;
  };
}

export const mistralToolCalls: ToolCallSyntaxDefinition = {
  name: "mistral",
  shape: { kind: "marker-list", marker: MARKER, nameForm: { argsTag: "[ARGS]", callIdTag: "[CALL_ID]" } },
  argumentsKey: "arguments",
  callMarker: MARKER,
  grammarRules: markerListGrammar(MARKER),
};

export const mistralFamily: ModelFamily = {
  name: "mistral",
  description: "Mistral v3/v7/v11/v13: [TOOL_CALLS] JSON list or name[ARGS]{…}",
  detect: ({ template }) => template.includes(MARKER),
  toolCalls: mistralToolCalls,
  reasoning: null,
  // NeMo and Small 3.2 templates raise unless an id is exactly 9 characters; Small 3.1 keeps the last 9.
  callIdLength: 9,
  tokens: {
    special: [
      "<s>", "</s>", "[INST]", "[/INST]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]",
      MARKER, "[CALL_ID]", "[ARGS]", "[TOOL_RESULTS]", "[TOOL_CONTENT]", "[/TOOL_RESULTS]", "[IMG]",
    ],
    bos: "<s>",
    eos: "</s>",
    addBos: true,
  },
};
