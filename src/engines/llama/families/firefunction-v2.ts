/**
 * FireFunction v2 (Fireworks, on Llama 3 turns): the calls as one JSON list
 * after a `functools` marker, `functools[{"name": …, "arguments": {…}}, …]`,
 * with no closing marker (the `marker-list` shape). Its template reads the
 * tool definitions as a JSON text in `functions` and the time in `datetime`,
 * writes a history call's arguments as their JSON text (the OpenAI wire
 * shape) and results as `tool` turns.
 */
import { markerListGrammar } from "./mistral.js";
import type { ModelFamily, ToolCallSyntaxDefinition } from "./model-family.js";

const MARKER = "functools";

export const fireFunctionV2ToolCalls: ToolCallSyntaxDefinition = {
  name: "firefunction-v2",
  shape: { kind: "marker-list", marker: MARKER, nameForm: null },
  argumentsKey: "arguments",
  callMarker: MARKER,
  grammarRules: markerListGrammar(MARKER),
};

export const fireFunctionV2Family: ModelFamily = {
  name: "firefunction-v2",
  description: "FireFunction v2: functools[JSON list] in Llama 3 turns, tools as JSON text in `functions`",
  detect: ({ template }) => template.includes(`${MARKER}[`) && template.includes("<|start_header_id|>"),
  toolCalls: fireFunctionV2ToolCalls,
  reasoning: null,
  callIdLength: null,
  toolDefinitions: "functions-json",
  templateToolCalls: "openai-wire",
  tokens: {
    // `functools` is text in the real vocabulary; one token in a test model, so a test can bias a random model towards a call.
    special: ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", MARKER],
    bos: "<|begin_of_text|>",
    eos: "<|eot_id|>",
    addBos: true,
  },
};
