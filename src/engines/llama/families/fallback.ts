/**
 * Templates that know no tools (and models without a template): the tools
 * are described in a system message and calls asked for Hermes-style, so
 * they parse like Hermes; a `<think>` thought is split off when the template
 * mentions one.
 */
import type { ChatMessage, ToolDefinition } from "../../../protocol/chat-request.js";
import { CHATML_TOKENS, hermesToolCalls, hermesTurns } from "./hermes.js";
import type { ModelFamily } from "./model-family.js";
import { thinkTags } from "./qwen3.js";

export const fallbackFamily: ModelFamily = {
  name: "fallback",
  description: "templates without tools: tools described in a system message, Hermes-style calls",
  detect: () => true,
  toolCalls: hermesToolCalls,
  reasoning: thinkTags,
  callIdLength: null,
  tokens: CHATML_TOKENS,
};

/** The system-message text that describes the tools and how to call them. */
function toolSystemPrompt(tools: readonly ToolDefinition[], instructions: string): string {
  const lines = tools.map((t) =>
    JSON.stringify({ type: "function", function: { name: t.name, description: t.description ?? "", parameters: t.parameters } }),
  );
  return ["You may call functions. Their definitions, one JSON object per line:", "<tools>", ...lines, "</tools>", instructions].join("\n");
}

/** The messages with the tool description appended to (or placed as) the system message. */
export function withToolPrompt(messages: readonly ChatMessage[], tools: readonly ToolDefinition[], instructions = hermesTurns.instructions): ChatMessage[] {
  const prompt = toolSystemPrompt(tools, instructions);
  const [first, ...rest] = messages;
  if (first?.role === "system") return [{ role: "system", content: `${first.content}\n\n${prompt}` }, ...rest];
  return [{ role: "system", content: prompt }, ...messages];
}

/** An assistant turn's calls, and a tool result, as text, for chat wrappers that have no tool syntax of their own. */
export const fallbackTurns = { call: hermesTurns.call, result: hermesTurns.result };
