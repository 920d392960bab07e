/**
 * Kimi K2 (Instruct and Thinking):
 * `<|tool_calls_section_begin|><|tool_call_begin|>functions.NAME:INDEX<|tool_call_argument_begin|>{…}<|tool_call_end|>…<|tool_calls_section_end|>`.
 * A call's id is `functions.NAME:INDEX` (the form its templates write and
 * the model has seen; INDEX is the call's place in this answer). Results
 * come back as `## Return of ID` in a system turn, which the templates write.
 * K2 Thinking thinks in `<think>…</think>` (no switch).
 */
import type { DelimitedCallSyntax } from "../output/delimited-call-shape.js";
import { delimitedToolCalls } from "./deepseek.js";
import type { ModelFamily } from "./model-family.js";

const SECTION_OPEN = "<|tool_calls_section_begin|>";
const SECTION_CLOSE = "<|tool_calls_section_end|>";
const CALL_OPEN = "<|tool_call_begin|>";
const ARGUMENTS = "<|tool_call_argument_begin|>";
const CALL_CLOSE = "<|tool_call_end|>";

const syntax: DelimitedCallSyntax = {
  sectionOpen: SECTION_OPEN,
  sectionClose: SECTION_CLOSE,
  callOpen: CALL_OPEN,
  namePrefix: "functions.",
  nameIndex: true,
  nameEnd: ARGUMENTS,
  argumentsEnd: "",
  callClose: CALL_CLOSE,
  idPrefix: "functions.",
};

export const kimiK2ToolCalls = delimitedToolCalls("kimi-k2", syntax, {
  separator: "",
  markers: [SECTION_OPEN, SECTION_CLOSE, CALL_OPEN, ARGUMENTS, CALL_CLOSE],
  indexRule: '":" [0-9] [0-9]?',
});

export const kimiK2Family: ModelFamily = {
  name: "kimi-k2",
  description: "Kimi K2: <|tool_call_begin|>functions.name:i<|tool_call_argument_begin|>{…} calls, <think> reasoning (K2 Thinking)",
  detect: ({ template }) => template.includes(SECTION_OPEN),
  toolCalls: kimiK2ToolCalls,
  reasoning: { open: "<think>", close: "</think>", switchVariable: null },
  callIdLength: null,
  tokens: {
    special: [
      "[BOS]", "[EOS]", "<|im_system|>", "<|im_user|>", "<|im_assistant|>", "<|im_middle|>", "<|im_end|>",
      SECTION_OPEN, SECTION_CLOSE, CALL_OPEN, ARGUMENTS, CALL_CLOSE, "<think>", "</think>",
    ],
    bos: "[BOS]",
    eos: "[EOS]",
    eot: "<|im_end|>",
    addBos: false,
  },
};
