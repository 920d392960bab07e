/**
 * Gemma 4's own call syntax (families/gemma.ts, output/gemma-call-shape.ts):
 * detected from the real templates and from chatport's own fixture, the
 * history rendered exactly as the template renders it (calls as
 * `<|tool_call>call:NAME{key:value}<tool_call|>`, results as
 * `<|tool_response>response:NAME{value:…}<tool_response|>`), calls parsed
 * from every split of the output with Gemma values converted to JSON, and
 * the grammar of a forced call.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { detectFamily, parserMarkers } from "../src/engines/llama/families/registry.js";
import { ToolCallStreamParser } from "../src/engines/llama/output/tool-call-parser.js";
import { toolCallGbnf } from "../src/engines/llama/tool-call-grammar.js";
import type { ToolDefinition } from "../src/protocol/chat-request.js";
import { checkParseCase, checkRendering, detectedFamily, ownFixture, type ParseCase } from "./helpers/family-checks.js";
import { missingSharedFile, sharedTemplatePath } from "./helpers/shared-files.js";

const TEMPLATES: ReadonlyArray<[name: string, file: string | null]> = [
  ["fixture gemma4-style", ownFixture("gemma4-style")],
  ["real gemma4", sharedTemplatePath("gemma4")],
  ["real gemma4-v1", sharedTemplatePath("gemma4-v1")],
];

const Q = '<|"|>';

describe("Gemma 4 templates", () => {
  for (const [name, file] of TEMPLATES) {
    const skip = file === null ? missingSharedFile(`${name.replace("real ", "")}.jinja`) : false;
    test(`${name} is detected as gemma4`, { skip }, () => assert.equal(detectedFamily(file ?? ""), "gemma4"));
    test(`${name}: the engine renders what the template renders`, { skip }, async () => {
      const text = await checkRendering(file ?? "", "gemma4");
      if (name.startsWith("real")) {
        assert.ok(text.includes(`<|tool_call>call:get_weather{city:${Q}Paris${Q},days:2}<tool_call|>`), `the call is written in the family's syntax: ${text}`);
        // The updated template writes the result into the model turn, the first release as a turn of its own.
        const result = name === "real gemma4" ? `<|tool_response>response:get_weather{value:${Q}{"temp_c": 21}${Q}}<tool_response|>` : '<|turn>tool\n{"temp_c": 21}<turn|>';
        assert.ok(text.includes(result), `the result is written in the template's form: ${text}`);
      }
    });
  }
  test("the call markers and the string delimiter reach the parser", () => {
    const family = detectFamily({ template: "<|turn>", architecture: "", hasToken: () => false });
    assert.deepEqual(parserMarkers(family, null), ["<|tool_call>", "<tool_call|>", Q, "<|tool_response>"]);
  });
});

const tools: ToolDefinition[] = [
  {
    name: "get_weather",
    description: null,
    parameters: {
      type: "object",
      properties: {
        city: { type: "string" },
        days: { type: "integer" },
        unit: { type: "string", enum: ["C", "F"] },
        flag: { type: "boolean" },
        tags: { type: "array", items: { type: "string" } },
        "odd key": { type: "number" },
      },
      required: ["city", "days"],
    },
    strict: false,
  },
  { name: "get_time", description: null, parameters: { type: "object", properties: { zone: { type: "string" } } }, strict: true },
];

const gemmaThought = { openTag: "<|channel>thought", closeTag: "<channel|>" };

const CASES: ParseCase[] = [
  {
    title: "thought, content, two calls with every kind of value; the response marker ends the output",
    syntax: "gemma4",
    reasoning: gemmaThought,
    text:
      `<|channel>thought\nCheck.<channel|>Sure.<|tool_call>call:get_weather{city:${Q}Paris "x" \\ <b> 🌤${Q},days:2,flag:true,none:null,` +
      `tags:[${Q}a${Q}, ${Q}b${Q}],opts:{a:-1.5e3,${Q}k${Q}:{},"j":[]}}<tool_call|><|tool_call>call:get_time{}<tool_call|>` +
      `<|tool_response>response:get_time{value:1}<tool_response|>`,
    thought: "Check.",
    content: "Sure.",
    calls: [
      { name: "get_weather", args: { city: 'Paris "x" \\ <b> 🌤', days: 2, flag: true, none: null, tags: ["a", "b"], opts: { a: -1500, k: {}, j: [] } } },
      { name: "get_time", args: {} },
    ],
  },
  {
    title: "JSON strings and quoted keys, as a forced-call grammar writes values that are not plain strings",
    syntax: "gemma4",
    text: `<|tool_call>call:get_weather{city:${Q}Lyon${Q},days:3,unit:"C","odd key":0.5}<tool_call|>`,
    content: "",
    calls: [{ name: "get_weather", args: { city: "Lyon", days: 3, unit: "C", "odd key": 0.5 } }],
  },
  {
    title: "whitespace between the parts; text after the calls is content",
    syntax: "gemma4",
    text: `<|tool_call>call:get_time { zone : ${Q}UTC${Q} } <tool_call|>\nDone.`,
    content: "\nDone.",
    calls: [{ name: "get_time", args: { zone: "UTC" } }],
  },
  {
    title: "parallel off leaves the second call as content",
    syntax: "gemma4",
    parallel: false,
    text: `A<|tool_call>call:get_time{}<tool_call|> <|tool_call>call:get_time{}<tool_call|>`,
    content: "A <|tool_call>call:get_time{}<tool_call|>",
    calls: [{ name: "get_time", args: {} }],
  },
  {
    title: "a <|tool_call> without call: is content, and a call after it is still read",
    syntax: "gemma4",
    text: `a <|tool_call>b <|"|> <|tool_call>call:get_time{zone:${Q}CET${Q}}<tool_call|>`,
    content: `a <|tool_call>b <|"|> `,
    calls: [{ name: "get_time", args: { zone: "CET" } }],
  },
];

describe("Gemma 4 calls are parsed the same from every split of the output", () => {
  for (const c of CASES) test(c.title, () => checkParseCase({ ...c, tools }));
});

test("a call cut off keeps what arrived; an argument that is no value ends the call", () => {
  const cut = new ToolCallStreamParser("gemma4", { newId: () => "x", parallel: true });
  const first = cut.push(`<|tool_call>call:get_time{zone:${Q}U`);
  assert.deepEqual(first.toolCalls[0], { index: 0, id: "x", name: "get_time", arguments: "" }, "the name goes out as soon as it is known");
  cut.finish();
  assert.equal(cut.calls[0]?.arguments, '{"zone":"U');
  const broken = new ToolCallStreamParser("gemma4", { newId: () => "y", parallel: true });
  const out = broken.push(`<|tool_call>call:get_time{zone:=}<tool_call|>rest`);
  assert.equal(out.content, "=}<tool_call|>rest");
  assert.equal(broken.calls[0]?.name, "get_time");
});

describe("Gemma 4 forced-call grammar", () => {
  test("call:NAME{…} between the markers, keys bare, plain strings in the model's delimiters, other values as JSON, optional ones optional", () => {
    const gbnf = toolCallGbnf(tools, { onlyName: "get_weather", syntax: "gemma4", parallel: false, afterMarker: false });
    assert.match(gbnf, /^root ::= "<\|tool_call>" tool-call-object$/m);
    assert.ok(gbnf.includes(String.raw`tool-call-object ::= "call:get_weather" "{" ("city:" "<|\"|>" [^<]* "<|\"|>" "," "days:" `), gbnf);
    assert.ok(gbnf.includes(String.raw`("," "unit:" `), gbnf);
    assert.ok(gbnf.includes(String.raw`("," "\"odd key\":" `), gbnf);
    assert.ok(gbnf.includes(String.raw`"}" "<tool_call|>"`), gbnf);
  });
  test("after the marker (strict tools under auto), parallel; a tool without required parameters may get {}", () => {
    const gbnf = toolCallGbnf(tools, { onlyName: "get_time", syntax: "gemma4", parallel: true, afterMarker: true });
    assert.match(gbnf, /^root ::= tool-call-object \("<\|tool_call>" tool-call-object\)\*$/m);
    assert.ok(gbnf.includes(String.raw`"call:get_time" "{" ("zone:" "<|\"|>" [^<]* "<|\"|>" | "") "}" "<tool_call|>"`), gbnf);
  });
  test("parameters that are not one object schema are refused with the parameter named", () => {
    const bad: ToolDefinition = { name: "f", description: null, parameters: { anyOf: [{ type: "object" }] }, strict: false };
    assert.throws(() => toolCallGbnf([bad], { onlyName: null, syntax: "gemma4", parallel: false, afterMarker: false }), (err: unknown) => {
      assert.match(String((err as { param?: unknown }).param), /tools\[0\]\.function\.parameters/);
      return true;
    });
  });
});
