/**
 * SmolLM2 Instruct: ChatML with a default system turn and no tools (its
 * template writes a `tool` turn but no calls): tools described as the
 * fallback family does, Hermes-style calls. No reasoning (SmolLM3's
 * `/think` templates spell `<think>` and are not this family).
 */
import { CHATML_TOKENS, hermesToolCalls } from "./hermes.js";
import type { ModelFamily } from "./model-family.js";

export const smollm2Family: ModelFamily = {
  name: "smollm2",
  description: "SmolLM2: ChatML without tools; tools described in a system message, Hermes-style calls",
  detect: ({ template }) => template.includes("named SmolLM") && !template.includes("<think>"),
  toolCalls: hermesToolCalls,
  reasoning: null,
  callIdLength: null,
  tokens: CHATML_TOKENS,
};
