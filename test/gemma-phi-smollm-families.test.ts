/**
 * Gemma 2/3/4, Phi-3.5, SmolLM2 and QwQ: detected from their real templates
 * (../shared/templates, where present) and from chatport's own fixtures, and
 * rendered by the engine exactly as the template renders the same
 * conversation. Templates without tools (Gemma 2/3, Phi-3.5) get the tools
 * described and the calls and results written as text, in alternating turns;
 * Gemma 4's thought (`<|channel>thought … <channel|>`) is split off however
 * the text arrives.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { Template } from "@huggingface/jinja";
import { customChatTemplate } from "../src/cli/test-model-template.js";
import { withToolPrompt } from "../src/engines/llama/families/fallback.js";
import { detectFamily, parserMarkers, reasoningOf } from "../src/engines/llama/families/registry.js";
import { ReasoningSplitter } from "../src/engines/llama/output/reasoning-splitter.js";
import { createPromptRenderer } from "../src/engines/llama/prompt-renderer.js";
import type { ChatMessage, ToolDefinition } from "../src/protocol/chat-request.js";
import { templateModelPath } from "./helpers/models.js";
import { repoRoot } from "./helpers/server.js";
import { missingSharedFile, sharedTemplatePath } from "./helpers/shared-files.js";
import { loadVocab } from "./helpers/tokenizer.js";

const fixture = (name: string): string => path.join(repoRoot, "test", "fixtures", "templates", `${name}.jinja`);

/**
 * The real template under a name without "phi3": llama.cpp fails to load a
 * test model whose general.name (made from the file name) contains it.
 */
function renamedTemplate(name: string): string | null {
  const file = sharedTemplatePath(name);
  if (file === null || !name.includes("phi3")) return file;
  const copy = path.join(os.tmpdir(), `chatport-${name.replace("phi3", "ms-phi-")}.jinja`);
  fs.copyFileSync(file, copy);
  return copy;
}

const SHARED: ReadonlyArray<[file: string, family: string, reasons: boolean]> = [
  ["gemma2", "gemma", false],
  ["gemma3", "gemma", false],
  ["gemma4", "gemma4", true],
  ["gemma4-v1", "gemma4", true],
  ["phi3.5", "phi3", false],
  ["smollm2", "smollm2", false],
  ["qwq", "qwen3", true],
  ["phi4-mini", "phi4-mini", false],
];
const FIXTURES: ReadonlyArray<[file: string, family: string, reasons: boolean]> = [
  [fixture("gemma-style"), "gemma", false],
  [fixture("gemma4-style"), "gemma4", true],
  [fixture("phi-style"), "phi3", false],
  [fixture("smollm2-style"), "smollm2", false],
];

function check(text: string, family: string, reasons: boolean): void {
  const found = detectFamily({ template: text, architecture: "", hasToken: () => false });
  assert.equal(found.name, family);
  assert.equal(reasoningOf(found, text) !== null, reasons, "reasoning");
}

describe("detection", () => {
  for (const [file, family, reasons] of FIXTURES) test(`fixture ${path.basename(file)} is ${family}`, () => check(fs.readFileSync(file, "utf8"), family, reasons));
  for (const [name, family, reasons] of SHARED) {
    const file = sharedTemplatePath(name);
    test(`the real ${name} template is ${family}`, { skip: file === null ? missingSharedFile(`${name}.jinja`) : false }, () => check(fs.readFileSync(file ?? "", "utf8"), family, reasons));
  }
});

const weather: ToolDefinition = {
  name: "get_weather",
  description: "Get the current weather for a city",
  parameters: { type: "object", properties: { city: { type: "string", description: "City name" } }, required: ["city"] },
  strict: false,
};

const conversation: ChatMessage[] = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "Weather in Paris?" },
  { role: "assistant", content: "", reasoning: "Look it up.", toolCalls: [{ id: "call12345", name: "get_weather", arguments: '{"city": "Paris"}' }] },
  { role: "tool", content: '{"temp_c": 21}', toolCallId: "call12345", name: "get_weather" },
  { role: "assistant", content: "21 °C.", reasoning: null, toolCalls: [] },
  { role: "user", content: "Thanks. And Lyon?" },
];

const call = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>';
const result = '<tool_response>\n{"temp_c": 21}\n</tool_response>';
/** The system text the fallback writes for these tools. */
const described = (): string => {
  const first = withToolPrompt([conversation[0]!], [weather])[0];
  return first?.content ?? "";
};

/** What each kind of template is given for the conversation above. */
function templateView(kind: "as-text, no system role" | "as-text" | "tools described" | "tools"): Array<Record<string, unknown>> {
  const tail = [
    { role: "assistant", content: "21 °C." },
    { role: "user", content: "Thanks. And Lyon?" },
  ];
  switch (kind) {
    case "as-text, no system role":
      return [{ role: "user", content: `${described()}\n\nWeather in Paris?` }, { role: "assistant", content: call, reasoning_content: "Look it up." }, { role: "user", content: result }, ...tail];
    case "as-text":
      return [
        { role: "system", content: described() },
        { role: "user", content: "Weather in Paris?" },
        { role: "assistant", content: call, reasoning_content: "Look it up." },
        { role: "user", content: result },
        ...tail,
      ];
    case "tools described":
    case "tools": {
      const calls = [{ id: "call12345", type: "function", function: { name: "get_weather", arguments: { city: "Paris" } } }];
      return [
        { role: "system", content: kind === "tools" ? "You are terse." : described() },
        { role: "user", content: "Weather in Paris?" },
        { role: "assistant", content: "", reasoning_content: "Look it up.", tool_calls: calls },
        { role: "tool", content: '{"temp_c": 21}', tool_call_id: "call12345", name: "get_weather" },
        ...tail,
      ];
    }
  }
}

async function checkRendering(file: string, family: string, kind: Parameters<typeof templateView>[0], kwargs: Record<string, unknown> = {}): Promise<string> {
  const text = fs.readFileSync(file, "utf8");
  const spec = customChatTemplate("x", text);
  const model = await loadVocab(await templateModelPath(file));
  for (const special of spec.specialTokens) assert.equal(model.tokenize(special, true).length, 1, `${special} is one token`);
  const renderer = createPromptRenderer(model);
  assert.equal(renderer.family.name, family);
  const thinking = typeof kwargs.enable_thinking === "boolean" ? kwargs.enable_thinking : null;
  const rendered = renderer.render({ messages: conversation, tools: [weather], thinking, reasoningEffort: null, templateKwargs: {} });
  const definitions = [{ type: "function", function: { name: weather.name, description: weather.description, parameters: weather.parameters } }];
  const direct = new Template(text).render({
    ...kwargs,
    messages: templateView(kind),
    ...(kind === "tools" ? { tools: definitions } : {}),
    add_generation_prompt: true,
    bos_token: spec.bos,
    eos_token: spec.eos,
  });
  assert.equal(model.detokenize(rendered.tokens, true), (spec.addBos && !direct.startsWith(spec.bos) ? spec.bos : "") + direct);
  assert.ok(direct.includes(weather.description ?? ""), "the model sees the tool definitions");
  return direct;
}

describe("rendering equals the template's own", () => {
  test("fixture gemma-style: no system role, calls and results as text in alternating turns", async () => {
    const direct = await checkRendering(fixture("gemma-style"), "gemma", "as-text, no system role");
    assert.ok(direct.includes(`<start_of_turn>model\n${call}<end_of_turn>`), direct);
  });
  test("fixture phi-style: the tool turn is not dropped", async () => {
    const direct = await checkRendering(fixture("phi-style"), "phi3", "as-text");
    assert.ok(direct.includes(`<|user|>\n${result}<|end|>`), direct);
  });
  test("fixture smollm2-style", () => checkRendering(fixture("smollm2-style"), "smollm2", "tools described").then(() => undefined));
  test("fixture gemma4-style, thinking on and off", async () => {
    const on = await checkRendering(fixture("gemma4-style"), "gemma4", "tools", { enable_thinking: true });
    assert.ok(on.includes("<|think|>") && on.includes("<|channel>thought\nLook it up.<channel|>"), on);
    const off = await checkRendering(fixture("gemma4-style"), "gemma4", "tools", { enable_thinking: false });
    assert.ok(off.endsWith("<|channel>thought\n<channel|>"), off);
  });
  for (const [name, family, kind] of [
    ["gemma2", "gemma", "as-text, no system role"],
    ["gemma3", "gemma", "as-text, no system role"],
    ["phi3.5", "phi3", "as-text"],
    ["smollm2", "smollm2", "tools described"],
    ["gemma4", "gemma4", "tools"],
    ["gemma4-v1", "gemma4", "tools"],
  ] as const) {
    const file = renamedTemplate(name);
    test(`real ${name}`, { skip: file === null ? missingSharedFile(`${name}.jinja`) : false }, () => checkRendering(file ?? "", family, kind).then(() => undefined));
  }
});

describe("Gemma 4's thought", () => {
  const gemma4 = detectFamily({ template: fs.readFileSync(fixture("gemma4-style"), "utf8"), architecture: "", hasToken: () => false });
  test("its markers reach the splitter", () => {
    assert.deepEqual(parserMarkers(gemma4, gemma4.reasoning), ["<|tool_call>", "<tool_call|>", '<|"|>', "<|tool_response>", "<|channel>thought", "<channel|>"]);
  });
  test("<|channel>thought … <channel|> is reasoning over every split of the text", () => {
    const format = gemma4.reasoning ?? assert.fail("Gemma 4 reasons");
    const text = "<|channel>thought\nIt is 21 °C in Paris 🌤.<channel|>It is 21 °C.";
    for (let i = 0; i <= text.length; i++) {
      for (const pieces of [[text.slice(0, i), text.slice(i)], [...text]]) {
        const splitter: ReasoningSplitter = new ReasoningSplitter({ openTag: format.open, closeTag: format.close });
        const out = [...pieces.map((p) => splitter.push(p)), splitter.finish()];
        assert.equal(out.map((p) => p.reasoning).join(""), "It is 21 °C in Paris 🌤.");
        assert.equal(out.map((p) => p.content).join(""), "It is 21 °C.");
      }
    }
  });
});
