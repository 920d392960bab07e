/**
 * Google Gemma. Gemma 2 and 3 templates know no tools and no `tool` role
 * (Gemma 2 also raises on a system message): tools are described as the
 * fallback family does, calls and results written into the turns as text
 * (`tool-free-history.ts`), so calls parse Hermes-style. Gemma 4 has its own
 * turns (`<|turn>model … <turn|>`) and a thought in
 * `<|channel>thought\n…<channel|>` (switched on with `enable_thinking`; off,
 * the prompt ends in an empty thought). Its calls are its own
 * (`<|tool_call>call:NAME{key:<|"|>text<|"|>,n:5}<tool_call|>`,
 * `output/gemma-call-shape.ts`, forced by `gemma4-call-grammar.ts`); its
 * template writes the calls of the history from their argument objects and
 * the results as `<|tool_response>response:NAME{value:<|"|>…<|"|>}<tool_response|>`
 * itself.
 */
import { GEMMA_CALL_CLOSE, GEMMA_CALL_OPEN, GEMMA_RESPONSE_OPEN, GemmaCallParser } from "../output/gemma-call-shape.js";
import { GEMMA_QUOTE } from "../output/gemma-value.js";
import { gemma4Grammar } from "./gemma4-call-grammar.js";
import { hermesToolCalls } from "./hermes.js";
import type { ModelFamily, ReasoningFormat, ToolCallSyntaxDefinition } from "./model-family.js";
import { OFF_BELOW_LOW } from "./reasoning-effort.js";

export const gemmaFamily: ModelFamily = {
  name: "gemma",
  description: "Gemma 2/3: no tools in the template; tools described and calls/results written as text, Hermes-style calls",
  detect: ({ template }) => template.includes("<start_of_turn>"),
  toolCalls: hermesToolCalls,
  reasoning: null,
  callIdLength: null,
  toolHistory: "as-text",
  systemRole: false,
  tokens: {
    special: ["<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>", "<start_of_image>", "<tool_call>", "</tool_call>"],
    bos: "<bos>",
    eos: "<eos>",
    eot: "<end_of_turn>",
    addBos: false,
  },
};

const gemma4Thought: ReasoningFormat = { open: "<|channel>thought", close: "<channel|>", switchVariable: "enable_thinking" };

export const gemma4ToolCalls: ToolCallSyntaxDefinition = {
  name: "gemma4",
  shape: {
    kind: "own-parser",
    markers: [GEMMA_CALL_OPEN, GEMMA_CALL_CLOSE, GEMMA_QUOTE, GEMMA_RESPONSE_OPEN],
    createParser: (options) => new GemmaCallParser(options),
  },
  argumentsKey: "arguments",
  callMarker: GEMMA_CALL_OPEN,
  ...gemma4Grammar,
};

export const gemma4Family: ModelFamily = {
  name: "gemma4",
  description: "Gemma 4: <|turn> turns, <|tool_call>call:name{key:value} calls, <|channel>thought reasoning with enable_thinking",
  detect: ({ template }) => template.includes("<|turn>"),
  toolCalls: gemma4ToolCalls,
  reasoning: gemma4Thought,
  reasoningEffort: OFF_BELOW_LOW, // its thinking is on or off
  callIdLength: null,
  tokens: {
    special: [
      "<bos>",
      "<eos>",
      "<|turn>",
      "<turn|>",
      "<|tool>",
      "<tool|>",
      "<|tool_call>",
      "<tool_call|>",
      "<|tool_response>",
      "<tool_response|>",
      '<|"|>',
      "<|channel>",
      "<channel|>",
      "<|think|>",
      "<|image|>",
      "<|audio|>",
      "<|video|>",
    ],
    bos: "<bos>",
    eos: "<turn|>",
    addBos: false,
  },
};
