/**
 * Mistral's `[TOOL_CALLS]name[ARGS]{…}` family (Small 3.2, Devstral,
 * Ministral 3) without a server: the output read from every split (the
 * `[THINK]` thought, calls with and without `[CALL_ID]`, parallel calls),
 * the forced call's grammar in the name form, and a conversation with a
 * thought, a call and its result rendered exactly as the template renders it.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { describe, test } from "node:test";
import { Template } from "@huggingface/jinja";
import { mistralArgsFamily, thinkBrackets } from "../src/engines/llama/families/mistral-args.js";
import { createPromptRenderer } from "../src/engines/llama/prompt-renderer.js";
import { toolCallGbnf } from "../src/engines/llama/tool-call-grammar.js";
import type { ChatMessage } from "../src/protocol/chat-request.js";
import { checkOutputCase, cityWeatherTool } from "./helpers/family-output.js";
import { fixtureTemplate, templateModelPath } from "./helpers/models.js";
import { missingSharedFile, sharedTemplatePath } from "./helpers/shared-files.js";
import { loadVocab } from "./helpers/tokenizer.js";

const CASES = [
  {
    title: "a thought, then a call",
    text: '[THINK]The user wants Paris.[/THINK][TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}',
    start: false,
    content: "",
    reasoning: "The user wants Paris.",
    calls: [{ name: "get_weather", args: { city: "Paris" } }],
  },
  {
    title: "parallel calls, one with a call id (Small 3.2)",
    text: '[TOOL_CALLS]get_weather[CALL_ID]a1b2c3d4e[ARGS]{"city": "Lyon"}[TOOL_CALLS]get_time[ARGS]{"zone": "UTC"}',
    start: false,
    content: "",
    reasoning: "",
    calls: [
      { name: "get_weather", args: { city: "Lyon" } },
      { name: "get_time", args: { zone: "UTC" } },
    ],
  },
  {
    title: "a thought and an answer, text before a call is content",
    text: "[THINK]Easy.[/THINK]\n\nIt is [sunny]. [TOOL_CALLS]get_time[ARGS]{}",
    start: false,
    content: "It is [sunny]. ",
    reasoning: "Easy.",
    calls: [{ name: "get_time", args: {} }],
  },
  {
    title: "the prompt opened the thought",
    text: "Hmm [THINK] no.[/THINK]Answer.",
    start: true,
    content: "Answer.",
    reasoning: "Hmm [THINK] no.",
    calls: [],
  },
];

describe("[TOOL_CALLS]name[ARGS] with [THINK]: splitting the text never changes the result", () => {
  for (const c of CASES) test(c.title, () => checkOutputCase(c, { reasoning: thinkBrackets, syntax: "mistral-args" }));
});

const weather = cityWeatherTool;

test("a forced call is written [TOOL_CALLS]name[ARGS]{…}, repeated when parallel", () => {
  const forced = toolCallGbnf([weather], { onlyName: null, syntax: "mistral-args", parallel: true, afterMarker: false });
  assert.match(forced, /^root ::= "\[TOOL_CALLS\]" tool-call-object \("\[TOOL_CALLS\]" tool-call-object\)\*$/m);
  assert.match(forced, /^tool-call-object ::= "get_weather\[ARGS\]" \S+$/m);
  const one = toolCallGbnf([weather], { onlyName: "get_weather", syntax: "mistral-args", parallel: false, afterMarker: true });
  assert.match(one, /^root ::= tool-call-object$/m);
});

const conversation: ChatMessage[] = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "Weather in Paris?" },
  { role: "assistant", content: "", reasoning: "Call get_weather.", toolCalls: [{ id: "call12345", name: "get_weather", arguments: '{"city": "Paris"}' }] },
  { role: "tool", content: '{"temp_c": 21}', toolCallId: "call12345", name: "get_weather" },
  { role: "assistant", content: "21 °C.", reasoning: "Report it.", toolCalls: [] },
  { role: "user", content: "Thanks. And Lyon?" },
];
const templateView = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "Weather in Paris?" },
  {
    role: "assistant",
    content: [{ type: "thinking", thinking: "Call get_weather." }],
    tool_calls: [{ id: "call12345", type: "function", function: { name: "get_weather", arguments: { city: "Paris" } } }],
  },
  { role: "tool", content: '{"temp_c": 21}', tool_call_id: "call12345", name: "get_weather" },
  { role: "assistant", content: [{ type: "thinking", thinking: "Report it." }, { type: "text", text: "21 °C." }] },
  { role: "user", content: "Thanks. And Lyon?" },
];

async function checkRendering(file: string): Promise<void> {
  const text = fs.readFileSync(file, "utf8");
  const model = await loadVocab(await templateModelPath(file));
  const renderer = createPromptRenderer(model);
  assert.equal(renderer.family, mistralArgsFamily);
  assert.equal(renderer.reasoning, thinkBrackets);
  const rendered = renderer.render({ messages: conversation, tools: [weather], thinking: null, reasoningEffort: null, templateKwargs: {} });
  const definitions = [{ type: "function", function: { name: weather.name, description: weather.description, parameters: weather.parameters } }];
  const direct = new Template(text).render({ messages: templateView, tools: definitions, add_generation_prompt: true, bos_token: "<s>", eos_token: "</s>" });
  assert.equal(model.detokenize(rendered.tokens, true), direct);
  assert.ok(direct.includes('[THINK]Call get_weather.[/THINK][TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}'), direct);
  assert.ok(direct.includes("[THINK]Report it.[/THINK]21 °C."));
}

describe("a conversation with thoughts renders exactly as the template renders it", () => {
  test("chatport's ministral-think-style fixture", () => checkRendering(fixtureTemplate("ministral-think-style")));
  const real = sharedTemplatePath("ministral-3-reasoning");
  test("the real ministral-3-reasoning template", { skip: real === null ? missingSharedFile("ministral-3-reasoning.jinja") : false }, () => checkRendering(real ?? ""));
});
