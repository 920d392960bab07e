/** A family's output pipeline as the engine runs it (reasoning reader, then the tool-call parser), for parser tests over text splits. */
import assert from "node:assert/strict";
import type { ReasoningFormat, ToolCallSyntaxName } from "../../src/engines/llama/families/model-family.js";
import { ChoiceOutput } from "../../src/engines/llama/output/choice-output.js";
import { createReasoningReader } from "../../src/engines/llama/output/reasoning-reader.js";
import { ToolCallStreamParser, type ToolCallDelta } from "../../src/engines/llama/output/tool-call-parser.js";
import type { ChatMessage, ToolDefinition } from "../../src/protocol/chat-request.js";
import { textSplits } from "./text-splits.js";

export interface FamilyOutput {
  content: string;
  reasoning: string;
  calls: Array<{ id: string; name: string; arguments: string }>;
  /** Each call's streamed argument fragments, concatenated. */
  streamed: string[];
}

export function readFamilyOutput(
  pieces: readonly string[],
  options: { reasoning: ReasoningFormat | null; syntax: ToolCallSyntaxName | null; startInReasoning?: boolean; parallel?: boolean },
): FamilyOutput {
  let n = 0;
  const output = new ChoiceOutput({
    stops: [],
    trimTrailingWhitespace: false,
    reasoning: options.reasoning === null ? null : createReasoningReader(options.reasoning, options.startInReasoning === true),
    tools: options.syntax === null ? null : new ToolCallStreamParser(options.syntax, { newId: () => `call_${++n}`, parallel: options.parallel ?? true }),
  });
  const deltas: ToolCallDelta[] = [];
  let content = "";
  let reasoning = "";
  for (const piece of [...pieces.map((p) => output.push(p).piece), output.finish()]) {
    content += piece.content;
    reasoning += piece.reasoning;
    deltas.push(...piece.toolCalls);
  }
  const streamed: string[] = [];
  for (const d of deltas) streamed[d.index] = (streamed[d.index] ?? "") + (d.arguments ?? "");
  return { content, reasoning, calls: [...output.toolCalls], streamed };
}

export type FamilyOutputOptions = Parameters<typeof readFamilyOutput>[1];

/** A model's text and what the family reads from it. */
export interface OutputCase {
  title: string;
  text: string;
  /** The prompt opened the thought. */
  start?: boolean;
  content: string;
  reasoning: string;
  calls: Array<{ name: string; args: unknown }>;
}

/**
 * The case read whole gives what it names, each call's streamed fragments
 * make its arguments, and every split of the text into pieces reads the same.
 */
export function checkOutputCase(c: OutputCase, options: FamilyOutputOptions): void {
  const withStart = { ...options, startInReasoning: c.start ?? options.startInReasoning };
  const whole = readFamilyOutput([c.text], withStart);
  assert.equal(whole.content, c.content);
  assert.equal(whole.reasoning, c.reasoning);
  assert.deepEqual(
    whole.calls.map((call) => ({ name: call.name, args: JSON.parse(call.arguments) as unknown })),
    c.calls,
  );
  whole.calls.forEach((call, i) => assert.equal(whole.streamed[i], call.arguments));
  for (const pieces of textSplits(c.text)) assert.deepEqual(readFamilyOutput(pieces, withStart), whole, `pieces ${JSON.stringify(pieces)}`);
}

/** get_weather(city: string), strict: the tool the family files render and constrain. */
export const cityWeatherTool: ToolDefinition = {
  name: "get_weather",
  description: "Get the current weather for a city",
  parameters: { type: "object", properties: { city: { type: "string", description: "City name" } }, required: ["city"] },
  strict: true,
};

/**
 * system, user, a call with its thought, its result, an answer, a user turn:
 * as chatport holds the conversation, and as the template is given it (the
 * thought under the family's `field`, the arguments as an object).
 */
export function thoughtCallConversation(thought: string, field: string, callId: string): { messages: ChatMessage[]; templateView: Array<Record<string, unknown>> } {
  const start = [
    { role: "system", content: "You are terse." },
    { role: "user", content: "Weather in Paris?" },
  ] as const;
  const end = [
    { role: "assistant", content: "21 °C." },
    { role: "user", content: "Thanks. And Lyon?" },
  ] as const;
  return {
    messages: [
      ...start,
      { role: "assistant", content: "", reasoning: thought, toolCalls: [{ id: callId, name: "get_weather", arguments: '{"city": "Paris"}' }] },
      { role: "tool", content: '{"temp_c": 21}', toolCallId: callId, name: "get_weather" },
      { ...end[0], reasoning: null, toolCalls: [] },
      end[1],
    ],
    templateView: [
      ...start,
      { role: "assistant", content: "", [field]: thought, tool_calls: [{ id: callId, type: "function", function: { name: "get_weather", arguments: { city: "Paris" } } }] },
      { role: "tool", content: '{"temp_c": 21}', tool_call_id: callId, name: "get_weather" },
      ...end,
    ],
  };
}

/** The tools as the template is given them (OpenAI's wire shape). */
export function templateTools(tools: readonly ToolDefinition[]): Array<Record<string, unknown>> {
  return tools.map((t) => ({ type: "function", function: { name: t.name, description: t.description, parameters: t.parameters } }));
}
