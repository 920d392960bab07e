/**
 * The Nemotron Nano 2 family without a server: `<TOOLCALL>[…]</TOOLCALL>`
 * lists and the `<think>` thought read from every split, the forced call's
 * grammar, `/no_think` written for the template to read, and a conversation
 * rendered exactly as the template renders it.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { describe, test } from "node:test";
import { Template } from "@huggingface/jinja";
import { nemotronV2Family, nemotronV2Thinking } from "../src/engines/llama/families/nemotron-v2.js";
import { createPromptRenderer } from "../src/engines/llama/prompt-renderer.js";
import { toolCallGbnf } from "../src/engines/llama/tool-call-grammar.js";
import { checkOutputCase, cityWeatherTool, templateTools, thoughtCallConversation } from "./helpers/family-output.js";
import { fixtureTemplate, templateModelPath } from "./helpers/models.js";
import { missingSharedFile, sharedTemplatePath } from "./helpers/shared-files.js";
import { loadVocab } from "./helpers/tokenizer.js";

const CASES = [
  {
    title: "the opened thought, then two calls in one list, closed by </TOOLCALL>",
    text: 'Need both.\n</think>\n\n<TOOLCALL>[{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "get_time", "arguments": {"zone": "UTC"}}]</TOOLCALL>',
    start: true,
    content: "",
    reasoning: "Need both.\n",
    calls: [
      { name: "get_weather", args: { city: "Paris" } },
      { name: "get_time", args: { zone: "UTC" } },
    ],
  },
  {
    title: "text, a call, and text after the close tag",
    text: 'Let me check. <TOOLCALL>[{"name": "get_time", "arguments": {}}]</TOOLCALL> Done.',
    start: false,
    content: "Let me check.  Done.", // the spaces on both sides stay, as around Hermes calls
    reasoning: "",
    calls: [{ name: "get_time", args: {} }],
  },
  {
    title: "an answer after the thought",
    text: "Easy.</think>It is 21 °C.",
    start: true,
    content: "It is 21 °C.",
    reasoning: "Easy.",
    calls: [],
  },
];

describe("Nemotron Nano 2 output: splitting the text never changes the result", () => {
  for (const c of CASES) test(c.title, () => checkOutputCase(c, { reasoning: nemotronV2Thinking, syntax: "nemotron-v2" }));
});

const weather = cityWeatherTool;

test("a forced call is a <TOOLCALL> list closed by </TOOLCALL>", () => {
  const forced = toolCallGbnf([weather], { onlyName: null, syntax: "nemotron-v2", parallel: false, afterMarker: false });
  assert.match(forced, /^root ::= "<TOOLCALL>" "\[" tool-call-object "\]" "<\/TOOLCALL>"$/m);
});

const { messages: conversation, templateView } = thoughtCallConversation("Call it.", "reasoning_content", "call12345");

async function checkRendering(file: string): Promise<void> {
  const text = fs.readFileSync(file, "utf8");
  const model = await loadVocab(await templateModelPath(file));
  const renderer = createPromptRenderer(model);
  assert.equal(renderer.family, nemotronV2Family);
  assert.equal(renderer.reasoning, nemotronV2Thinking);
  const definitions = templateTools([weather]);
  const render = (view: unknown[]): string => new Template(text).render({ messages: view, tools: definitions, add_generation_prompt: true, bos_token: "<s>", eos_token: "<SPECIAL_12>" });
  const on = renderer.render({ messages: conversation, tools: [weather], thinking: null, reasoningEffort: null, templateKwargs: {} });
  assert.equal(model.detokenize(on.tokens, true), render(templateView));
  assert.ok(on.startsInReasoning, "the generation prompt opens the thought");
  const off = renderer.render({ messages: conversation, tools: [weather], thinking: false, reasoningEffort: null, templateKwargs: {} });
  const offView = templateView.map((m, i) => (i === templateView.length - 1 ? { ...m, content: `${m.content} /no_think` } : m));
  const offText = render(offView);
  assert.equal(model.detokenize(off.tokens, true), offText);
  assert.ok(offText.endsWith("<think></think>") && !offText.includes("/no_think"), "thinking off, and the switch is not in the prompt");
  assert.equal(off.startsInReasoning, false);
}

describe("a conversation renders exactly as the template renders it, thinking on and off", () => {
  test("chatport's nemotron-style fixture", () => checkRendering(fixtureTemplate("nemotron-style")));
  const real = sharedTemplatePath("nemotron-nano-v2");
  test("the real nemotron-nano-v2 template", { skip: real === null ? missingSharedFile("nemotron-nano-v2.jinja") : false }, () => checkRendering(real ?? ""));
});
