/**
 * Llama 3.2 / Llama 4 templates that ask for pythonic calls (vLLM's
 * `llama3.2_pythonic` and `llama4_pythonic` style): the whole answer is
 * `[func_name1(param1=value1, …), func2(…)]`, values Python literals; results
 * come back in the `ipython` (Llama 3) or `tool` role. Meta's own Llama 3.2
 * template asks for JSON instead and stays in `llama3.ts`. No reasoning.
 */
import type { ModelFamily, ToolCallSyntaxDefinition } from "./model-family.js";
import { pythonicCallRules, pythonicListGrammar } from "./pythonic-call-grammar.js";

export const pythonicToolCalls: ToolCallSyntaxDefinition = {
  name: "pythonic",
  shape: { kind: "pythonic", open: null, close: null },
  argumentsKey: "arguments",
  callMarker: null,
  grammarRules: pythonicListGrammar(null, null),
  callRules: pythonicCallRules,
};

/** The instruction these templates give (the placeholder call of the format). */
const PYTHONIC_FORMAT = /\[func_name1\(/;

export const llamaPythonicFamily: ModelFamily = {
  name: "llama-pythonic",
  description: "Llama 3.2 / 4 pythonic templates: [f(a=1), g(b=2)] as the whole answer",
  detect: ({ template }) => PYTHONIC_FORMAT.test(template) && (template.includes("<|start_header_id|>") || template.includes("<|header_start|>")),
  toolCalls: pythonicToolCalls,
  reasoning: null,
  callIdLength: null,
  tokens: {
    special: ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|eom_id|>", "<|python_tag|>"],
    bos: "<|begin_of_text|>",
    eos: "<|eot_id|>",
    addBos: true,
  },
};
