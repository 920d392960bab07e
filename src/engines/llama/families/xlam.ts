/**
 * Salesforce xLAM (1 and 2, "fc" models): the whole answer is one JSON list
 * of calls `[{"name": …, "arguments": {…}}, …]`, possibly in a `` ```json ``
 * fence (the fence's close dropped after the list); anything else is content.
 * No marker opens a call, so `auto` with strict tools gets no lazy grammar.
 * Its templates list the tools between `[BEGIN OF AVAILABLE TOOLS]` and
 * `[END OF AVAILABLE TOOLS]` (xLAM 1), or show the list format ending in
 * `... (additional parallel tool calls as needed)]` (xLAM 2, in Llama 3 or
 * ChatML turns). No reasoning.
 */
import type { ModelFamily, ToolCallSyntaxDefinition } from "./model-family.js";

const FENCE = "```json";

export const xlamToolCalls: ToolCallSyntaxDefinition = {
  name: "xlam",
  shape: { kind: "leading-json", prefix: FENCE, separator: ",", list: true, close: "```" },
  argumentsKey: "arguments",
  callMarker: null,
  grammarRules: (objectRule, { parallel }) => `root ::= "[" ${objectRule}${parallel ? ` (", " ${objectRule})*` : ""} "]"`,
};

export const xlamFamily: ModelFamily = {
  name: "xlam",
  description: "xLAM: the answer a JSON list of calls, optionally in a ```json fence",
  detect: ({ template }) => template.includes("[BEGIN OF AVAILABLE TOOLS]") || template.includes("(additional parallel tool calls as needed)"),
  toolCalls: xlamToolCalls,
  reasoning: null,
  callIdLength: null,
  tokens: {
    // The ChatML turns of xLAM 2's Qwen-based models (the 8B one has Llama 3's, which its template spells).
    special: ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
    bos: "<|endoftext|>",
    eos: "<|im_end|>",
    addBos: false,
  },
};
