/**
 * AI21 Jamba 1.5 / 1.6: calls as one JSON list `<tool_calls>[{"name": …,
 * "arguments": {…}}, …]</tool_calls>` (Hunyuan's syntax) in
 * `<|bom|><|role|> …<|eom|>` turns, results in `<|tool|>` turns. No reasoning.
 */
import { TOOL_CALLS_TAGS, toolCallsTagSyntax } from "./hunyuan.js";
import type { ModelFamily } from "./model-family.js";

const TURN = "<|bom|>";

export const jambaFamily: ModelFamily = {
  name: "jamba",
  description: "Jamba 1.5/1.6: <tool_calls>[JSON list]</tool_calls> in <|bom|> turns",
  detect: ({ template }) => template.includes(TOOL_CALLS_TAGS.open) && template.includes(TURN),
  toolCalls: toolCallsTagSyntax("jamba"),
  reasoning: null,
  callIdLength: null,
  outputMarkers: [TOOL_CALLS_TAGS.close],
  tokens: {
    special: ["<|startoftext|>", "<|endoftext|>", TURN, "<|eom|>", "<|system|>", "<|user|>", "<|assistant|>", "<|tool|>", TOOL_CALLS_TAGS.open, TOOL_CALLS_TAGS.close],
    bos: "<|startoftext|>",
    eos: "<|endoftext|>",
    eot: "<|eom|>",
    addBos: false,
  },
};
