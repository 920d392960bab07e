/**
 * Phi-4-mini: the official template reads the tool definitions only as a JSON
 * string in the system message's `tools` field (`<|tool|>…<|/tool|>`), not
 * from the `tools` variable, and writes no calls back into history; the model
 * answers a call as `functools[{"name": …, "arguments": {…}}, …]`.
 */
import { markerListGrammar } from "./mistral.js";
import type { ModelFamily, ToolCallSyntaxDefinition } from "./model-family.js";

const MARKER = "functools";

export const phi4MiniToolCalls: ToolCallSyntaxDefinition = {
  name: "phi4-mini",
  shape: { kind: "marker-list", marker: MARKER, nameForm: null },
  argumentsKey: "arguments",
  callMarker: MARKER,
  grammarRules: markerListGrammar(MARKER),
};

export const phi4MiniFamily: ModelFamily = {
  name: "phi4-mini",
  description: "Phi-4-mini: tools in the system message, functools[JSON list]",
  detect: ({ template }) => template.includes("<|/tool|>") && template.includes("<|assistant|>"),
  toolCalls: phi4MiniToolCalls,
  reasoning: null,
  callIdLength: null,
  toolDefinitions: "system-message-field",
  tokens: {
    special: ["<|system|>", "<|user|>", "<|assistant|>", "<|tool|>", "<|/tool|>", "<|end|>", "<|endoftext|>", "<|tool_call|>", "<|/tool_call|>"],
    bos: "<|endoftext|>",
    eos: "<|endoftext|>",
    eot: "<|end|>",
    addBos: false,
  },
};
