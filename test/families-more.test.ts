/**
 * The families added after the registry's first ones — Seed-OSS
 * (families/seed-oss.ts), MiniMax-M2 (families/minimax-m2.ts) and
 * FireFunction v2 (families/firefunction-v2.ts): detected
 * from chatport's own fixtures and from the strings their real templates
 * spell, rendered exactly as the template renders, calls parsed from every
 * split of the output with values converted by their schemas, and the
 * grammar of a forced call.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { detectFamily } from "../src/engines/llama/families/registry.js";
import { toolCallGbnf } from "../src/engines/llama/tool-call-grammar.js";
import type { ToolDefinition } from "../src/protocol/chat-request.js";
import { checkParseCase, checkRendering, detectedFamily, ownFixture, type ParseCase } from "./helpers/family-checks.js";

const WEATHER_PARAMETERS = { type: "object", properties: { city: { type: "string", description: "City name" }, days: { type: "integer", description: "Days" } }, required: ["city"] };
const detect = (template: string): string => detectFamily({ template, architecture: "", hasToken: () => false }).name;

describe("detection and rendering", () => {
  for (const [fixture, family, written] of [
    ["seed-oss-style", "seed-oss", "<seed:tool_call>\n<function=get_weather>\n<parameter=city>Paris</parameter>\n<parameter=days>2</parameter>\n</function>\n</seed:tool_call>"],
    ["minimax-m2-style", "minimax-m2", '<minimax:tool_call>\n<invoke name="get_weather">\n<parameter name="city">Paris</parameter>\n<parameter name="days">2</parameter>\n</invoke>\n</minimax:tool_call>'],
  ] as const) {
    test(`fixture ${fixture} is detected as ${family}`, () => assert.equal(detectedFamily(ownFixture(fixture)), family));
    test(`${fixture}: the engine renders what the template renders`, async () => {
      const text = await checkRendering(ownFixture(fixture), family);
      assert.ok(text.includes(written), `the call is written in the family's syntax: ${text}`);
    });
  }
  test("fixture firefunction-v2-style is detected as firefunction-v2", () => assert.equal(detectedFamily(ownFixture("firefunction-v2-style")), "firefunction-v2"));
  test("firefunction-v2-style: the engine renders what the template renders, the tools as JSON text in `functions`", async () => {
    const functions = JSON.stringify([{ type: "function", function: { name: "get_weather", description: "Get the current weather for a city", parameters: WEATHER_PARAMETERS } }], null, 2);
    const text = await checkRendering(ownFixture("firefunction-v2-style"), "firefunction-v2", { functions, datetime: "Jan 02 2026 03:04:05 GMT" });
    assert.ok(text.includes(' functools[{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}]<|eot_id|>'), text);
    assert.ok(text.includes("Today is Jan 02 2026 03:04:05 GMT."), text);
  });
  test("the real templates' own spellings pick the families", () => {
    // Seed-OSS's template also shows <function= and <parameter= (Qwen3-Coder's detection) in its instructions.
    assert.equal(detect("{%- set toolcall_begin_token = '<seed:tool_call>' -%} <function=example_function_name>\n<parameter=example_parameter_1>"), "seed-oss");
    assert.equal(detect("{%- set toolcall_begin_token = '<minimax:tool_call>' -%} ']~b]ai' ~ '\\n' ~ '<think>'"), "minimax-m2");
    assert.equal(detect("'<|start_header_id|>' + ns.role + '<|end_header_id|>' … ' functools[' + tool.calls | join(', ') + ']'"), "firefunction-v2");
  });
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

const seedParam = (key: string, value: string): string => `<parameter=${key}>${value}</parameter>\n`;
const seedCall = (name: string, ...parameters: string[]): string => `<seed:tool_call>\n<function=${name}>\n${parameters.join("")}</function>\n</seed:tool_call>`;
const mmParam = (key: string, value: string): string => `<parameter name="${key}">${value}</parameter>\n`;
const invoke = (name: string, ...parameters: string[]): string => `<invoke name="${name}">\n${parameters.join("")}</invoke>\n`;
const mmBlock = (...invokes: string[]): string => `<minimax:tool_call>\n${invokes.join("")}</minimax:tool_call>`;

const CASES: ParseCase[] = [
  {
    title: "Seed-OSS: thought, content, two calls; values converted by their schemas",
    syntax: "seed-oss",
    reasoning: { openTag: "<seed:think>", closeTag: "</seed:think>" },
    text: `<seed:think>Check.</seed:think>Sure.\n${seedCall("get_weather", seedParam("city", "Paris"), seedParam("days", "2"), seedParam("code", "007"), seedParam("opts", '{"a": [1, "<b>"]}'))}\n${seedCall("get_time", seedParam("zone", '"UTC"'))}`,
    thought: "Check.",
    content: "Sure.\n",
    calls: [
      { name: "get_weather", args: { city: "Paris", days: 2, code: "007", opts: { a: [1, "<b>"] } } },
      { name: "get_time", args: { zone: "UTC" } },
    ],
  },
  {
    title: "Seed-OSS: multi-line text stays exact; a value that is not JSON stays text",
    syntax: "seed-oss",
    text: seedCall("get_weather", seedParam("city", "two\nlines  "), seedParam("tags", "not json")),
    content: "",
    calls: [{ name: "get_weather", args: { city: "two\nlines  ", tags: "not json" } }],
  },
  {
    title: "Seed-OSS: parallel off leaves the second call as content",
    syntax: "seed-oss",
    parallel: false,
    text: `${seedCall("get_time")}\n${seedCall("get_time")}`,
    content: seedCall("get_time"),
    calls: [{ name: "get_time", args: {} }],
  },
  {
    title: "Seed-OSS: a call cut off keeps the parameters that were complete; a bare tag is content",
    syntax: "seed-oss",
    text: `a <seed:tool_call> b ${seedCall("get_weather", seedParam("city", "Lyon")).replace("</function>\n</seed:tool_call>", "<parameter=days>3")}`,
    content: "a <seed:tool_call> b ",
    calls: [{ name: "get_weather", args: { city: "Lyon" } }],
  },
  {
    title: "MiniMax-M2: thought opened by the prompt, content, two calls in one block",
    syntax: "minimax-m2",
    reasoning: { startInReasoning: true, openTag: "<think>", closeTag: "</think>" },
    text: `Check.\n</think>\n\nSure.\n${mmBlock(invoke("get_weather", mmParam("city", "Paris"), mmParam("days", "2"), mmParam("opts", '{"a": [1, "<b>"]}')), invoke("get_time", mmParam("zone", "UTC")))}`,
    thought: "Check.\n",
    content: "Sure.\n",
    calls: [
      { name: "get_weather", args: { city: "Paris", days: 2, opts: { a: [1, "<b>"] } } },
      { name: "get_time", args: { zone: "UTC" } },
    ],
  },
  {
    title: "MiniMax-M2: calls in separate blocks, text after them",
    syntax: "minimax-m2",
    text: `${mmBlock(invoke("get_time"))}\n${mmBlock(invoke("get_weather", mmParam("city", "a\nb"), mmParam("tags", '["x"]')))} done`,
    content: "done",
    calls: [
      { name: "get_time", args: {} },
      { name: "get_weather", args: { city: "a\nb", tags: ["x"] } },
    ],
  },
  {
    title: "MiniMax-M2: parallel off leaves the block's second call as content",
    syntax: "minimax-m2",
    parallel: false,
    text: mmBlock(invoke("get_time", mmParam("zone", "CET")), invoke("get_time")),
    content: `${invoke("get_time")}</minimax:tool_call>`,
    calls: [{ name: "get_time", args: { zone: "CET" } }],
  },
  {
    title: "MiniMax-M2: a call cut off keeps the parameters that were complete; a bare tag is content",
    syntax: "minimax-m2",
    text: `a <minimax:tool_call> b <minimax:tool_call>\n${invoke("get_weather", mmParam("city", "Lyon")).replace("</invoke>\n", '<parameter name="days">3')}`,
    content: "a <minimax:tool_call> b ",
    calls: [{ name: "get_weather", args: { city: "Lyon" } }],
  },
  {
    title: "FireFunction v2: content, then a functools list of two calls",
    syntax: "firefunction-v2",
    text: 'Sure. functools[{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}, {"name": "get_time", "arguments": {"zone": "UTC"}}]',
    content: "Sure. ",
    calls: [
      { name: "get_weather", args: { city: "Paris", days: 2 } },
      { name: "get_time", args: { zone: "UTC" } },
    ],
  },
  {
    title: "FireFunction v2: the word without a list is content",
    syntax: "firefunction-v2",
    text: "import functools; functools.reduce",
    content: "import functools; functools.reduce",
    calls: [],
  },
];

describe("calls are parsed the same from every split of the output", () => {
  for (const c of CASES) test(c.title, () => checkParseCase({ ...c, tools }));
});

describe("forced-call grammars", () => {
  test("Seed-OSS: its block per call, values right after the key", () => {
    const gbnf = toolCallGbnf(tools, { onlyName: "get_weather", syntax: "seed-oss", parallel: false, afterMarker: false });
    assert.match(gbnf, /^root ::= "<seed:tool_call>" tool-call-object$/m);
    assert.ok(gbnf.includes(String.raw`"\x0A<function=get_weather>\x0A" "<parameter=city>" ([^<"\x0A] [^<]*)? "</parameter>\x0A" ("<parameter=days>" `), gbnf);
    assert.ok(gbnf.includes(String.raw`"</function>\x0A</seed:tool_call>"`), gbnf);
  });
  test("MiniMax-M2: one block around every call", () => {
    const gbnf = toolCallGbnf(tools, { onlyName: null, syntax: "minimax-m2", parallel: true, afterMarker: false });
    assert.match(gbnf, /^root ::= "<minimax:tool_call>" tool-call-object \(tool-call-object\)\* "\\n<\/minimax:tool_call>"$/m);
    assert.ok(gbnf.includes(String.raw`"\x0A<invoke name=\"get_weather\">\x0A" "<parameter name=\"city\">" ([^<"\x0A] [^<]*)? "</parameter>\x0A"`), gbnf);
    const after = toolCallGbnf(tools, { onlyName: null, syntax: "minimax-m2", parallel: false, afterMarker: true });
    assert.match(after, /^root ::= tool-call-object "\\n<\/minimax:tool_call>"$/m);
  });
  test("FireFunction v2: functools and a JSON list", () => {
    const gbnf = toolCallGbnf(tools, { onlyName: null, syntax: "firefunction-v2", parallel: true, afterMarker: false });
    assert.match(gbnf, /^root ::= "functools" "\[" tool-call-object \(", " tool-call-object\)\* "\]"$/m);
  });
});
