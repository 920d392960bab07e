/**
 * The Command R7B family without a server: its tool plan and action list read
 * from every split of the model's text, the forced call's grammar, and a
 * conversation with a plan, a call and its result rendered exactly as the
 * template renders it.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { describe, test } from "node:test";
import { Template } from "@huggingface/jinja";
import { commandR7bFamily, commandR7bThinking } from "../src/engines/llama/families/command-r7b.js";
import { createPromptRenderer } from "../src/engines/llama/prompt-renderer.js";
import { toolCallGbnf } from "../src/engines/llama/tool-call-grammar.js";
import { checkOutputCase, cityWeatherTool, templateTools, thoughtCallConversation } from "./helpers/family-output.js";
import { fixtureTemplate, templateModelPath } from "./helpers/models.js";
import { missingSharedFile, sharedTemplatePath } from "./helpers/shared-files.js";
import { loadVocab } from "./helpers/tokenizer.js";

// <|START_RESPONSE|>, <|END_RESPONSE|> and <|END_ACTION|> are control tokens decoding hides: the parsers never see them.
const CASES = [
  {
    title: "a plan, then two calls in one action list",
    text: '<|START_THINKING|>I will look up both.<|END_THINKING|><|START_ACTION|>[\n    {"tool_call_id": "0", "tool_name": "get_weather", "parameters": {"city": "Paris"}},\n    {"tool_call_id": "1", "tool_name": "get_time", "parameters": {"zone": "UTC"}}\n]',
    start: false,
    content: "",
    reasoning: "I will look up both.",
    calls: [
      { name: "get_weather", args: { city: "Paris" } },
      { name: "get_time", args: { zone: "UTC" } },
    ],
  },
  {
    title: "a plan, then the answer",
    text: "<|START_THINKING|>Nothing to call.<|END_THINKING|>It is [21] °C.",
    start: false,
    content: "It is [21] °C.",
    reasoning: "Nothing to call.",
    calls: [],
  },
  {
    title: "the prompt opened the plan",
    text: 'Plan.<|END_THINKING|><|START_ACTION|>[{"tool_call_id": "0", "tool_name": "get_time", "parameters": {}}]',
    start: true,
    content: "",
    reasoning: "Plan.",
    calls: [{ name: "get_time", args: {} }],
  },
];

describe("Command R7B output: splitting the text never changes the result", () => {
  for (const c of CASES) test(c.title, () => checkOutputCase(c, { reasoning: commandR7bThinking, syntax: "command-r7b" }));
});

const weather = cityWeatherTool;

test("a forced call is an action list of {tool_call_id, tool_name, parameters}", () => {
  const forced = toolCallGbnf([weather], { onlyName: null, syntax: "command-r7b", parallel: true, afterMarker: false });
  assert.match(forced, /^root ::= "<\|START_ACTION\|>" "\[" tool-call-object \(", " tool-call-object\)\* "\]"$/m);
  assert.match(forced, /^tool-call-object ::= "\{\\"tool_call_id\\": \\"" \[0-9\] \[0-9\]\? "\\", \\"tool_name\\": \\"get_weather\\", \\"parameters\\": " \S+ "\}"$/m);
});

const { messages: conversation, templateView } = thoughtCallConversation("Call get_weather.", "tool_plan", "call12345");

async function checkRendering(file: string): Promise<void> {
  const text = fs.readFileSync(file, "utf8");
  const model = await loadVocab(await templateModelPath(file));
  const renderer = createPromptRenderer(model);
  assert.equal(renderer.family, commandR7bFamily);
  assert.equal(renderer.reasoning, commandR7bThinking);
  const rendered = renderer.render({ messages: conversation, tools: [weather], thinking: null, reasoningEffort: null, templateKwargs: {} });
  const definitions = templateTools([weather]);
  const direct = new Template(text).render({ messages: templateView, tools: definitions, add_generation_prompt: true, bos_token: "<BOS_TOKEN>", eos_token: "<|END_OF_TURN_TOKEN|>" });
  assert.equal(model.detokenize(rendered.tokens, true), direct);
  assert.ok(direct.includes("<|START_THINKING|>Call get_weather.<|END_THINKING|><|START_ACTION|>"), "the plan of the call turn is written back");
  assert.ok(direct.includes('"tool_name": "get_weather"'));
  assert.ok(direct.includes("<|START_TOOL_RESULT|>"));
}

describe("a conversation with a plan renders exactly as the template renders it", () => {
  test("chatport's command-style fixture", () => checkRendering(fixtureTemplate("command-style")));
  const real = sharedTemplatePath("command-r7b");
  test("the real command-r7b template", { skip: real === null ? missingSharedFile("command-r7b.jinja") : false }, () => checkRendering(real ?? ""));
});
