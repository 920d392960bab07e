/**
 * Kimi K2 and K2 Thinking (families/kimi-k2.ts): detected from the real
 * templates and from chatport's own fixture, rendered exactly as the
 * template renders, calls parsed from every split of the output with ids
 * `functions.NAME:INDEX`, and the grammar of a forced call.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { toolCallGbnf } from "../src/engines/llama/tool-call-grammar.js";
import { checkParseCase, checkRendering, detectedFamily, ownFixture, type ParseCase } from "./helpers/family-checks.js";
import { missingSharedFile, sharedTemplatePath } from "./helpers/shared-files.js";

const TEMPLATES: ReadonlyArray<[name: string, file: string | null]> = [
  ["fixture kimi-k2-style", ownFixture("kimi-k2-style")],
  ["real kimi-k2", sharedTemplatePath("kimi-k2")],
  ["real kimi-k2-thinking", sharedTemplatePath("kimi-k2-thinking")],
];

describe("Kimi K2 templates", () => {
  for (const [name, file] of TEMPLATES) {
    const skip = file === null ? missingSharedFile(`${name.replace("real ", "")}.jinja`) : false;
    test(`${name} is detected as kimi-k2`, { skip }, () => assert.equal(detectedFamily(file ?? ""), "kimi-k2"));
    test(`${name}: the engine renders what the template renders`, { skip }, async () => {
      const text = await checkRendering(file ?? "", "kimi-k2");
      assert.ok(text.includes("<|tool_call_argument_begin|>"), "the call is written in the family's syntax");
    });
  }
});

const call = (name: string, index: number, args: string): string => `<|tool_call_begin|>functions.${name}:${index}<|tool_call_argument_begin|>${args}<|tool_call_end|>`;
const weather = { name: "get_weather", args: { city: "Paris", days: 2 }, id: "functions.get_weather:0" };
const time = { name: "get_time", args: { zone: "UTC" }, id: "functions.get_time:1" };

const CASES: ParseCase[] = [
  {
    title: "thought, content, two calls; ids name the function and the call's index",
    syntax: "kimi-k2",
    reasoning: {},
    text: `<think>Need both.</think>On it.<|tool_calls_section_begin|>${call("get_weather", 0, '{"city": "Paris", "days": 2}')} ${call("get_time", 1, '{"zone": "UTC"}')}<|tool_calls_section_end|>`,
    thought: "Need both.",
    content: "On it.",
    calls: [weather, time],
  },
  {
    title: "the model's own index is not trusted for the id",
    syntax: "kimi-k2",
    text: `<|tool_calls_section_begin|>${call("get_weather", 7, '{"city": "Paris", "days": 2}')}<|tool_calls_section_end|>`,
    content: "",
    calls: [weather],
  },
  {
    title: "a name without the functions. prefix is no call",
    syntax: "kimi-k2",
    text: "<|tool_calls_section_begin|><|tool_call_begin|>get_weather:0<|tool_call_argument_begin|>{}<|tool_call_end|>",
    content: "<|tool_calls_section_begin|><|tool_call_begin|>get_weather:0<|tool_call_argument_begin|>{}<|tool_call_end|>",
    calls: [],
  },
];

describe("Kimi K2 calls are parsed the same from every split of the output", () => {
  for (const c of CASES) test(c.title, () => checkParseCase(c));
});

test("Kimi K2 forced-call grammar: functions.NAME:INDEX between the delimiters", () => {
  const tools = [{ name: "get_time", description: null, parameters: { type: "object", properties: { zone: { type: "string" } }, required: ["zone"] }, strict: true }];
  const gbnf = toolCallGbnf(tools, { onlyName: null, syntax: "kimi-k2", parallel: false, afterMarker: false });
  assert.match(gbnf, /^root ::= "<\|tool_calls_section_begin\|>" tool-call-object "<\|tool_calls_section_end\|>"$/m);
  assert.ok(gbnf.includes('"<|tool_call_begin|>functions.get_time" ":" [0-9] [0-9]? "<|tool_call_argument_begin|>"'), gbnf);
});
