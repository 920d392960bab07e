/**
 * Qwen3-Coder, Qwen3.5 and Nemotron 3 Nano (families/qwen3-coder.ts):
 * detected from the real templates and from chatport's own fixture,
 * rendered exactly as the template renders, XML calls parsed from every
 * split of the output with values converted by their schemas, and the
 * grammar of a forced call.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { toolCallGbnf } from "../src/engines/llama/tool-call-grammar.js";
import { ToolCallStreamParser } from "../src/engines/llama/output/tool-call-parser.js";
import type { ToolDefinition } from "../src/protocol/chat-request.js";
import { checkParseCase, checkRendering, detectedFamily, ownFixture, type ParseCase } from "./helpers/family-checks.js";
import { missingSharedFile, sharedTemplatePath } from "./helpers/shared-files.js";

const TEMPLATES: ReadonlyArray<[name: string, file: string | null]> = [
  ["fixture qwen3-coder-style", ownFixture("qwen3-coder-style")],
  ["real qwen3-coder", sharedTemplatePath("qwen3-coder")],
  ["real qwen3.5", sharedTemplatePath("qwen3.5")],
  ["real nemotron-3-nano", sharedTemplatePath("nemotron-3-nano")],
];

describe("Qwen3-Coder templates", () => {
  for (const [name, file] of TEMPLATES) {
    const skip = file === null ? missingSharedFile(`${name.replace("real ", "")}.jinja`) : false;
    test(`${name} is detected as qwen3-coder`, { skip }, () => assert.equal(detectedFamily(file ?? ""), "qwen3-coder"));
    test(`${name}: the engine renders what the template renders`, { skip }, async () => {
      const text = await checkRendering(file ?? "", "qwen3-coder");
      assert.ok(text.includes("<function=get_weather>\n<parameter=city>\nParis\n</parameter>"), "the call is written in the family's syntax");
    });
  }
});

const tools: ToolDefinition[] = [
  {
    name: "get_weather",
    description: null,
    parameters: {
      type: "object",
      properties: { city: { type: "string" }, days: { type: "integer" }, code: { type: "string" }, opts: { type: "object" }, tags: { type: "array", items: { type: "string" } } },
      required: ["city"],
    },
    strict: false,
  },
  { name: "get_time", description: null, parameters: { type: "object", properties: { zone: { type: "string", enum: ["UTC", "CET"] } } }, strict: true },
];

const parameter = (key: string, value: string): string => `<parameter=${key}>\n${value}\n</parameter>\n`;
const call = (name: string, ...parameters: string[]): string => `<tool_call>\n<function=${name}>\n${parameters.join("")}</function>\n</tool_call>`;

const CASES: Array<ParseCase & { tools?: ToolDefinition[] }> = [
  {
    title: "thought, content, two calls; values converted by their schemas",
    syntax: "qwen3-coder",
    reasoning: { startInReasoning: true },
    text: `\nCheck.\n</think>\n\nSure.\n${call("get_weather", parameter("city", "Paris"), parameter("days", "2"), parameter("code", "007"), parameter("opts", '{"a": [1, "<b>"]}'))}\n${call("get_time", parameter("zone", '"UTC"'))}`,
    thought: "Check.\n",
    content: "Sure.\n",
    calls: [
      { name: "get_weather", args: { city: "Paris", days: 2, code: "007", opts: { a: [1, "<b>"] } } },
      { name: "get_time", args: { zone: "UTC" } },
    ],
  },
  {
    title: "multi-line text stays exact; a value that is not JSON stays text",
    syntax: "qwen3-coder",
    text: call("get_weather", parameter("city", "two\nlines  "), parameter("tags", "not json")),
    content: "",
    calls: [{ name: "get_weather", args: { city: "two\nlines  ", tags: "not json" } }],
  },
  {
    title: "a call without parameters; parallel off leaves the second call as content",
    syntax: "qwen3-coder",
    parallel: false,
    text: `${call("get_time")}\n${call("get_time")}`,
    content: call("get_time"),
    calls: [{ name: "get_time", args: {} }],
  },
  {
    title: "a call cut off keeps the parameters that were complete",
    syntax: "qwen3-coder",
    text: `<tool_call>\n<function=get_weather>\n${parameter("city", "Lyon")}<parameter=days>\n3`,
    content: "",
    calls: [{ name: "get_weather", args: { city: "Lyon" } }],
  },
  {
    title: "a <tool_call> without a function is content",
    syntax: "qwen3-coder",
    text: "a <tool_call> b",
    content: "a <tool_call> b",
    calls: [],
  },
];

describe("Qwen3-Coder calls are parsed the same from every split of the output", () => {
  for (const c of CASES) test(c.title, () => checkParseCase({ ...c, tools }));
});

test("without the tool's schema, values are read as JSON where they parse", () => {
  const parser = new ToolCallStreamParser("qwen3-coder", { newId: () => "x", parallel: true });
  parser.push(call("unknown", parameter("n", "5"), parameter("s", "text")));
  parser.finish();
  assert.deepEqual(JSON.parse(parser.calls[0]?.arguments ?? ""), { n: 5, s: "text" });
});

describe("Qwen3-Coder forced-call grammar", () => {
  test("the XML elements, plain strings as raw text, other values as their JSON, optional parameters optional", () => {
    const gbnf = toolCallGbnf(tools, { onlyName: "get_weather", syntax: "qwen3-coder", parallel: false, afterMarker: false });
    assert.match(gbnf, /^root ::= "<tool_call>" tool-call-object$/m);
    assert.ok(gbnf.includes(String.raw`"\x0A<function=get_weather>\x0A" "<parameter=city>\x0A" ([^<"\x0A] [^<]*)? "\x0A</parameter>\x0A" ("<parameter=days>\x0A" `), gbnf);
    assert.ok(gbnf.includes(String.raw`"</function>\x0A</tool_call>"`), gbnf);
  });
  test("after the marker (strict tools under auto), parallel", () => {
    const gbnf = toolCallGbnf(tools, { onlyName: null, syntax: "qwen3-coder", parallel: true, afterMarker: true });
    assert.match(gbnf, /^root ::= tool-call-object \("\\n<tool_call>" tool-call-object\)\*$/m);
  });
});
