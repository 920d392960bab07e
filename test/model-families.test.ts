/**
 * Model families (src/engines/llama/families/): each is detected from its
 * real chat template (../shared/templates, where present) and from
 * chatport's own fixtures; a test model made with `--template` holds the
 * family's control strings as single tokens; and the engine's renderer gives
 * exactly the text the template itself gives.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { describe, test } from "node:test";
import { Template } from "@huggingface/jinja";
import { customChatTemplate, templateControlStrings } from "../src/cli/test-model-template.js";
import { fallbackFamily } from "../src/engines/llama/families/fallback.js";
import { detectFamily, MODEL_FAMILIES, parserMarkers, reasoningOf, toolCallSyntax } from "../src/engines/llama/families/registry.js";
import { createPromptRenderer, templateCallId } from "../src/engines/llama/prompt-renderer.js";
import { CHATML_THINKING_TOOLS_TEMPLATE, CHATML_TOOLS_TEMPLATE } from "../src/gguf/chatml-template.js";
import type { ChatMessage, ToolDefinition } from "../src/protocol/chat-request.js";
import { fixtureTemplate, templateModelPath } from "./helpers/models.js";
import { missingSharedFile, sharedTemplatePath } from "./helpers/shared-files.js";
import { loadVocab } from "./helpers/tokenizer.js";

const detect = (template: string): string => detectFamily({ template, architecture: "", hasToken: () => false }).name;

/** The real templates of the registered families, and the family each must be detected as. */
const SHARED: ReadonlyArray<[file: string, family: string]> = [
  ["qwen2.5", "hermes"],
  ["hermes3", "hermes"],
  ["qwen3", "qwen3"],
  ["qwq", "qwen3"],
  ["llama3.1", "llama3"],
  ["llama3.2", "llama3"],
  ["mistral-nemo", "mistral"],
  ["mistral-small-3.2", "mistral-args"],
  ["devstral-small-2507", "mistral-args"],
  ["ministral-3-reasoning", "mistral-args"],
  ["granite3.3", "granite3"],
  ["granite4.0", "granite4"],
  ["phi4-mini", "phi4-mini"],
  ["gpt-oss", "gpt-oss"],
  ["command-r7b", "command-r7b"],
  ["nemotron-nano-v2", "nemotron-v2"],
];

const FIXTURES: ReadonlyArray<[file: string, family: string]> = [
  [fixtureTemplate("mistral-style"), "mistral-args"],
  [fixtureTemplate("llama3-style"), "llama3"],
  [fixtureTemplate("granite-style"), "granite3"],
  [fixtureTemplate("harmony-style"), "gpt-oss"],
  [fixtureTemplate("ministral-think-style"), "mistral-args"],
  [fixtureTemplate("command-style"), "command-r7b"],
  [fixtureTemplate("nemotron-style"), "nemotron-v2"],
];

describe("registry", () => {
  test("every family's tool-call syntax is found by its name, and the fallback comes last", () => {
    for (const family of MODEL_FAMILIES) assert.equal(toolCallSyntax(family.toolCalls.name), family.toolCalls, family.name);
    assert.equal(MODEL_FAMILIES.at(-1), fallbackFamily);
    assert.equal(new Set(MODEL_FAMILIES.map((f) => f.name)).size, MODEL_FAMILIES.length, "names are unique");
  });

  test("chatport's own templates and fixtures are detected", () => {
    assert.equal(detect(CHATML_TOOLS_TEMPLATE), "hermes");
    assert.equal(detect(CHATML_THINKING_TOOLS_TEMPLATE), "qwen3");
    assert.equal(detect(""), "fallback");
    for (const [file, family] of FIXTURES) assert.equal(detect(fs.readFileSync(file, "utf8")), family, file);
  });

  for (const [name, family] of SHARED) {
    const file = sharedTemplatePath(name);
    test(`the real ${name} template is detected as ${family}`, { skip: file === null ? missingSharedFile(`${name}.jinja`) : false }, () => {
      assert.equal(detect(fs.readFileSync(file ?? "", "utf8")), family);
    });
  }

  test("reasoning is on only where the template uses the family's format", () => {
    const qwen3 = detectFamily({ template: CHATML_THINKING_TOOLS_TEMPLATE, architecture: "", hasToken: () => false });
    assert.deepEqual(reasoningOf(qwen3, CHATML_THINKING_TOOLS_TEMPLATE), { open: "<think>", close: "</think>", switchVariable: "enable_thinking" });
    assert.equal(reasoningOf(fallbackFamily, "{{ messages[0].content }}"), null);
    assert.deepEqual(parserMarkers(qwen3, qwen3.reasoning), ["<tool_call>", "</tool_call>", "<think>", "</think>"]);
  });

  test("control strings are found in template text", () => {
    assert.deepEqual(templateControlStrings(`{{ '<|im_start|>' + x + '[TOOL_CALLS]' }}<｜User｜>[/INST] ['content'] [0]`), [
      "<|im_start|>",
      "[TOOL_CALLS]",
      "<｜User｜>",
      "[/INST]",
    ]);
  });
});

const weather: ToolDefinition = {
  name: "get_weather",
  description: "Get the current weather for a city",
  // Hermes 3 reads every parameter's description.
  parameters: { type: "object", properties: { city: { type: "string", description: "City name" } }, required: ["city"] },
  strict: false,
};

/** system, user, assistant tool call, tool result, assistant answer, user: every template here accepts it (9-character id for Mistral). */
const conversation: ChatMessage[] = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "Weather in Paris?" },
  { role: "assistant", content: "", reasoning: null, toolCalls: [{ id: "call12345", name: "get_weather", arguments: '{"city": "Paris"}' }] },
  { role: "tool", content: '{"temp_c": 21}', toolCallId: "call12345", name: "get_weather" },
  { role: "assistant", content: "21 °C.", reasoning: null, toolCalls: [] },
  { role: "user", content: "Thanks. And Lyon?" },
];

/** The same conversation as a template reads it: OpenAI-shaped dicts, arguments as objects. */
const templateView = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "Weather in Paris?" },
  { role: "assistant", content: "", tool_calls: [{ id: "call12345", type: "function", function: { name: "get_weather", arguments: { city: "Paris" } } }] },
  { role: "tool", content: '{"temp_c": 21}', tool_call_id: "call12345", name: "get_weather" },
  { role: "assistant", content: "21 °C." },
  { role: "user", content: "Thanks. And Lyon?" },
];

async function checkTemplateModel(file: string, familyName: string): Promise<void> {
  const text = fs.readFileSync(file, "utf8");
  const spec = customChatTemplate("x", text);
  const model = await loadVocab(await templateModelPath(file));
  // Every control string is one token, and bos / eos are the family's.
  for (const special of spec.specialTokens) assert.equal(model.tokenize(special, true).length, 1, `${special} is one token`);
  assert.equal(model.tokens.bosString, spec.bos);
  assert.equal(model.tokens.eosString, spec.eos);

  const renderer = createPromptRenderer(model);
  assert.equal(renderer.family.name, familyName);
  const rendered = renderer.render({ messages: conversation, tools: [weather], thinking: null, reasoningEffort: null, templateKwargs: {} });
  const definitions = [{ type: "function", function: { name: weather.name, description: weather.description, parameters: weather.parameters } }];
  // Phi-4-mini reads the tools only as a JSON string on the system message.
  const view =
    renderer.family.toolDefinitions === "system-message-field"
      ? [{ ...templateView[0], tools: JSON.stringify(definitions) }, ...templateView.slice(1)]
      : templateView;
  const direct = new Template(text).render({
    messages: view,
    tools: definitions,
    add_generation_prompt: true,
    bos_token: spec.bos,
    eos_token: spec.eos,
  });
  assert.equal(model.detokenize(rendered.tokens, true), (spec.addBos && !direct.startsWith(spec.bos) ? spec.bos : "") + direct);
  assert.ok(direct.includes(weather.description ?? ""), "the model sees the tool definitions");
  assert.deepEqual(rendered.tokens.slice(-8), model.tokenize(direct, true).slice(-8), "the same tokens as the template's text");
}

describe("test models with a family's template render exactly what the template renders", () => {
  for (const [file, family] of FIXTURES) {
    test(`fixture ${file.split("/").at(-1)} (${family})`, () => checkTemplateModel(file, family));
  }
  for (const [name, family] of SHARED) {
    const file = sharedTemplatePath(name);
    test(`real ${name} (${family})`, { skip: file === null ? missingSharedFile(`${name}.jinja`) : false }, () => checkTemplateModel(file ?? "", family));
  }
});

describe("call ids another client made reach a template that takes only its own form", () => {
  // An Anthropic client sends `toolu_…` ids, an OpenAI client `call_…`: Mistral's templates raise on anything but 9 alphanumerics.
  const foreign: ChatMessage[] = conversation.map((m) =>
    m.role === "assistant" && m.toolCalls.length > 0
      ? { ...m, toolCalls: m.toolCalls.map((c) => ({ ...c, id: "toolu_01A09q90qw90lq917835lq9" })) }
      : m.role === "tool"
        ? { ...m, toolCallId: "toolu_01A09q90qw90lq917835lq9" }
        : m,
  );
  const cases: Array<[string, string | null]> = [["fixture mistral-style", fixtureTemplate("mistral-style")], ["real mistral-nemo", sharedTemplatePath("mistral-nemo")]];
  for (const [name, file] of cases) {
    test(name, { skip: file === null ? missingSharedFile("mistral-nemo.jinja") : false }, async () => {
      const model = await loadVocab(await templateModelPath(file ?? ""));
      const renderer = createPromptRenderer(model);
      assert.equal(renderer.family.callIdLength, 9);
      const text = model.detokenize(renderer.render({ messages: foreign, tools: [weather], thinking: null, reasoningEffort: null, templateKwargs: {} }).tokens, true);
      const id = templateCallId("toolu_01A09q90qw90lq917835lq9", 9);
      assert.match(id, /^[0-9a-f]{9}$/);
      // Mistral Nemo writes the ids (and raises on any other form); the newer `name[ARGS]` templates write none.
      assert.equal(text.split(id).length - 1, renderer.family.name === "mistral" ? 2 : 0, `the call and its result carry the same id:\n${text}`);
      assert.ok(!text.includes("toolu_"), "the foreign id is not shown to the model");
      assert.equal(templateCallId("abcDEF123", 9), "abcDEF123", "ids already in the family's form are kept");
    });
  }
});
