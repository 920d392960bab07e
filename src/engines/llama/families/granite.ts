/**
 * IBM Granite. Granite 3.x answers a call as `<|tool_call|>[{"name": …,
 * "arguments": {…}}, …]` (its template does not write calls back into
 * history); Granite 4.0 writes Hermes `<tool_call>` blocks. Both use the
 * `<|start_of_role|>role<|end_of_role|>…<|end_of_text|>` turns. Granite 3.3's
 * `thinking` switch (a system instruction to answer in `<think>`/`<response>`)
 * turns the thought into reasoning and the `<response>` tags are removed.
 */
import { hermesToolCalls } from "./hermes.js";
import { markerListGrammar } from "./mistral.js";
import { OFF_BELOW_LOW } from "./reasoning-effort.js";
import type { FamilyTokens, ModelFamily, ReasoningFormat, ToolCallSyntaxDefinition } from "./model-family.js";

const MARKER = "<|tool_call|>";
const TURN = "<|start_of_role|>";

export const graniteToolCalls: ToolCallSyntaxDefinition = {
  name: "granite",
  shape: { kind: "marker-list", marker: MARKER, nameForm: null },
  argumentsKey: "arguments",
  callMarker: MARKER,
  grammarRules: markerListGrammar(MARKER),
};

const tokens: FamilyTokens = {
  special: [TURN, "<|end_of_role|>", "<|end_of_text|>", MARKER, "<|start_of_cite|>", "<|end_of_cite|>"],
  bos: "<|end_of_text|>",
  eos: "<|end_of_text|>",
  addBos: false,
};

/** Granite 3.3's `thinking` switch: a system instruction to think in `<think>` and answer in `<response>`. */
const graniteThinking: ReasoningFormat = { open: "<think>", close: "</think>", switchVariable: "thinking", answer: { open: "<response>", close: "</response>" } };

export const granite3Family: ModelFamily = {
  name: "granite3",
  description: "Granite 3.x: <|tool_call|>[JSON list]; Granite 3.3: <think>/<response> with thinking",
  detect: ({ template }) => template.includes(TURN) && template.includes(MARKER),
  toolCalls: graniteToolCalls,
  reasoning: graniteThinking,
  reasoningEffort: OFF_BELOW_LOW, // its thinking is an instruction, on or off
  callIdLength: null,
  tokens,
};

export const granite4Family: ModelFamily = {
  name: "granite4",
  description: "Granite 4.0: <tool_call> JSON (Hermes) in Granite turns",
  detect: ({ template }) => template.includes(TURN) && template.includes("<tool_call>"),
  toolCalls: hermesToolCalls,
  reasoning: null,
  callIdLength: null,
  tokens,
};
