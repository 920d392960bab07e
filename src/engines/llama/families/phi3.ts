/**
 * Phi-3 / Phi-3.5-mini: `<|user|>…<|end|>` turns and no tools (its template
 * drops tool calls and tool messages): tools described and calls/results
 * written into the turns as text (`tool-free-history.ts`), Hermes-style calls.
 * After phi4-mini in the registry, whose templates share these turns.
 */
import { hermesToolCalls } from "./hermes.js";
import type { ModelFamily } from "./model-family.js";

export const phi3Family: ModelFamily = {
  name: "phi3",
  description: "Phi-3 / 3.5: no tools in the template; tools described and calls/results written as text, Hermes-style calls",
  detect: ({ template }) => template.includes("<|assistant|>") && template.includes("<|end|>"),
  toolCalls: hermesToolCalls,
  reasoning: null,
  callIdLength: null,
  toolHistory: "as-text",
  tokens: {
    special: ["<s>", "<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>", "<tool_call>", "</tool_call>"],
    bos: "<s>",
    eos: "<|endoftext|>",
    eot: "<|end|>",
    // Real Phi-3.5 GGUFs prepend <s>; a test model with <s> as a BPE control token and add_bos does not load in llama.cpp.
    addBos: false,
  },
};
