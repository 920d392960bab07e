/**
 * Liquid LFM2 / LFM2.5: ChatML-like `<|im_start|>` turns opened by
 * `<|startoftext|>`, the tools listed in the system turn (`List of tools:
 * <|tool_list_start|>[…]<|tool_list_end|>` in LFM2, a bare `[…]` in LFM2.5),
 * and calls written pythonic between markers:
 * `<|tool_call_start|>[get_weather(city="Paris")]<|tool_call_end|>`. Results
 * come back in the `tool` role. A `<think>…</think>` thought where the
 * template knows one (LFM2.5 cuts it from past turns; LFM2.5-8B-A1B reads a
 * turn's `thinking`).
 */
import type { ModelFamily, ReasoningFormat, ToolCallSyntaxDefinition } from "./model-family.js";
import { pythonicCallList, pythonicCallRules, pythonicListGrammar } from "./pythonic-call-grammar.js";

const OPEN = "<|tool_call_start|>";
const CLOSE = "<|tool_call_end|>";

export const lfm2ToolCalls: ToolCallSyntaxDefinition = {
  name: "lfm2",
  shape: { kind: "pythonic", open: OPEN, close: CLOSE },
  argumentsKey: "arguments",
  callMarker: OPEN,
  grammarRules: pythonicListGrammar(OPEN, CLOSE),
  callRules: pythonicCallRules,
};

/** No switch: LFM2.5 thinks when it will; the `</think>` its template splits on turns it on. */
const lfmThink: ReasoningFormat = { open: "<think>", close: "</think>", switchVariable: null };

export const lfm2Family: ModelFamily = {
  name: "lfm2",
  description: "LFM2 / LFM2.5: <|tool_call_start|>[f(a=1)]<|tool_call_end|> pythonic calls, <think> where the template has it",
  detect: ({ template }) => template.includes("<|im_start|>") && (template.includes("List of tools:") || template.includes("<|tool_list_start|>") || template.includes(OPEN)),
  toolCalls: lfm2ToolCalls,
  reasoning: lfmThink,
  callIdLength: null,
  historyReasoningField: "thinking",
  // LFM2 and LFM2.5 write no calls back; the model wrote them in its answer, so they go back there.
  callsInContent: (content, calls) => `${content}${OPEN}${pythonicCallList(calls)}${CLOSE}`,
  tokens: {
    special: [
      "<|startoftext|>",
      "<|im_start|>",
      "<|im_end|>",
      "<|tool_list_start|>",
      "<|tool_list_end|>",
      OPEN,
      CLOSE,
      "<|tool_response_start|>",
      "<|tool_response_end|>",
      lfmThink.open,
      lfmThink.close,
    ],
    bos: "<|startoftext|>",
    eos: "<|im_end|>",
    addBos: false,
  },
};
