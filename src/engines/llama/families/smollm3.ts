/**
 * SmolLM3: ChatML turns, Hermes `<tool_call>` JSON calls (described in the
 * system turn), a `<think>…</think>` thought switched by `enable_thinking`
 * (the template turns it into `/think` / `/no_think` in its "Reasoning Mode"
 * header; with thinking off the generation prompt holds an empty thought).
 * Its template writes each tool with `tool | string`, which only works on a
 * string outside Python, so the tools go to it as JSON strings; and it never
 * writes `tool_calls` back into history, so past calls are written into the
 * turn's content as the `<tool_call>` blocks the model wrote. Tool results
 * come back as user turns (the template's own choice).
 */
import { CHATML_TOKENS, hermesToolCalls, hermesTurns } from "./hermes.js";
import type { ModelFamily } from "./model-family.js";
import { thinkTags } from "./qwen3.js";

export const smollm3Family: ModelFamily = {
  name: "smollm3",
  description: "SmolLM3: <tool_call> JSON, <think> with enable_thinking (/think, /no_think)",
  detect: ({ template }) => template.includes("<tool_call>") && template.includes("/no_think") && template.includes("enable_thinking"),
  toolCalls: hermesToolCalls,
  reasoning: thinkTags,
  callIdLength: null,
  toolDefinitions: "json-strings",
  callsInContent: (content, calls) => [content, ...calls.map((c) => hermesTurns.call(c.name, c.arguments))].filter((t) => t !== "").join("\n"),
  tokens: { ...CHATML_TOKENS, special: [...CHATML_TOKENS.special, thinkTags.open, thinkTags.close] },
};
