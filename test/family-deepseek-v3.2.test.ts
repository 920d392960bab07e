/**
 * DeepSeek V3.2 (families/deepseek.ts): detected from the real template and
 * from chatport's own fixture, rendered exactly as the template renders
 * (the arguments reach it as objects, so its `from_json` never runs), DSML
 * calls parsed from every split of the output with each value typed by its
 * `string` attribute, and the grammar of a forced call.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { toolCallGbnf } from "../src/engines/llama/tool-call-grammar.js";
import type { ToolDefinition } from "../src/protocol/chat-request.js";
import { checkParseCase, checkRendering, detectedFamily, ownFixture, type ParseCase } from "./helpers/family-checks.js";
import { missingSharedFile, sharedTemplatePath } from "./helpers/shared-files.js";

const TEMPLATES: ReadonlyArray<[name: string, file: string | null]> = [
  ["fixture deepseek-v3.2-style", ownFixture("deepseek-v3.2-style")],
  ["real deepseek-v3.2", sharedTemplatePath("deepseek-v3.2")],
];

const D = "｜DSML｜";
const parameter = (key: string, string: boolean, value: string): string => `<${D}parameter name="${key}" string="${string}">${value}</${D}parameter>\n`;
const invoke = (name: string, ...parameters: string[]): string => `<${D}invoke name="${name}">\n${parameters.join("")}</${D}invoke>\n`;
const block = (...calls: string[]): string => `<${D}function_calls>\n${calls.join("")}</${D}function_calls>`;

describe("DeepSeek V3.2 templates", () => {
  for (const [name, file] of TEMPLATES) {
    const skip = file === null ? missingSharedFile(`${name.replace("real ", "")}.jinja`) : false;
    test(`${name} is detected as deepseek-v3.2`, { skip }, () => assert.equal(detectedFamily(file ?? ""), "deepseek-v3.2"));
    test(`${name}: the engine renders what the template renders`, { skip }, async () => {
      const text = await checkRendering(file ?? "", "deepseek-v3.2");
      assert.ok(text.includes(block(invoke("get_weather", parameter("city", true, "Paris"), parameter("days", false, "2")))), `the call is written in DSML: ${text}`);
    });
  }
});

const tools: ToolDefinition[] = [
  {
    name: "get_weather",
    description: null,
    parameters: { type: "object", properties: { city: { type: "string" }, days: { type: "integer" }, code: { type: "integer" }, opts: { type: "object" } }, required: ["city"] },
    strict: false,
  },
  { name: "get_time", description: null, parameters: { type: "object", properties: { zone: { type: "string", enum: ["UTC", "CET"] } } }, strict: true },
];

const CASES: ParseCase[] = [
  {
    title: "thought, content, two calls in one block; values typed by their string attribute",
    syntax: "deepseek-v3.2",
    reasoning: { startInReasoning: true },
    text: `\nCheck.\n</think>\n\nSure.\n\n${block(
      invoke("get_weather", parameter("city", true, "Paris <b> \"x\""), parameter("days", false, "2"), parameter("opts", false, '{"a": [1]}')),
      invoke("get_time", parameter("zone", false, '"UTC"')),
    )}`,
    thought: "Check.\n",
    content: "Sure.\n\n",
    calls: [
      { name: "get_weather", args: { city: 'Paris <b> "x"', days: 2, opts: { a: [1] } } },
      { name: "get_time", args: { zone: "UTC" } },
    ],
  },
  {
    title: "string=\"true\" keeps the text even where it looks like JSON; a call without parameters",
    syntax: "deepseek-v3.2",
    text: block(invoke("get_weather", parameter("city", true, "007"), parameter("code", true, "12")), invoke("get_time")),
    content: "",
    calls: [
      { name: "get_weather", args: { city: "007", code: "12" } },
      { name: "get_time", args: {} },
    ],
  },
  {
    title: "parallel off: the block's second call is text",
    syntax: "deepseek-v3.2",
    parallel: false,
    text: block(invoke("get_time"), invoke("get_time")),
    content: `<${D}invoke name="get_time">\n</${D}invoke>\n</${D}function_calls>`,
    calls: [{ name: "get_time", args: {} }],
  },
];

describe("DeepSeek V3.2 calls are parsed the same from every split of the output", () => {
  for (const c of CASES) test(c.title, () => checkParseCase({ ...c, tools }));
});

describe("DeepSeek V3.2 forced-call grammar", () => {
  test("the block, invoke elements, plain strings as raw text with string=\"true\", other values as JSON with string=\"false\"", () => {
    const gbnf = toolCallGbnf(tools, { onlyName: "get_weather", syntax: "deepseek-v3.2", parallel: true, afterMarker: false });
    assert.ok(gbnf.startsWith('root ::= "<｜DSML｜function_calls>\\n" tool-call-object (tool-call-object)* "</｜DSML｜function_calls>"\n'), gbnf);
    // Our GBNF literals write characters past ASCII as escapes (｜ is U+FF5C).
    const dsml = (text: string): string => text.replaceAll("｜", "\\uFF5C");
    assert.ok(gbnf.includes(dsml(String.raw`"<｜DSML｜invoke name=\"get_weather\">\x0A" "<｜DSML｜parameter name=\"city\" string=\"true\">" ([^<"\x0A] [^<]*)? "</｜DSML｜parameter>\x0A"`)), gbnf);
    assert.ok(gbnf.includes(dsml(String.raw`("<｜DSML｜parameter name=\"days\" string=\"false\">" `)), gbnf);
    assert.ok(gbnf.includes(dsml(String.raw`"</｜DSML｜invoke>\x0A"`)), gbnf);
  });
  test("after the marker (strict tools under auto), one call", () => {
    const gbnf = toolCallGbnf(tools, { onlyName: null, syntax: "deepseek-v3.2", parallel: false, afterMarker: true });
    assert.ok(gbnf.startsWith('root ::= "\\n" tool-call-object "</｜DSML｜function_calls>"\n'), gbnf);
  });
});
