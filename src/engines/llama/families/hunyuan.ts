/**
 * Tencent Hunyuan A13B: a thought `<think>…</think>`, then the answer in
 * `<answer>…</answer>` (the tags removed from the content, also after the
 * empty thought its template writes when thinking is off), calls inside the
 * answer as one JSON list `<tool_calls>[{"name": …, "arguments": {…}}, …]</tool_calls>`.
 * Turns: `<|startoftext|>` opens a turn, `<|extra_4|>` ends the system text,
 * `<|extra_0|>` a user turn, `<|eos|>` an answer; the thought is switched by
 * `enable_thinking`.
 */
import { markerListGrammar } from "./mistral.js";
import { gbnfLiteral, type ModelFamily, type ReasoningFormat, type ToolCallSyntaxDefinition, type ToolCallSyntaxName } from "./model-family.js";

const OPEN = "<tool_calls>";
const CLOSE = "</tool_calls>";

/** `<tool_calls>[{…}, …]</tool_calls>`, the call syntax Hunyuan and Jamba share (each under its own name). */
export function toolCallsTagSyntax(name: ToolCallSyntaxName): ToolCallSyntaxDefinition {
  return {
    name,
    shape: { kind: "marker-list", marker: OPEN, nameForm: null, close: CLOSE },
    argumentsKey: "arguments",
    callMarker: OPEN,
    grammarRules(objectRule, options) {
      return `${markerListGrammar(OPEN)(objectRule, options)} ${gbnfLiteral(CLOSE)}`;
    },
  };
}

export const TOOL_CALLS_TAGS = { open: OPEN, close: CLOSE } as const;

const hunyuanThinking: ReasoningFormat = { open: "<think>", close: "</think>", switchVariable: "enable_thinking", answer: { open: "<answer>", close: "</answer>" } };

export const hunyuanFamily: ModelFamily = {
  name: "hunyuan",
  description: "Hunyuan A13B: <think>, <answer>, <tool_calls>[JSON list]</tool_calls>",
  // `<|extra_0|>` ends its user turns; Jamba spells `<tool_calls>` too, in `<|bom|>` turns.
  detect: ({ template }) => template.includes(OPEN) && template.includes("<|extra_0|>"),
  toolCalls: toolCallsTagSyntax("hunyuan"),
  reasoning: hunyuanThinking,
  callIdLength: null,
  outputMarkers: [CLOSE, "<answer>", "</answer>"],
  tokens: {
    special: ["<|startoftext|>", "<|extra_0|>", "<|extra_4|>", "<|eos|>", OPEN, CLOSE, "<think>", "</think>", "<answer>", "</answer>", "<tool_response>", "</tool_response>"],
    bos: "<|startoftext|>",
    eos: "<|eos|>",
    addBos: false,
  },
};
