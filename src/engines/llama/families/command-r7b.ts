/**
 * Cohere Command R7B: a tool plan `<|START_THINKING|>…<|END_THINKING|>`
 * (the thought), then either calls
 * `<|START_ACTION|>[{"tool_call_id": "0", "tool_name": …, "parameters": {…}}, …]<|END_ACTION|>`
 * or an answer `<|START_RESPONSE|>…<|END_RESPONSE|>`. The response and
 * end-of-action tokens are control tokens the parsers never see (decoding
 * hides them), so the answer is what is between them. Calls are the
 * `marker-list` shape (the parser reads `tool_name` as a call's name);
 * results go back in a system turn's `<|START_TOOL_RESULT|>` list, which the
 * template writes, and a call turn's thought as the message field `tool_plan`.
 */
import { markerListGrammar } from "./mistral.js";
import { gbnfLiteral, type ModelFamily, type ReasoningFormat, type ToolCallSyntaxDefinition } from "./model-family.js";

const ACTION = "<|START_ACTION|>";
const END_ACTION = "<|END_ACTION|>";

export const commandR7bToolCalls: ToolCallSyntaxDefinition = {
  name: "command-r7b",
  shape: { kind: "marker-list", marker: ACTION, nameForm: null },
  argumentsKey: "parameters",
  callMarker: ACTION,
  // The list only: a grammar may spell <|END_ACTION|> in plain characters, which would be text; the end of generation follows the list.
  grammarRules: markerListGrammar(ACTION),
  // The template's ids are a running counter of the turn's calls.
  callRule: (name, argumentsRule) =>
    `${gbnfLiteral('{"tool_call_id": "')} [0-9] [0-9]? ${gbnfLiteral(`", "tool_name": ${JSON.stringify(name)}, "parameters": `)} ${argumentsRule} "}"`,
};

export const commandR7bThinking: ReasoningFormat = { open: "<|START_THINKING|>", close: "<|END_THINKING|>", switchVariable: null };

export const commandR7bFamily: ModelFamily = {
  name: "command-r7b",
  description: "Command R7B: <|START_ACTION|>[{tool_name, parameters}] calls, <|START_THINKING|> tool plans",
  detect: ({ template }) => template.includes(ACTION),
  toolCalls: commandR7bToolCalls,
  reasoning: commandR7bThinking,
  callIdLength: null,
  historyReasoningField: "tool_plan",
  tokens: {
    special: [
      "<BOS_TOKEN>", "<|START_OF_TURN_TOKEN|>", "<|END_OF_TURN_TOKEN|>", "<|SYSTEM_TOKEN|>", "<|USER_TOKEN|>", "<|CHATBOT_TOKEN|>",
      commandR7bThinking.open, commandR7bThinking.close, ACTION, END_ACTION, "<|START_TOOL_RESULT|>", "<|END_TOOL_RESULT|>",
      "<|START_RESPONSE|>", "<|END_RESPONSE|>",
    ],
    bos: "<BOS_TOKEN>",
    eos: "<|END_OF_TURN_TOKEN|>",
    addBos: false, // the template writes it
  },
};
