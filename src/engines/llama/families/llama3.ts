/**
 * Llama 3.1 / 3.2 / 3.3 with custom tools: the whole answer is
 * `{"name": …, "parameters": {…}}` (optionally after `<|python_tag|>`),
 * several separated by `;`; tool results come back in the `ipython` role.
 * No reasoning.
 */
import type { ModelFamily, ToolCallSyntaxDefinition } from "./model-family.js";

const PYTHON_TAG = "<|python_tag|>";
const SEPARATOR = ";";

export const llama3JsonToolCalls: ToolCallSyntaxDefinition = {
  name: "llama3-json",
  shape: { kind: "leading-json", prefix: PYTHON_TAG, separator: SEPARATOR },
  argumentsKey: "parameters",
  callMarker: null,
  grammarRules: (objectRule, { parallel }) => `root ::= ${objectRule}${parallel ? ` ("${SEPARATOR} " ${objectRule})*` : ""}`,
};

export const llama3Family: ModelFamily = {
  name: "llama3",
  description: "Llama 3.1/3.2/3.3: leading JSON with parameters, <|python_tag|>",
  detect: ({ template }) => template.includes(PYTHON_TAG) || (template.includes("<|start_header_id|>") && template.includes("ipython")),
  toolCalls: llama3JsonToolCalls,
  reasoning: null,
  callIdLength: null,
  tokens: {
    special: ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|eom_id|>", PYTHON_TAG],
    bos: "<|begin_of_text|>",
    eos: "<|eot_id|>",
    addBos: true,
  },
};
