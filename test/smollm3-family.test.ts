/**
 * The SmolLM3 family without a server: a conversation with tools, a call
 * and its result renders exactly as the template renders it when given the
 * tools as JSON strings (its `tool | string` fails on objects outside Python)
 * and the past call written into the turn's content (its template never
 * writes `tool_calls`); thinking on and off through `enable_thinking`; the
 * output (Hermes calls after a `<think>` thought) read from every split.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { describe, test } from "node:test";
import { Template } from "@huggingface/jinja";
import { smollm3Family } from "../src/engines/llama/families/smollm3.js";
import { thinkTags } from "../src/engines/llama/families/qwen3.js";
import { createPromptRenderer } from "../src/engines/llama/prompt-renderer.js";
import type { ChatMessage } from "../src/protocol/chat-request.js";
import { checkOutputCase, cityWeatherTool } from "./helpers/family-output.js";
import { fixtureTemplate, templateModelPath } from "./helpers/models.js";
import { missingSharedFile, sharedTemplatePath } from "./helpers/shared-files.js";
import { loadVocab } from "./helpers/tokenizer.js";

test("a thought, then a Hermes call, from every split", () => {
  const text = '<think>\nWeather needed.\n</think>\n\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>';
  checkOutputCase({ title: "", text, content: "", reasoning: "Weather needed.\n", calls: [{ name: "get_weather", args: { city: "Paris" } }] }, { reasoning: thinkTags, syntax: "hermes" });
});

const weather = cityWeatherTool;

const conversation: ChatMessage[] = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "Weather in Paris?" },
  { role: "assistant", content: "", reasoning: null, toolCalls: [{ id: "call12345", name: "get_weather", arguments: '{"city": "Paris"}' }] },
  { role: "tool", content: '{"temp_c": 21}', toolCallId: "call12345", name: "get_weather" },
  { role: "assistant", content: "21 °C.", reasoning: null, toolCalls: [] },
  { role: "user", content: "Thanks. And Lyon?" },
];
const call = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>';
const templateView = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "Weather in Paris?" },
  { role: "assistant", content: call, tool_calls: [{ id: "call12345", type: "function", function: { name: "get_weather", arguments: { city: "Paris" } } }] },
  { role: "tool", content: '{"temp_c": 21}', tool_call_id: "call12345", name: "get_weather" },
  { role: "assistant", content: "21 °C." },
  { role: "user", content: "Thanks. And Lyon?" },
];

async function checkRendering(file: string): Promise<void> {
  const text = fs.readFileSync(file, "utf8");
  const model = await loadVocab(await templateModelPath(file));
  const renderer = createPromptRenderer(model);
  assert.equal(renderer.family, smollm3Family);
  assert.equal(renderer.reasoning, thinkTags);
  const definitions = [{ type: "function", function: { name: weather.name, description: weather.description, parameters: weather.parameters } }];
  assert.throws(() => new Template(text).render({ messages: templateView, tools: definitions, add_generation_prompt: true }), "the template cannot write tool objects");
  for (const thinking of [true, false]) {
    const rendered = renderer.render({ messages: conversation, tools: [weather], thinking, reasoningEffort: null, templateKwargs: {} });
    const direct = new Template(text).render({
      messages: templateView,
      tools: definitions.map((d) => JSON.stringify(d)),
      add_generation_prompt: true,
      enable_thinking: thinking,
      bos_token: "<|endoftext|>",
      eos_token: "<|im_end|>",
    });
    assert.equal(model.detokenize(rendered.tokens, true), direct);
    assert.ok(direct.includes(`${call}<|im_end|>`), "the past call is in the history");
    assert.ok(direct.includes(JSON.stringify(definitions[0])), "the tools are in the prompt");
    assert.ok(direct.includes(thinking ? "Reasoning Mode: /think" : "Reasoning Mode: /no_think"));
  }
}

describe("a conversation renders exactly as the template renders it", () => {
  test("chatport's smollm3-style fixture", () => checkRendering(fixtureTemplate("smollm3-style")));
  const real = sharedTemplatePath("smollm3");
  test("the real smollm3 template", { skip: real === null ? missingSharedFile("smollm3.jinja") : false }, () => checkRendering(real ?? ""));
});
