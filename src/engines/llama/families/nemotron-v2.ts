/**
 * NVIDIA Nemotron Nano 2: calls as `<TOOLCALL>[{"name": …, "arguments": {…}}, …]</TOOLCALL>`,
 * results as `<TOOL_RESPONSE>[…]</TOOL_RESPONSE>` in a user turn (the
 * template writes them), a `<think>…</think>` thought that the generation
 * prompt opens, switched by `/think` / `/no_think` in a user or system
 * message rather than by a template variable. Turns are `<SPECIAL_10>System`,
 * `<SPECIAL_11>User` / `Assistant`, ended by `<SPECIAL_12>`.
 * (Nemotron 3 Nano writes Qwen3-Coder's XML calls instead: not this file.)
 */
import { markerListGrammar } from "./mistral.js";
import { gbnfLiteral, type ModelFamily, type ReasoningFormat, type ToolCallSyntaxDefinition } from "./model-family.js";

const OPEN = "<TOOLCALL>";
const CLOSE = "</TOOLCALL>";

export const nemotronV2ToolCalls: ToolCallSyntaxDefinition = {
  name: "nemotron-v2",
  shape: { kind: "marker-list", marker: OPEN, nameForm: null, close: CLOSE },
  argumentsKey: "arguments",
  callMarker: OPEN,
  grammarRules(objectRule, options) {
    return `${markerListGrammar(OPEN)(objectRule, options)} ${gbnfLiteral(CLOSE)}`;
  },
};

export const nemotronV2Thinking: ReasoningFormat = { open: "<think>", close: "</think>", switchVariable: null, switchText: { on: "/think", off: "/no_think" } };

export const nemotronV2Family: ModelFamily = {
  name: "nemotron-v2",
  description: "Nemotron Nano 2: <TOOLCALL>[JSON list]</TOOLCALL>, <think> with /think and /no_think",
  detect: ({ template }) => template.includes(OPEN),
  toolCalls: nemotronV2ToolCalls,
  reasoning: nemotronV2Thinking,
  callIdLength: null,
  outputMarkers: [CLOSE],
  tokens: {
    special: ["<s>", "<SPECIAL_10>", "<SPECIAL_11>", "<SPECIAL_12>", OPEN, CLOSE, "<TOOL_RESPONSE>", "</TOOL_RESPONSE>", "<AVAILABLE_TOOLS>", "</AVAILABLE_TOOLS>", "<think>", "</think>"],
    bos: "<s>",
    eos: "<SPECIAL_12>",
    addBos: false,
  },
};
