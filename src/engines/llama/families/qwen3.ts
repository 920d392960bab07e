/**
 * Qwen3 (hybrid thinking), QwQ: Hermes tool calls plus a `<think>…</think>`
 * thought, switched off with `enable_thinking: false` (the template then
 * writes an empty thought into the generation prompt).
 */
import { CHATML_TOKENS, hermesToolCalls } from "./hermes.js";
import type { ModelFamily, ReasoningFormat } from "./model-family.js";

export const thinkTags: ReasoningFormat = { open: "<think>", close: "</think>", switchVariable: "enable_thinking" };

export const qwen3Family: ModelFamily = {
  name: "qwen3",
  description: "Qwen3, QwQ: <tool_call> JSON, <think> reasoning with enable_thinking",
  detect: ({ template }) =>
    template.includes("<tool_call>") && !template.includes("<function=") && (template.includes(thinkTags.open) || template.includes("enable_thinking")),
  toolCalls: hermesToolCalls,
  reasoning: thinkTags,
  callIdLength: null,
  tokens: { ...CHATML_TOKENS, special: [...CHATML_TOKENS.special, thinkTags.open, thinkTags.close] },
};
