/**
 * Tencent Hunyuan A13B: a thought `<think>…</think>`, then the answer in
 * `<answer>…</answer>` (the tags removed from the content, also after the
 * empty thought its template writes when thinking is off), calls inside the
 * answer as one JSON list `<tool_calls>[{"name": …, "arguments": {…}}, …]</tool_calls>`.
 * Turns: `<|startoftext|>` opens a turn, `<|extra_4|>` ends the system text,
 * `<|extra_0|>` a user turn, `<|eos|>` an answer; the thought is switched by
 * `enable_thinking`.
 *
 * Hunyuan 7B (the dense models) shares the turns, the thought and the answer
 * tags, but writes each call on its own inside the same `<tool_calls>`
 * section: `<tool_call>NAME` + a `` ```json `` block + `</tool_call>`. That
 * is the delimited shape DeepSeek R1 writes (`output/delimited-call-shape.ts`),
 * so it is a family of its own here, told by the `<tool_call>` its template
 * spells (A13B's writes only the list).
 */
import type { DelimitedCallSyntax } from "../output/delimited-call-shape.js";
import { delimitedToolCalls } from "./deepseek.js";
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

const TURN_END_USER = "<|extra_0|>";

const hunyuanThinking: ReasoningFormat = { open: "<think>", close: "</think>", switchVariable: "enable_thinking", answer: { open: "<answer>", close: "</answer>" } };

export const hunyuanFamily: ModelFamily = {
  name: "hunyuan",
  description: "Hunyuan A13B: <think>, <answer>, <tool_calls>[JSON list]</tool_calls>",
  // `<|extra_0|>` ends its user turns; Jamba spells `<tool_calls>` too, in `<|bom|>` turns.
  detect: ({ template }) => template.includes(OPEN) && template.includes(TURN_END_USER),
  toolCalls: toolCallsTagSyntax("hunyuan"),
  reasoning: hunyuanThinking,
  callIdLength: null,
  outputMarkers: [CLOSE, "<answer>", "</answer>"],
  tokens: {
    special: ["<|startoftext|>", TURN_END_USER, "<|extra_4|>", "<|eos|>", OPEN, CLOSE, "<think>", "</think>", "<answer>", "</answer>", "<tool_response>", "</tool_response>"],
    bos: "<|startoftext|>",
    eos: "<|eos|>",
    addBos: false,
  },
};

const CALL_OPEN = "<tool_call>";
const CALL_CLOSE = "</tool_call>";

/** Hunyuan 7B: `<tool_calls><tool_call>NAME\n```json\n{…}\n```</tool_call>\n…</tool_calls>`. */
const hunyuan7bSyntax: DelimitedCallSyntax = {
  sectionOpen: OPEN,
  sectionClose: CLOSE,
  callOpen: CALL_OPEN,
  namePrefix: "",
  nameIndex: false,
  nameEnd: "\n```json\n",
  argumentsEnd: "\n```",
  callClose: CALL_CLOSE,
  idPrefix: null,
};

export const hunyuan7bToolCalls: ToolCallSyntaxDefinition = {
  ...delimitedToolCalls("hunyuan-7b", hunyuan7bSyntax, { separator: "\n", markers: [OPEN, CLOSE, CALL_OPEN, CALL_CLOSE], indexRule: null }),
  // A forced call is laid out as the template writes calls: each on a line of its own inside the section.
  grammarRules(objectRule, { parallel, afterMarker }) {
    const newline = gbnfLiteral("\n");
    const calls = `${newline} ${objectRule}${parallel ? ` (${newline} ${objectRule})*` : ""} ${newline} ${gbnfLiteral(CLOSE)}`;
    return afterMarker ? `root ::= ${calls}` : `root ::= ${gbnfLiteral(OPEN)} ${calls}`;
  },
};

export const hunyuan7bFamily: ModelFamily = {
  name: "hunyuan-7b",
  description: "Hunyuan 7B: <think>, <answer>, <tool_calls><tool_call>NAME ```json block</tool_call></tool_calls>",
  // Before `hunyuan`, whose test this template passes too: only the 7B's spells a single `<tool_call>`.
  detect: ({ template }) => template.includes(OPEN) && template.includes(CALL_OPEN) && template.includes(TURN_END_USER),
  toolCalls: hunyuan7bToolCalls,
  reasoning: hunyuanThinking,
  callIdLength: null,
  outputMarkers: ["<answer>", "</answer>"],
  tokens: {
    ...hunyuanFamily.tokens,
    special: [...hunyuanFamily.tokens.special, CALL_OPEN, CALL_CLOSE],
  },
};
