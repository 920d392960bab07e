/**
 * The checks every model family's test file makes: detection, rendering
 * equal to the template's own, and its parser over every way the output can
 * be split into pieces.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { Template } from "@huggingface/jinja";
import { customChatTemplate } from "../../src/cli/test-model-template.js";
import { withToolPrompt } from "../../src/engines/llama/families/fallback.js";
import { detectFamily } from "../../src/engines/llama/families/registry.js";
import { ReasoningSplitter, type ReasoningSplitterOptions } from "../../src/engines/llama/output/reasoning-splitter.js";
import { ToolCallStreamParser, type ParsedToolCall, type ToolCallSyntax } from "../../src/engines/llama/output/tool-call-parser.js";
import { createPromptRenderer } from "../../src/engines/llama/prompt-renderer.js";
import type { ChatMessage, ToolDefinition } from "../../src/protocol/chat-request.js";
import { templateModelPath } from "./models.js";
import { seededRandom } from "./random.js";
import { repoRoot } from "./server.js";
import { loadVocab } from "./tokenizer.js";

/** One of chatport's own fixture templates (`test/fixtures/templates/NAME.jinja`). */
export function ownFixture(name: string): string {
  return path.join(repoRoot, "test", "fixtures", "templates", `${name}.jinja`);
}

export function detectedFamily(file: string): string {
  return detectFamily({ template: fs.readFileSync(file, "utf8"), architecture: "", hasToken: () => false }).name;
}

const weather: ToolDefinition = {
  name: "get_weather",
  description: "Get the current weather for a city",
  parameters: { type: "object", properties: { city: { type: "string", description: "City name" }, days: { type: "integer", description: "Days" } }, required: ["city"] },
  strict: false,
};

/** system, user, assistant thought + tool call, tool result, assistant answer, user. */
const conversation: ChatMessage[] = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "Weather in Paris?" },
  { role: "assistant", content: "", reasoning: "Look it up.", toolCalls: [{ id: "call12345", name: "get_weather", arguments: '{"city": "Paris", "days": 2}' }] },
  { role: "tool", content: '{"temp_c": 21}', toolCallId: "call12345", name: "get_weather" },
  { role: "assistant", content: "21 °C.", reasoning: null, toolCalls: [] },
  { role: "user", content: "Thanks. And Lyon?" },
];

/**
 * The engine's rendering of the conversation (through a test model made with
 * the template) equals the template's own rendering of it, in the shape the
 * family hands its template (`templateToolCalls`), with the tools where the
 * template reads them or in the system message where it does not.
 */
export async function checkRendering(file: string, familyName: string, kwargs: Record<string, unknown> = {}): Promise<string> {
  const text = fs.readFileSync(file, "utf8");
  const spec = customChatTemplate("x", text);
  const model = await loadVocab(await templateModelPath(file));
  for (const special of spec.specialTokens) assert.equal(model.tokenize(special, true).length, 1, `${special} is one token`);
  const renderer = createPromptRenderer(model);
  assert.equal(renderer.family.name, familyName);
  const rendered = renderer.render({ messages: conversation, tools: [weather], thinking: null, reasoningEffort: null, templateKwargs: kwargs });

  const knowsTools = /\btools\b/.test(text);
  const messages = knowsTools ? conversation : withToolPrompt(conversation, [weather], renderer.family.toolInstructions);
  const wire = renderer.family.templateToolCalls === "openai-wire";
  const view = messages.map((m) => {
    if (m.role === "assistant") {
      const calls = m.toolCalls.map((c) => ({
        id: c.id,
        type: "function",
        function: { name: c.name, arguments: wire ? c.arguments : (JSON.parse(c.arguments) as unknown) },
      }));
      return {
        role: "assistant",
        content: wire && calls.length > 0 && m.content === "" ? null : m.content,
        ...(m.reasoning === null ? {} : { reasoning_content: m.reasoning }),
        ...(calls.length > 0 ? { tool_calls: calls } : {}),
      };
    }
    if (m.role === "tool") return { role: "tool", content: m.content, tool_call_id: m.toolCallId, name: m.name };
    return { role: m.role, content: m.content };
  });
  const definitions = [{ type: "function", function: { name: weather.name, description: weather.description, parameters: weather.parameters } }];
  const direct = new Template(text).render({
    ...kwargs,
    messages: view,
    ...(knowsTools ? { tools: definitions } : {}),
    add_generation_prompt: true,
    bos_token: spec.bos,
    eos_token: spec.eos,
  });
  assert.equal(model.detokenize(rendered.tokens, true), (spec.addBos && !direct.startsWith(spec.bos) ? spec.bos : "") + direct);
  assert.ok(direct.includes(weather.description ?? ""), "the model sees the tool definitions");
  assert.ok(direct.includes("Paris"), "the call is in the history");
  assert.ok(direct.includes('{"temp_c": 21}'), "the result is in the history");
  return direct;
}

export interface ParseCase {
  title: string;
  syntax: ToolCallSyntax;
  parallel?: boolean;
  reasoning?: ReasoningSplitterOptions;
  text: string;
  content: string;
  thought?: string;
  calls: ReadonlyArray<{ name: string; args: unknown; id?: string }>;
  /** The request's tools, for shapes that convert values by their schemas. */
  tools?: readonly ToolDefinition[];
}

interface PipelineResult {
  content: string;
  reasoning: string;
  calls: ParsedToolCall[];
  fragments: string[];
  firstDeltas: unknown[];
}

/** The engine's pipeline (reasoning split first, then calls parsed out of the content) over the given pieces. */
function pipeline(c: ParseCase, pieces: readonly string[]): PipelineResult {
  let n = 0;
  const splitter = c.reasoning === undefined ? null : new ReasoningSplitter(c.reasoning);
  const parser = new ToolCallStreamParser(c.syntax, { newId: () => `call_${++n}`, parallel: c.parallel ?? true, ...(c.tools === undefined ? {} : { tools: c.tools }) });
  const result: PipelineResult = { content: "", reasoning: "", calls: [], fragments: [], firstDeltas: [] };
  const take = (piece: { content: string; toolCalls: ReadonlyArray<{ index: number; id?: string; name?: string; arguments?: string }> }): void => {
    result.content += piece.content;
    for (const d of piece.toolCalls) {
      if (d.name !== undefined) {
        result.firstDeltas.push(d);
        result.fragments[d.index] = d.arguments ?? "";
      } else {
        result.fragments[d.index] = (result.fragments[d.index] ?? "") + (d.arguments ?? "");
      }
    }
  };
  const route = (text: string): void => {
    const split = splitter === null ? { reasoning: "", content: text } : splitter.push(text);
    result.reasoning += split.reasoning;
    take(parser.push(split.content));
  };
  for (const piece of pieces) route(piece);
  const end = splitter?.finish() ?? { reasoning: "", content: "" };
  result.reasoning += end.reasoning;
  take(parser.push(end.content));
  take(parser.finish());
  result.calls = [...parser.calls];
  return result;
}

function splits(text: string): string[][] {
  const all: string[][] = [];
  for (let i = 0; i <= text.length; i++) all.push([text.slice(0, i), text.slice(i)]);
  for (let seed = 1; seed <= 12; seed++) {
    const next = seededRandom(seed);
    const pieces: string[] = [];
    for (let at = 0; at < text.length; ) {
      const length = 1 + Math.floor(next() * (1 + (seed % 6)));
      pieces.push(text.slice(at, at + length));
      at += length;
    }
    all.push(pieces);
  }
  all.push(Array.from(text));
  return all;
}

/** The case's calls, content and thought come out of the whole text, and the same of every split of it. */
export function checkParseCase(c: ParseCase): void {
  const whole = pipeline(c, [c.text]);
  assert.equal(whole.content, c.content, "content");
  assert.equal(whole.reasoning, c.thought ?? "", "reasoning");
  assert.deepEqual(
    whole.calls.map((call) => ({ name: call.name, args: JSON.parse(call.arguments) as unknown })),
    c.calls.map(({ name, args }) => ({ name, args })),
    "calls",
  );
  whole.calls.forEach((call, i) => {
    assert.equal(call.id, c.calls[i]?.id ?? `call_${i + 1}`, "id");
    assert.equal(whole.fragments[i], call.arguments, "fragments concatenate to the arguments");
  });
  for (const pieces of splits(c.text)) assert.deepEqual(pipeline(c, pieces), whole, `pieces ${JSON.stringify(pieces)}`);
}
