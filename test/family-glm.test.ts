/**
 * GLM-4.5 / 4.6 / 4.7 (families/glm.ts): detected from the real templates
 * and from chatport's own fixture, rendered exactly as the template renders,
 * `<arg_key>`/`<arg_value>` calls parsed from every split of the output with
 * values converted by their schemas, and the grammar of a forced call.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { toolCallGbnf } from "../src/engines/llama/tool-call-grammar.js";
import type { ToolDefinition } from "../src/protocol/chat-request.js";
import { checkParseCase, checkRendering, detectedFamily, ownFixture, type ParseCase } from "./helpers/family-checks.js";
import { missingSharedFile, sharedTemplatePath } from "./helpers/shared-files.js";

const TEMPLATES: ReadonlyArray<[name: string, file: string | null]> = [
  ["fixture glm-style", ownFixture("glm-style")],
  ["real glm-4.5", sharedTemplatePath("glm-4.5")],
  ["real glm-4.6", sharedTemplatePath("glm-4.6")],
  ["real glm-4.7-flash", sharedTemplatePath("glm-4.7-flash")],
  ["real glm-4.5-air-unsloth", sharedTemplatePath("glm-4.5-air-unsloth")],
];

describe("GLM templates", () => {
  for (const [name, file] of TEMPLATES) {
    const skip = file === null ? missingSharedFile(`${name.replace("real ", "")}.jinja`) : false;
    test(`${name} is detected as glm`, { skip }, () => assert.equal(detectedFamily(file ?? ""), "glm"));
    test(`${name}: the engine renders what the template renders`, { skip }, async () => {
      const text = await checkRendering(file ?? "", "glm");
      assert.match(text, /<tool_call>get_weather\n?<arg_key>city<\/arg_key>\n?<arg_value>Paris<\/arg_value>/, "the call is written in the family's syntax");
    });
  }
});

const tools: ToolDefinition[] = [
  { name: "get_weather", description: null, parameters: { type: "object", properties: { city: { type: "string" }, days: { type: "integer" } }, required: ["city"] }, strict: false },
  { name: "get_time", description: null, parameters: { type: "object", properties: { zone: { type: "string", enum: ["UTC", "CET"] } } }, strict: true },
];

const arg = (key: string, value: string, nl = "\n"): string => `<arg_key>${key}</arg_key>${nl}<arg_value>${value}</arg_value>${nl}`;

const CASES: Array<ParseCase & { tools: ToolDefinition[] }> = [
  {
    title: "GLM-4.5: thought, content, two calls with newlines; values converted by their schemas",
    syntax: "glm",
    reasoning: {},
    text: `\n<think>Look.</think>\nOK.\n<tool_call>get_weather\n${arg("city", "Paris")}${arg("days", "2")}</tool_call>\n<tool_call>get_time\n${arg("zone", "UTC")}</tool_call>`,
    thought: "Look.",
    content: "OK.\n",
    calls: [
      { name: "get_weather", args: { city: "Paris", days: 2 } },
      { name: "get_time", args: { zone: "UTC" } },
    ],
    tools,
  },
  {
    title: "GLM-4.7: no newlines; a string parameter that looks like a number stays text",
    syntax: "glm",
    text: `<tool_call>get_weather${arg("city", "75001", "")}${arg("days", "3", "")}</tool_call>`,
    content: "",
    calls: [{ name: "get_weather", args: { city: "75001", days: 3 } }],
    tools,
  },
  {
    title: "a call cut off keeps the complete parameters",
    syntax: "glm",
    text: `<tool_call>get_weather\n${arg("city", "Lyon")}<arg_key>days</arg_key><arg_val`,
    content: "",
    calls: [{ name: "get_weather", args: { city: "Lyon" } }],
    tools,
  },
  {
    title: "a <tool_call> without a name is content",
    syntax: "glm",
    text: "see <tool_call> <arg_key>x</arg_key>",
    content: "see <tool_call> <arg_key>x</arg_key>",
    calls: [],
    tools,
  },
];

describe("GLM calls are parsed the same from every split of the output", () => {
  for (const c of CASES) test(c.title, () => checkParseCase(c));
});

test("GLM forced-call grammar: the name after the open tag, then key/value pairs", () => {
  const gbnf = toolCallGbnf(tools, { onlyName: "get_weather", syntax: "glm", parallel: false, afterMarker: false });
  assert.match(gbnf, /^root ::= "<tool_call>" tool-call-object$/m);
  assert.ok(gbnf.includes(String.raw`"get_weather\x0A" "<arg_key>city</arg_key>\x0A<arg_value>" ([^<"\x0A] [^<]*)? "</arg_value>\x0A" ("<arg_key>days</arg_key>\x0A<arg_value>" `), gbnf);
  assert.ok(gbnf.includes(String.raw`"</tool_call>"`), gbnf);
});
