/**
 * Families whose models write pythonic calls (`[f(a=1), g(b="x")]`): LFM2 /
 * LFM2.5 between `<|tool_call_start|>` markers, and Llama 3.2 / 4 pythonic
 * templates as the whole answer. Detection from the real templates
 * (../shared/templates, where present) and from chatport's own fixtures, the
 * engine's rendering equal to the template's own (tool calls, results and a
 * thought in history), the parser over every split of the text, Python
 * literals to JSON, and the grammar of a forced call.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { Template } from "@huggingface/jinja";
import { customChatTemplate } from "../src/cli/test-model-template.js";
import { detectFamily, parserMarkers, reasoningOf } from "../src/engines/llama/families/registry.js";
import { PythonLiteralScanner } from "../src/engines/llama/output/python-literal.js";
import { ToolCallStreamParser, type ParsedToolCall, type ToolCallDelta, type ToolCallSyntax } from "../src/engines/llama/output/tool-call-parser.js";
import { createPromptRenderer } from "../src/engines/llama/prompt-renderer.js";
import { pythonicCallList } from "../src/engines/llama/families/pythonic-call-grammar.js";
import { toolCallGbnf } from "../src/engines/llama/tool-call-grammar.js";
import type { ChatMessage, ToolDefinition } from "../src/protocol/chat-request.js";
import { ApiError } from "../src/protocol/errors.js";
import { templateModelPath } from "./helpers/models.js";
import { seededRandom } from "./helpers/random.js";
import { repoRoot } from "./helpers/server.js";
import { missingSharedFile, sharedTemplatePath } from "./helpers/shared-files.js";
import { loadVocab } from "./helpers/tokenizer.js";

const fixture = (name: string): string => path.join(repoRoot, "test", "fixtures", "templates", `${name}.jinja`);
const detect = (template: string): string => detectFamily({ template, architecture: "", hasToken: () => false }).name;

const SHARED: ReadonlyArray<[file: string, family: string, reasons: boolean]> = [
  ["lfm2", "lfm2", false],
  ["lfm2.5", "lfm2", true],
  ["lfm2.5-8b-a1b", "lfm2", true],
  // Meta's own Llama 3.2 template asks for JSON calls, not pythonic ones.
  ["llama3.2", "llama3", false],
];
const FIXTURES: ReadonlyArray<[file: string, family: string, reasons: boolean]> = [
  [fixture("lfm2-style"), "lfm2", true],
  [fixture("llama-pythonic-style"), "llama-pythonic", false],
  // No real Llama 4 template is at hand: our own, following Llama 4's documented format (<|header_start|> turns, <|eot|>, pythonic calls).
  [fixture("llama4-pythonic-style"), "llama4-pythonic", false],
];

describe("pythonic families are detected", () => {
  for (const [file, family, reasons] of FIXTURES) {
    test(`fixture ${path.basename(file)} is ${family}`, () => {
      const text = fs.readFileSync(file, "utf8");
      const found = detectFamily({ template: text, architecture: "", hasToken: () => false });
      assert.equal(found.name, family);
      assert.equal(reasoningOf(found, text) !== null, reasons);
    });
  }
  for (const [name, family, reasons] of SHARED) {
    const file = sharedTemplatePath(name);
    test(`the real ${name} template is ${family}`, { skip: file === null ? missingSharedFile(`${name}.jinja`) : false }, () => {
      const text = fs.readFileSync(file ?? "", "utf8");
      const found = detectFamily({ template: text, architecture: "", hasToken: () => false });
      assert.equal(found.name, family);
      assert.equal(reasoningOf(found, text) !== null, reasons, "reasoning");
    });
  }
  test("the parser sees LFM2's markers even though they are special tokens", () => {
    const lfm2 = detectFamily({ template: fs.readFileSync(fixture("lfm2-style"), "utf8"), architecture: "", hasToken: () => false });
    assert.deepEqual(parserMarkers(lfm2, lfm2.reasoning), ["<|tool_call_start|>", "<|tool_call_end|>", "<think>", "</think>"]);
    assert.equal(detect("{{ messages }}"), "fallback");
  });
});

const weather: ToolDefinition = {
  name: "get_weather",
  description: "Get the current weather for a city",
  parameters: { type: "object", properties: { city: { type: "string", description: "City name" }, days: { type: "integer" } }, required: ["city"] },
  strict: false,
};

/** system, user, assistant thought + call, tool result, assistant answer, user. */
const conversation: ChatMessage[] = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "Weather in Paris?" },
  { role: "assistant", content: "", reasoning: "Look it up.", toolCalls: [{ id: "call12345", name: "get_weather", arguments: '{"city": "Paris", "days": 2}' }] },
  { role: "tool", content: '{"temp_c": 21}', toolCallId: "call12345", name: "get_weather" },
  { role: "assistant", content: "21 °C.", reasoning: null, toolCalls: [] },
  { role: "user", content: "Thanks. And Lyon?" },
];

/** LFM2's call as the model writes it, which chatport puts back into the content for templates that write no calls. */
const lfm2Call = '<|tool_call_start|>[get_weather(city="Paris", days=2)]<|tool_call_end|>';

function templateView(historyField: string | undefined, callContent = ""): Array<Record<string, unknown>> {
  const thought = { reasoning_content: "Look it up.", ...(historyField === undefined ? {} : { [historyField]: "Look it up." }) };
  return [
    { role: "system", content: "You are terse." },
    { role: "user", content: "Weather in Paris?" },
    { role: "assistant", content: callContent, ...thought, tool_calls: [{ id: "call12345", type: "function", function: { name: "get_weather", arguments: { city: "Paris", days: 2 } } }] },
    { role: "tool", content: '{"temp_c": 21}', tool_call_id: "call12345", name: "get_weather" },
    { role: "assistant", content: "21 °C." },
    { role: "user", content: "Thanks. And Lyon?" },
  ];
}

async function checkRendering(file: string, familyName: string): Promise<void> {
  const text = fs.readFileSync(file, "utf8");
  const spec = customChatTemplate("x", text);
  const model = await loadVocab(await templateModelPath(file));
  for (const special of spec.specialTokens) assert.equal(model.tokenize(special, true).length, 1, `${special} is one token`);
  const renderer = createPromptRenderer(model);
  assert.equal(renderer.family.name, familyName);
  const rendered = renderer.render({ messages: conversation, tools: [weather], thinking: null, reasoningEffort: null, templateKwargs: {} });
  const definitions = [{ type: "function", function: { name: weather.name, description: weather.description, parameters: weather.parameters } }];
  const writesCalls = text.includes("tool_calls") || renderer.family.callsInContent === undefined;
  const direct = new Template(text).render({
    messages: templateView(renderer.family.historyReasoningField, writesCalls ? "" : lfm2Call),
    tools: definitions,
    add_generation_prompt: true,
    bos_token: spec.bos,
    eos_token: spec.eos,
  });
  assert.equal(model.detokenize(rendered.tokens, true), (spec.addBos && !direct.startsWith(spec.bos) ? spec.bos : "") + direct);
  assert.ok(direct.includes(weather.description ?? ""), "the model sees the tool definitions");
  if (!writesCalls) assert.ok(direct.includes(lfm2Call), "the model sees its call");
}

describe("a pythonic family's test model renders exactly what its template renders", () => {
  test("fixture lfm2-style: the call is written pythonic and the thought kept", async () => {
    await checkRendering(fixture("lfm2-style"), "lfm2");
    const direct = new Template(fs.readFileSync(fixture("lfm2-style"), "utf8")).render({ messages: templateView(undefined), tools: [], bos_token: "" });
    assert.ok(direct.includes('<think>Look it up.</think><|tool_call_start|>[get_weather(city="Paris", days=2)]<|tool_call_end|>'), direct);
  });
  test("fixture llama-pythonic-style", () => checkRendering(fixture("llama-pythonic-style"), "llama-pythonic"));
  test("fixture llama4-pythonic-style: Llama 4's turns, the call written pythonic, the result in the ipython role", async () => {
    await checkRendering(fixture("llama4-pythonic-style"), "llama4-pythonic");
    const direct = new Template(fs.readFileSync(fixture("llama4-pythonic-style"), "utf8")).render({ messages: templateView(undefined), tools: [], bos_token: "", add_generation_prompt: true });
    assert.ok(direct.includes("<|header_start|>assistant<|header_end|>\n\n[get_weather(city='Paris', days=2)]<|eot|>"), direct);
    assert.ok(direct.includes('<|header_start|>ipython<|header_end|>\n\n{"temp_c": 21}<|eot|>'), direct);
    assert.ok(direct.endsWith("<|header_start|>assistant<|header_end|>\n\n"), direct);
  });
  for (const [name, family] of SHARED.filter(([, f]) => f === "lfm2")) {
    const file = sharedTemplatePath(name);
    test(`real ${name}`, { skip: file === null ? missingSharedFile(`${name}.jinja`) : false }, () => checkRendering(file ?? "", family));
  }
  const big = sharedTemplatePath("lfm2.5-8b-a1b");
  test("real lfm2.5-8b-a1b writes the call and the thought (read from `thinking`) back", { skip: big === null ? missingSharedFile("lfm2.5-8b-a1b.jinja") : false }, async () => {
    const model = await loadVocab(await templateModelPath(big ?? ""));
    const rendered = createPromptRenderer(model).render({ messages: conversation.slice(0, 4), tools: [weather], thinking: null, reasoningEffort: null, templateKwargs: {} });
    const text = model.detokenize(rendered.tokens, true);
    assert.ok(text.includes("<think>Look it up.</think><|tool_call_start|>[get_weather(city='Paris', days=2)]<|tool_call_end|>"), text);
  });
});

// ---------------------------------------------------------------------------
// the parser over every split

interface Case {
  title: string;
  syntax: ToolCallSyntax;
  parallel?: boolean;
  text: string;
  content: string;
  calls: Array<{ name: string; args: unknown }>;
}

const CASES: Case[] = [
  {
    title: "lfm2: text, two calls with every kind of literal, text",
    syntax: "lfm2",
    text: `Sure. <|tool_call_start|>[get_weather(city="Pa\\"ris", days=3, ok=True, note=None), get_time(zone='U\\'TC', tags=['a', "b",], nested={'k': (1, 2.5e1, -0.5), "n": False})]<|tool_call_end|> Done.`,
    content: "Sure.  Done.",
    calls: [
      { name: "get_weather", args: { city: 'Pa"ris', days: 3, ok: true, note: null } },
      { name: "get_time", args: { zone: "U'TC", tags: ["a", "b"], nested: { k: [1, 25, -0.5], n: false } } },
    ],
  },
  {
    title: "lfm2: a call without arguments, and two marker blocks",
    syntax: "lfm2",
    text: "<|tool_call_start|>[a()]<|tool_call_end|>\n<|tool_call_start|>[b(x=1_000, y=.5)]<|tool_call_end|>",
    content: "",
    calls: [
      { name: "a", args: {} },
      { name: "b", args: { x: 1000, y: 0.5 } },
    ],
  },
  {
    title: "lfm2: a marker not followed by a list is content",
    syntax: "lfm2",
    text: "a <|tool_call_start|> b <|tool_call_sta",
    content: "a <|tool_call_start|> b <|tool_call_sta",
    calls: [],
  },
  {
    title: "lfm2, parallel off: the second call is content",
    syntax: "lfm2",
    parallel: false,
    text: "<|tool_call_start|>[a(x=1), b()]<|tool_call_end|>",
    content: ", b()]<|tool_call_end|>",
    calls: [{ name: "a", args: { x: 1 } }],
  },
  {
    title: "pythonic: the list as the whole answer, unicode and escapes",
    syntax: "pythonic",
    text: ' \n[get_weather(city="Zürich 🌧", q="\\u00e9\\n"), get_time(zone="UTC")]',
    content: "",
    calls: [
      { name: "get_weather", args: { city: "Zürich 🌧", q: "é\n" } },
      { name: "get_time", args: { zone: "UTC" } },
    ],
  },
  {
    title: "pythonic: text first means no calls",
    syntax: "pythonic",
    text: "The answer is [f(a=1)]",
    content: "The answer is [f(a=1)]",
    calls: [],
  },
  {
    title: "pythonic: a list that is not calls is content",
    syntax: "pythonic",
    text: "[1, 2, 3]",
    content: "[1, 2, 3]",
    calls: [],
  },
  {
    title: "pythonic: a call cut off inside a value keeps what arrived",
    syntax: "pythonic",
    text: "[f(a=12",
    content: "",
    calls: [{ name: "f", args: { a: 12 } }],
  },
];

function idMaker(): () => string {
  let n = 0;
  return () => `call_${++n}`;
}

/** The content, the calls, and each call's deltas: its first (id, name) and its argument fragments concatenated. */
function run(c: Case, pieces: readonly string[]): { content: string; calls: readonly ParsedToolCall[]; streamed: Array<{ id: string; name: string; args: string }> } {
  const parser = new ToolCallStreamParser(c.syntax, { newId: idMaker(), parallel: c.parallel ?? true });
  const out = [...pieces.map((p) => parser.push(p)), parser.finish()];
  const streamed: Array<{ id: string; name: string; args: string }> = [];
  for (const d of out.flatMap((p): ToolCallDelta[] => p.toolCalls)) {
    if (d.name !== undefined) {
      assert.equal(d.index, streamed.length, "calls start in order");
      assert.equal(d.arguments, "", "the first delta carries no arguments");
      streamed.push({ id: d.id ?? "", name: d.name, args: "" });
    } else {
      const call = streamed[d.index];
      assert.ok(call !== undefined && d.arguments !== undefined && d.arguments !== "", "argument fragments follow their call's first delta");
      call.args += d.arguments;
    }
  }
  return { content: out.map((p) => p.content).join(""), calls: parser.calls, streamed };
}

function splits(text: string): string[][] {
  const all: string[][] = [];
  for (let i = 0; i <= text.length; i++) all.push([text.slice(0, i), text.slice(i)]);
  for (let seed = 1; seed <= 8; seed++) {
    const next = seededRandom(seed);
    const pieces: string[] = [];
    for (let at = 0; at < text.length; ) {
      const length = 1 + Math.floor(next() * (1 + (seed % 6)));
      pieces.push(text.slice(at, at + length));
      at += length;
    }
    all.push(pieces);
  }
  all.push([...text]);
  return all;
}

describe("pythonic calls: splitting the text never changes the result", () => {
  for (const c of CASES) {
    test(c.title, () => {
      const whole = run(c, [c.text]);
      assert.equal(whole.content, c.content, "content");
      assert.deepEqual(
        whole.calls.map((call) => ({ name: call.name, args: JSON.parse(call.arguments) as unknown })),
        c.calls,
      );
      assert.deepEqual(whole.streamed, whole.calls.map((call) => ({ id: call.id, name: call.name, args: call.arguments })), "the deltas make the calls");
      for (const pieces of splits(c.text)) assert.deepEqual(run(c, pieces), whole, `pieces ${JSON.stringify(pieces)}`);
    });
  }
});

describe("PythonLiteralScanner", () => {
  function convert(text: string): { json: string; last: string } {
    let json = "";
    const scanner = new PythonLiteralScanner((t) => (json += t));
    let last = "";
    for (const ch of text) {
      last = scanner.step(ch);
      if (last === "error" || last === "done" || last === "end") break;
    }
    if (last === "more" && scanner.finish()) last = "done";
    return { json, last };
  }
  test("values become the same value in JSON", () => {
    for (const [python, value] of [
      ["'it\\'s'", "it's"],
      ['"tab\\there"', "tab\there"],
      ["'\\x41\\U0001F600'", "A😀"],
      ["-12", -12],
      ["3.", 3],
      ["1e-3", 0.001],
      ["True", true],
      ["None", null],
      ["[]", []],
      ["{}", {}],
      ["(1,)", [1]],
      ["{'a': [True, {'b': None}]}", { a: [true, { b: null }] }],
    ] as const) {
      const { json, last } = convert(python);
      assert.equal(last, "done", python);
      assert.deepEqual(JSON.parse(json), value, python);
    }
  });
  test("what is not a literal is an error", () => {
    for (const bad of ["undefined_name", "{1: 2}", "[1 2]", "'\\xZZ'", "1.2.3"]) {
      const { last } = convert(`${bad} `);
      assert.equal(last, "error", bad);
    }
  });
});

describe("the grammar of a forced pythonic call", () => {
  const tools: ToolDefinition[] = [
    weather,
    { name: "ping", description: "", parameters: { type: "object", properties: {} }, strict: true },
  ];
  test("LFM2: markers around a list of calls whose keyword values are Python literals", () => {
    const gbnf = toolCallGbnf([...tools, { name: "flag", parameters: { type: "object", properties: { on: { type: "boolean" }, n: { type: "null" } } }, strict: true, description: "" }], {
      onlyName: null,
      syntax: "lfm2",
      parallel: false,
      afterMarker: false,
    });
    assert.match(gbnf, /^root ::= "<\|tool_call_start\|>" "\[" tool-call-object "\]" "<\|tool_call_end\|>"$/m);
    assert.match(gbnf, /^tool-call-object ::= "get_weather\(" pycall-0-a0f "\)" \| "ping\(" pycall-1-a0f "\)" \| "flag\(" pycall-2-a0f "\)"$/m);
    assert.match(gbnf, /"city="/);
    assert.match(gbnf, /"True" \| "False"/);
    assert.match(gbnf, /"None"/);
    assert.doesNotMatch(gbnf, /(?<![\\\w])"(true|false|null)"/, "no JSON literal is left");
  });
  test("after the marker (strict tools with auto), and the pythonic list with no markers", () => {
    assert.match(toolCallGbnf(tools, { onlyName: "ping", syntax: "lfm2", parallel: true, afterMarker: true }), /^root ::= "\[" tool-call-object \(", " tool-call-object\)\* "\]" "<\|tool_call_end\|>"$/m);
    assert.match(toolCallGbnf(tools, { onlyName: "ping", syntax: "pythonic", parallel: false, afterMarker: false }), /^root ::= "\[" tool-call-object "\]"$/m);
  });
  test("parameters that are not one object schema with properties are refused with a 400 naming the tool", () => {
    const odd: ToolDefinition = { name: "odd", description: "", parameters: { anyOf: [{ type: "object" }] }, strict: true };
    assert.throws(
      () => toolCallGbnf([weather, odd], { onlyName: null, syntax: "lfm2", parallel: false, afterMarker: false }),
      (err: unknown) => err instanceof ApiError && err.status === 400 && err.param === "tools[1].function.parameters",
    );
  });
});

describe("a past call written back as pythonic text", () => {
  test("parses back to the same arguments", () => {
    const calls = [
      { name: "get_weather", arguments: '{"city": "Zürich \\"Ost\\"", "days": 2, "metric": true, "note": null}' },
      { name: "search", arguments: '{"q": "a\\nb", "tags": ["x", {"deep": [false, 1.5]}], "empty": {}}' },
      { name: "ping", arguments: "{}" },
    ];
    const text = pythonicCallList(calls);
    const parser = new ToolCallStreamParser("pythonic", { newId: idMaker(), parallel: true });
    const out = [...[...text].map((ch) => parser.push(ch)), parser.finish()];
    assert.equal(out.map((p) => p.content).join(""), "", text);
    assert.deepEqual(
      parser.calls.map((c) => ({ name: c.name, args: JSON.parse(c.arguments) as unknown })),
      calls.map((c) => ({ name: c.name, args: JSON.parse(c.arguments) as unknown })),
    );
  });
});
