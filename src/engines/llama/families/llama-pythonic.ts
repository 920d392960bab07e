/**
 * Llama 3.2 / Llama 4 templates that ask for pythonic calls (vLLM's
 * `llama3.2_pythonic` and `llama4_pythonic` style): the whole answer is
 * `[func_name1(param1=value1, …), func2(…)]`, values Python literals; results
 * come back in the `ipython` (Llama 3) or `tool` role. Llama 4's turns are
 * `<|header_start|>`…`<|eot|>`, its own family for its tokens; a Llama 4 model
 * may wrap the list in `<|python_start|>…<|python_end|>` (vLLM's
 * llama4_pythonic parser strips them), read with or without them. Meta's own Llama 3.2
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

const PYTHON_START = "<|python_start|>";
const PYTHON_END = "<|python_end|>";

/**
 * Llama 4: the same list, optionally in `<|python_start|>…<|python_end|>`.
 * A forced call is the bare list (the form the template writes back); once a
 * model writes `<|python_start|>` itself under `auto` with strict tools, the
 * grammar takes the list and the close tag from there.
 */
export const llama4PythonicToolCalls: ToolCallSyntaxDefinition = {
  name: "llama4-pythonic",
  shape: { kind: "pythonic", open: null, close: null, wrap: { open: PYTHON_START, close: PYTHON_END } },
  argumentsKey: "arguments",
  callMarker: PYTHON_START,
  grammarRules: (objectRule, options) => pythonicListGrammar(null, options.afterMarker ? PYTHON_END : null)(objectRule, options),
  callRules: pythonicCallRules,
};

/** The instruction these templates give (the placeholder call of the format). */
const PYTHONIC_FORMAT = /\[func_name1\(/;

/** Llama 4's turns: `<|header_start|>role<|header_end|>\n\n…<|eot|>`. */
const LLAMA4_HEADER = "<|header_start|>";

export const llama4PythonicFamily: ModelFamily = {
  name: "llama4-pythonic",
  description: "Llama 4 pythonic templates: [f(a=1), g(b=2)] as the whole answer or in <|python_start|>…<|python_end|>, <|header_start|> turns",
  detect: ({ template }) => PYTHONIC_FORMAT.test(template) && template.includes(LLAMA4_HEADER),
  toolCalls: llama4PythonicToolCalls,
  reasoning: null,
  callIdLength: null,
  tokens: {
    special: ["<|begin_of_text|>", "<|end_of_text|>", LLAMA4_HEADER, "<|header_end|>", "<|eot|>", "<|eom|>", PYTHON_START, PYTHON_END],
    bos: "<|begin_of_text|>",
    eos: "<|eot|>",
    addBos: true,
  },
};

export const llamaPythonicFamily: ModelFamily = {
  name: "llama-pythonic",
  description: "Llama 3.2 pythonic templates: [f(a=1), g(b=2)] as the whole answer",
  detect: ({ template }) => PYTHONIC_FORMAT.test(template) && template.includes("<|start_header_id|>"),
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
