import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ReasoningSplitter, type ReasoningSplitterOptions } from "../src/engines/llama/output/reasoning-splitter.js";
import {
  ToolCallStreamParser,
  type ParsedToolCall,
  type ToolCallDelta,
  type ToolCallPiece,
  type ToolCallSyntax,
} from "../src/engines/llama/output/tool-call-parser.js";
import { seededRandom } from "./helpers/random.js";

// ---------------------------------------------------------------------------
// helpers

function idMaker(): { newId: () => string; count: () => number } {
  let n = 0;
  return { newId: () => `call_${++n}`, count: () => n };
}

interface ToolRun {
  content: string;
  deltas: ToolCallDelta[];
  pieces: ToolCallPiece[];
  calls: readonly ParsedToolCall[];
  idsMade: number;
}

function runTools(syntax: ToolCallSyntax, pieces: readonly string[], parallel = true): ToolRun {
  const ids = idMaker();
  const parser = new ToolCallStreamParser(syntax, { newId: ids.newId, parallel });
  const out: ToolCallPiece[] = pieces.map((p) => parser.push(p));
  out.push(parser.finish());
  return {
    content: out.map((p) => p.content).join(""),
    deltas: out.flatMap((p) => p.toolCalls),
    pieces: out,
    calls: parser.calls,
    idsMade: ids.count(),
  };
}

function runReasoning(pieces: readonly string[], options?: ReasoningSplitterOptions): { reasoning: string; content: string } {
  const splitter = new ReasoningSplitter(options);
  let reasoning = "";
  let content = "";
  for (const piece of [...pieces.map((p) => splitter.push(p)), splitter.finish()]) {
    reasoning += piece.reasoning;
    content += piece.content;
  }
  return { reasoning, content };
}

/** Checks the OpenAI streaming contract of the deltas against the final calls. */
function checkDeltas(deltas: readonly ToolCallDelta[], calls: readonly ParsedToolCall[]): void {
  let current = -1;
  const fragments: string[] = [];
  for (const delta of deltas) {
    if (delta.index !== current) {
      assert.equal(delta.index, current + 1, "calls start in order, one after the other");
      current = delta.index;
      const call = calls[current];
      assert.ok(call !== undefined, `delta for call ${current} that never completed`);
      assert.deepEqual(delta, { index: current, id: call.id, name: call.name, arguments: "" }, "first delta of a call");
      fragments.push("");
    } else {
      assert.deepEqual(Object.keys(delta).sort(), ["arguments", "index"], "later deltas carry only arguments");
      assert.ok(delta.arguments !== undefined && delta.arguments !== "", "no empty fragments");
      fragments[current] += delta.arguments;
    }
  }
  assert.equal(fragments.length, calls.length, "every call was streamed");
  fragments.forEach((text, i) => assert.equal(text, calls[i]?.arguments, `fragments of call ${i} concatenate to its arguments`));
}

function randomPieces(text: string, seed: number, maxLength: number): string[] {
  const next = seededRandom(seed);
  const pieces: string[] = [];
  let at = 0;
  while (at < text.length) {
    const length = 1 + Math.floor(next() * maxLength);
    pieces.push(text.slice(at, at + length));
    at += length;
  }
  return pieces;
}

/** Every way of cutting `text` in two, random small pieces, and one piece per character. */
function splits(text: string): string[][] {
  const all: string[][] = [];
  for (let i = 0; i <= text.length; i++) all.push([text.slice(0, i), text.slice(i)]);
  for (let seed = 1; seed <= 12; seed++) all.push(randomPieces(text, seed, 1 + (seed % 6)));
  all.push(Array.from({ length: text.length }, (_, i) => text.charAt(i)));
  return all;
}

// ---------------------------------------------------------------------------
// property-style: splitting never changes the result

interface ExpectedCall {
  name: string;
  /** JSON.parse of the arguments, when they are complete JSON. */
  args?: unknown;
  /** The exact raw arguments text. */
  raw?: string;
}

interface Case {
  title: string;
  syntax: ToolCallSyntax | null;
  parallel?: boolean;
  reasoning?: ReasoningSplitterOptions;
  text: string;
  content: string;
  thought?: string;
  calls: ExpectedCall[];
}

interface PipelineResult {
  content: string;
  reasoning: string;
  calls: ParsedToolCall[];
  fragments: string[];
}

/** The engine's pipeline: reasoning split first, then tool calls parsed out of the content. */
function pipeline(c: Case, pieces: readonly string[]): PipelineResult {
  const ids = idMaker();
  const splitter = c.reasoning === undefined ? null : new ReasoningSplitter(c.reasoning);
  const parser = c.syntax === null ? null : new ToolCallStreamParser(c.syntax, { newId: ids.newId, parallel: c.parallel ?? true });
  let content = "";
  let reasoning = "";
  const deltas: ToolCallDelta[] = [];
  const route = (text: string): void => {
    if (parser === null) {
      content += text;
      return;
    }
    const piece = parser.push(text);
    content += piece.content;
    deltas.push(...piece.toolCalls);
  };
  for (const p of pieces) {
    if (splitter === null) {
      route(p);
    } else {
      const split = splitter.push(p);
      reasoning += split.reasoning;
      route(split.content);
    }
  }
  if (splitter !== null) {
    const end = splitter.finish();
    reasoning += end.reasoning;
    route(end.content);
  }
  let calls: ParsedToolCall[] = [];
  if (parser !== null) {
    const end = parser.finish();
    content += end.content;
    deltas.push(...end.toolCalls);
    checkDeltas(deltas, parser.calls);
    calls = parser.calls.map((call) => ({ ...call }));
    assert.equal(ids.count(), calls.length, "newId is called once per call");
  }
  const fragments: string[] = [];
  for (const d of deltas) fragments[d.index] = (fragments[d.index] ?? "") + (d.arguments ?? "");
  return { content, reasoning, calls, fragments };
}

const CASES: Case[] = [
  {
    title: "hermes: one call after some text",
    syntax: "hermes",
    text: 'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}\n</tool_call>',
    content: "Let me check.\n",
    calls: [{ name: "get_weather", raw: '{"city": "Paris", "unit": "c"}', args: { city: "Paris", unit: "c" } }],
  },
  {
    title: "hermes: several calls, unicode, escaped quotes and braces in strings, nesting, arguments before name",
    syntax: "hermes",
    text:
      '<tool_call>{"name": "search", "arguments": {"q": "say \\"hi\\" {not a brace} [x] \\\\", "lang": "日本語 🎉"}}</tool_call>\n' +
      '<tool_call>\n{"arguments": {"nested": {"a": [1, {"b": null}], "c": "}]"}}, "name": "calc"}\n</tool_call>\n\n',
    content: "",
    calls: [
      { name: "search", args: { q: 'say "hi" {not a brace} [x] \\', lang: "日本語 🎉" } },
      { name: "calc", raw: '{"nested": {"a": [1, {"b": null}], "c": "}]"}}', args: { nested: { a: [1, { b: null }], c: "}]" } } },
    ],
  },
  {
    title: "hermes: arguments given as a JSON string stay raw; text after the calls is content",
    syntax: "hermes",
    text: '<tool_call>{"name":"f","arguments":"{\\"x\\": 1}"}</tool_call> Done.',
    content: " Done.",
    calls: [{ name: "f", raw: '"{\\"x\\": 1}"', args: '{"x": 1}' }],
  },
  {
    title: "hermes: missing arguments become {}; a missing close tag is tolerated",
    syntax: "hermes",
    text: '<tool_call>{"name": "now"}</tool_call><tool_call>{"name": "later", "arguments": {"in": 5}}\n<tool_call>{"name": "x\\u005fy", "arguments": []}',
    content: "",
    calls: [
      { name: "now", raw: "{}", args: {} },
      { name: "later", args: { in: 5 } },
      { name: "x_y", raw: "[]", args: [] },
    ],
  },
  {
    title: "hermes: text between calls stays content",
    syntax: "hermes",
    text: '<tool_call>{"name":"a","arguments":{}}</tool_call> and <tool_call>{"name":"b","arguments":{"k":"v"}}</tool_call>',
    content: " and ",
    calls: [
      { name: "a", args: {} },
      { name: "b", args: { k: "v" } },
    ],
  },
  {
    title: "hermes: markers that never become calls are content",
    syntax: "hermes",
    text: 'Use <tool_call> like this: <tool_call>{"name": 5}</tool_call> or <tool_cal',
    content: 'Use <tool_call> like this: <tool_call>{"name": 5}</tool_call> or <tool_cal',
    calls: [],
  },
  {
    title: "hermes: an object without a name is content",
    syntax: "hermes",
    text: 'x <tool_call>{"arguments": {"a": "<tool_call>"}}</tool_call>',
    content: 'x <tool_call>{"arguments": {"a": "<tool_call>"}}</tool_call>',
    calls: [],
  },
  {
    title: "hermes: truncated after the name keeps the call with the argument text that arrived",
    syntax: "hermes",
    text: 'ok <tool_call>{"name": "f", "arguments": {"a": "unterminated \\" {',
    content: "ok ",
    calls: [{ name: "f", raw: '{"a": "unterminated \\" {' }],
  },
  {
    title: "hermes: truncated before the name is content",
    syntax: "hermes",
    text: 'ok <tool_call>{"arguments": {"a": 1}, "na',
    content: 'ok <tool_call>{"arguments": {"a": 1}, "na',
    calls: [],
  },
  {
    title: "hermes, parallel off: nothing is recognised after the first call",
    syntax: "hermes",
    parallel: false,
    text: '<tool_call>{"name":"a","arguments":{"x":1}}</tool_call>\n<tool_call>{"name":"b","arguments":{}}</tool_call>',
    content: '\n<tool_call>{"name":"b","arguments":{}}</tool_call>',
    calls: [{ name: "a", args: { x: 1 } }],
  },
  {
    title: "hermes, parallel off: trailing whitespace is dropped",
    syntax: "hermes",
    parallel: false,
    text: 'Hi <tool_call>{"name":"a","arguments":{"x":[1,2]}}</tool_call>\n\n  ',
    content: "Hi ",
    calls: [{ name: "a", args: { x: [1, 2] } }],
  },
  {
    title: "hermes after a thought",
    syntax: "hermes",
    reasoning: {},
    text: '<think>\nNeed the weather in "Oslo" {today}.\n</think>\n\n<tool_call>\n{"name": "w", "arguments": {"c": "Oslo"}}\n</tool_call>',
    thought: 'Need the weather in "Oslo" {today}.\n',
    content: "",
    calls: [{ name: "w", args: { c: "Oslo" } }],
  },
  {
    title: "hermes after a thought opened by the prompt, with an answer before the call",
    syntax: "hermes",
    reasoning: { startInReasoning: true },
    text: "Thinking… <tool_call> is what I need.</think>\n\nSure — calling.\n<tool_call>{\"name\": \"ping\", \"arguments\": {\"host\": \"é.example\"}}</tool_call>",
    thought: "Thinking… <tool_call> is what I need.",
    content: "Sure — calling.\n",
    calls: [{ name: "ping", args: { host: "é.example" } }],
  },
  {
    title: "mistral: JSON array, the model's ids are ignored",
    syntax: "mistral",
    text: '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "abc123xyz"}, {"id": "zzz", "arguments": {"tz": "CET"}, "name": "get_time"}]',
    content: "",
    calls: [
      { name: "get_weather", args: { city: "Paris" } },
      { name: "get_time", raw: '{"tz": "CET"}', args: { tz: "CET" } },
    ],
  },
  {
    title: "mistral: name[ARGS]{json} repeated, brackets inside strings",
    syntax: "mistral",
    text: 'Sure.[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}[TOOL_CALLS]get_time[ARGS]{"tz": "a]b}c[ARGS]"}',
    content: "Sure.",
    calls: [
      { name: "get_weather", args: { city: "Paris" } },
      { name: "get_time", args: { tz: "a]b}c[ARGS]" } },
    ],
  },
  {
    title: "mistral: [CALL_ID] is skipped; a single object after the marker",
    syntax: "mistral",
    text: '[TOOL_CALLS]f[CALL_ID]a1b2c3d4e[ARGS]{"k": [1, 2, {"z": "ü"}]}\n[TOOL_CALLS] {"name": "g", "arguments": {"s": "\\u00e9"}}',
    content: "",
    calls: [
      { name: "f", args: { k: [1, 2, { z: "ü" }] } },
      { name: "g", raw: '{"s": "\\u00e9"}', args: { s: "é" } },
    ],
  },
  {
    title: "granite: <|tool_call|> JSON list, several calls, text before is content",
    syntax: "granite",
    text: 'Checking.<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Par]is"}}, {"arguments": {"tz": "CET"}, "name": "get_time"}]',
    content: "Checking.",
    calls: [
      { name: "get_weather", args: { city: "Par]is" } },
      { name: "get_time", raw: '{"tz": "CET"}', args: { tz: "CET" } },
    ],
  },
  {
    title: "granite: no name[ARGS] form, so a name after the marker is content",
    syntax: "granite",
    text: '<|tool_call|>get_weather[ARGS]{"city": "Paris"}',
    content: '<|tool_call|>get_weather[ARGS]{"city": "Paris"}',
    calls: [],
  },
  {
    title: "phi4-mini: functools[JSON list]",
    syntax: "phi4-mini",
    text: 'functools[{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "get_time", "arguments": {"tz": "UTC"}}]',
    content: "",
    calls: [
      { name: "get_weather", args: { city: "Paris" } },
      { name: "get_time", args: { tz: "UTC" } },
    ],
  },
  {
    title: "mistral: a marker followed by prose is content",
    syntax: "mistral",
    text: "The [TOOL_CALLS] token is a marker [TOOL_",
    content: "The [TOOL_CALLS] token is a marker [TOOL_",
    calls: [],
  },
  {
    title: "mistral, parallel off: the second array element is content",
    syntax: "mistral",
    parallel: false,
    text: '[TOOL_CALLS][{"name":"a","arguments":{}}, {"name":"b","arguments":{}}]',
    content: ', {"name":"b","arguments":{}}]',
    calls: [{ name: "a", args: {} }],
  },
  {
    title: "mistral with [THINK] tags",
    syntax: "mistral",
    reasoning: { openTag: "[THINK]", closeTag: "[/THINK]" },
    text: '[THINK]Use the tool.[/THINK][TOOL_CALLS]lookup[ARGS]{"q": "[/THINK]"}',
    thought: "Use the tool.",
    content: "",
    calls: [{ name: "lookup", args: { q: "[/THINK]" } }],
  },
  {
    title: "llama3-json: python tag and parameters",
    syntax: "llama3-json",
    text: '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}',
    content: "",
    calls: [{ name: "get_weather", args: { city: "Paris" } }],
  },
  {
    title: "llama3-json: type key, several calls separated by ;, arguments key, literals",
    syntax: "llama3-json",
    text: ' \n{"type": "function", "name": "a", "parameters": {"x": 1}}; {"name": "b", "arguments": {"y": [true, false, null, -1.5e3]}};\n',
    content: "",
    calls: [
      { name: "a", args: { x: 1 } },
      { name: "b", raw: '{"y": [true, false, null, -1.5e3]}', args: { y: [true, false, null, -1500] } },
    ],
  },
  {
    title: "llama3-json: arguments before the name, text after the call",
    syntax: "llama3-json",
    text: '{"parameters": {"q": "x;y"}, "name": "late"} and then text {"name": "no"}',
    content: ' and then text {"name": "no"}',
    calls: [{ name: "late", args: { q: "x;y" } }],
  },
  {
    title: "llama3-json: not at the start means all content",
    syntax: "llama3-json",
    text: 'The answer is {"name": "x", "parameters": {}}',
    content: 'The answer is {"name": "x", "parameters": {}}',
    calls: [],
  },
  {
    title: "llama3-json: an object without a name is content",
    syntax: "llama3-json",
    text: '  {"not": "a call", "n": 12.5}',
    content: '  {"not": "a call", "n": 12.5}',
    calls: [],
  },
  {
    title: "llama3-json, parallel off: the second call is content",
    syntax: "llama3-json",
    parallel: false,
    text: '{"name": "a", "parameters": {}} ; {"name": "b", "parameters": {}}',
    content: ' ; {"name": "b", "parameters": {}}',
    calls: [{ name: "a", args: {} }],
  },
  {
    title: "reasoning only: unicode, whitespace after the close tag dropped",
    syntax: null,
    reasoning: { startInReasoning: true },
    text: "\nThinking about ünïcödé 🤔</think>  \n Answer: 42\n",
    thought: "Thinking about ünïcödé 🤔",
    content: "Answer: 42\n",
    calls: [],
  },
  {
    title: "reasoning never closed",
    syntax: "hermes",
    reasoning: {},
    text: '  <think>I will call <tool_call>{"name": "x"}</tool_call> later</th',
    thought: 'I will call <tool_call>{"name": "x"}</tool_call> later</th',
    content: "",
    calls: [],
  },
];

describe("splitting the text never changes the result", () => {
  for (const c of CASES) {
    test(c.title, () => {
      const whole = pipeline(c, [c.text]);
      assert.equal(whole.content, c.content, "content");
      assert.equal(whole.reasoning, c.thought ?? "", "reasoning");
      assert.deepEqual(
        whole.calls.map((call) => call.name),
        c.calls.map((call) => call.name),
        "call names",
      );
      whole.calls.forEach((call, i) => {
        const expected = c.calls[i];
        assert.ok(expected !== undefined);
        assert.equal(call.id, `call_${i + 1}`);
        if (expected.raw !== undefined) assert.equal(call.arguments, expected.raw, "raw arguments");
        if (expected.args !== undefined) assert.deepEqual(JSON.parse(call.arguments), expected.args, "parsed arguments");
        assert.equal(whole.fragments[i], call.arguments, "fragments concatenate to the arguments");
      });
      for (const pieces of splits(c.text)) {
        const split = pipeline(c, pieces);
        assert.deepEqual(split, whole, `pieces ${JSON.stringify(pieces)}`);
      }
    });
  }
});

// ---------------------------------------------------------------------------
// reasoning splitter

describe("ReasoningSplitter", () => {
  test("splits thought from answer; tags appear in neither", () => {
    assert.deepEqual(runReasoning(["<think>\nI think.\n</think>\n\nAnswer."]), { reasoning: "I think.\n", content: "Answer." });
    assert.deepEqual(runReasoning(["<think>x</think>y"]), { reasoning: "x", content: "y" });
  });

  test("only one newline after the open tag is dropped; \\r\\n counts as one", () => {
    assert.deepEqual(runReasoning(["<think>\n\nx</think>y"]), { reasoning: "\nx", content: "y" });
    assert.deepEqual(runReasoning(["<think>\r", "\nx</think>y"]), { reasoning: "x", content: "y" });
    assert.deepEqual(runReasoning(["<think>\r"]), { reasoning: "\r", content: "" });
  });

  test("the open tag counts only at the start, after optional whitespace", () => {
    assert.deepEqual(runReasoning([" \n <think>a</think>b"]), { reasoning: "a", content: "b" });
    assert.deepEqual(runReasoning(["a<think>b</think>c"]), { reasoning: "", content: "a<think>b</think>c" });
    assert.deepEqual(runReasoning(["  hello"]), { reasoning: "", content: "  hello" });
    assert.deepEqual(runReasoning(["Answer </think> x"]), { reasoning: "", content: "Answer </think> x" });
  });

  test("startInReasoning: the output starts inside the thought; a redundant open tag is consumed", () => {
    assert.deepEqual(runReasoning(["I reason</think>Answer"], { startInReasoning: true }), { reasoning: "I reason", content: "Answer" });
    assert.deepEqual(runReasoning(["<think>\nr</think>c"], { startInReasoning: true }), { reasoning: "r", content: "c" });
    assert.deepEqual(runReasoning(["  r</think>c"], { startInReasoning: true }), { reasoning: "  r", content: "c" });
    assert.deepEqual(runReasoning(["<thi"], { startInReasoning: true }), { reasoning: "<thi", content: "" });
  });

  test("an output that ends inside the thought is all reasoning", () => {
    assert.deepEqual(runReasoning(["<think>abc"]), { reasoning: "abc", content: "" });
    assert.deepEqual(runReasoning(["<think>abc</thi"]), { reasoning: "abc</thi", content: "" });
    assert.deepEqual(runReasoning(["abc"], { startInReasoning: true }), { reasoning: "abc", content: "" });
  });

  test("a partial open tag at the end is content; only whitespace after the thought is dropped", () => {
    assert.deepEqual(runReasoning(["<thi"]), { reasoning: "", content: "<thi" });
    assert.deepEqual(runReasoning(["  "]), { reasoning: "", content: "  " });
    assert.deepEqual(runReasoning(["<think>x</think>\n\n "]), { reasoning: "x", content: "" });
    assert.deepEqual(runReasoning([""]), { reasoning: "", content: "" });
  });

  test("holds back only a possible partial tag", () => {
    const s = new ReasoningSplitter();
    assert.deepEqual(s.push("<thi"), { reasoning: "", content: "" });
    assert.deepEqual(s.push("nk>\nabc</"), { reasoning: "abc", content: "" });
    assert.deepEqual(s.push("b> more </thin"), { reasoning: "</b> more ", content: "" });
    assert.deepEqual(s.push("k>"), { reasoning: "", content: "" });
    assert.deepEqual(s.push("\n"), { reasoning: "", content: "" });
    assert.deepEqual(s.push("Hi <"), { reasoning: "", content: "Hi <" });
    assert.deepEqual(s.finish(), { reasoning: "", content: "" });

    const plain = new ReasoningSplitter();
    assert.deepEqual(plain.push("<b>bold"), { reasoning: "", content: "<b>bold" });
  });

  test("inReasoning is true from the open tag until the close tag is consumed", () => {
    const s = new ReasoningSplitter();
    assert.equal(s.inReasoning, false);
    s.push("<thi");
    assert.equal(s.inReasoning, false);
    s.push("nk>");
    assert.equal(s.inReasoning, true);
    s.push("hmm</thi");
    assert.equal(s.inReasoning, true);
    s.push("nk>");
    assert.equal(s.inReasoning, false);
    s.push("answer");
    assert.equal(s.inReasoning, false);

    const inside = new ReasoningSplitter({ startInReasoning: true });
    assert.equal(inside.inReasoning, true);
    inside.push("x</think>");
    assert.equal(inside.inReasoning, false);

    const none = new ReasoningSplitter();
    none.push("plain");
    assert.equal(none.inReasoning, false);
  });

  test("custom tags", () => {
    const options = { openTag: "<|begin_of_thought|>", closeTag: "<|end_of_thought|>" };
    assert.deepEqual(runReasoning(["<|begin_of_thought|>a<|end_of", "_thought|> b"], options), { reasoning: "a", content: "b" });
    assert.throws(() => new ReasoningSplitter({ openTag: "" }));
  });
});

// ---------------------------------------------------------------------------
// tool call parser: streaming behaviour

describe("ToolCallStreamParser streams", () => {
  test("hermes: the first delta goes out as soon as the name is known, then argument fragments", () => {
    const ids = idMaker();
    const p = new ToolCallStreamParser("hermes", { newId: ids.newId, parallel: true });
    assert.deepEqual(p.push("Checking.\n<tool_call>\n"), { content: "Checking.\n", toolCalls: [] });
    assert.deepEqual(p.push('{"name": "get_wea'), { content: "", toolCalls: [] });
    assert.equal(ids.count(), 0);
    assert.deepEqual(p.push('ther", "arguments": {"ci'), {
      content: "",
      toolCalls: [
        { index: 0, id: "call_1", name: "get_weather", arguments: "" },
        { index: 0, arguments: '{"ci' },
      ],
    });
    assert.deepEqual(p.calls, [], "a call in progress is not complete");
    assert.deepEqual(p.push('ty": "Paris"}'), { content: "", toolCalls: [{ index: 0, arguments: 'ty": "Paris"}' }] });
    assert.deepEqual(p.push("}\n</tool"), { content: "", toolCalls: [] });
    assert.deepEqual(p.calls, [{ id: "call_1", name: "get_weather", arguments: '{"city": "Paris"}' }]);
    assert.deepEqual(p.push("_call>\n"), { content: "", toolCalls: [] });
    assert.deepEqual(p.finish(), { content: "", toolCalls: [] });
    assert.equal(ids.count(), 1);
  });

  test("arguments that come before the name are buffered and sent after the first delta", () => {
    const p = new ToolCallStreamParser("hermes", { newId: () => "call_x", parallel: true });
    assert.deepEqual(p.push('<tool_call>{"arguments": {"a": 1}, '), { content: "", toolCalls: [] });
    assert.deepEqual(p.push('"name": "f"}</tool_call>'), {
      content: "",
      toolCalls: [
        { index: 0, id: "call_x", name: "f", arguments: "" },
        { index: 0, arguments: '{"a": 1}' },
      ],
    });
  });

  test("a call without arguments streams {} when it completes", () => {
    const r = runTools("hermes", ['<tool_call>{"name": "now"', "}</tool_call>"]);
    assert.deepEqual(r.pieces[0]?.toolCalls, [{ index: 0, id: "call_1", name: "now", arguments: "" }]);
    assert.deepEqual(r.pieces[1]?.toolCalls, [{ index: 0, arguments: "{}" }]);
    assert.deepEqual(r.calls, [{ id: "call_1", name: "now", arguments: "{}" }]);
  });

  test("only a possible marker is held back; marker text is never emitted as content", () => {
    const p = new ToolCallStreamParser("hermes", { newId: () => "id", parallel: true });
    assert.equal(p.push("Hello <tool").content, "Hello ");
    assert.equal(p.push("_cal").content, "");
    assert.equal(p.push("m").content, "<tool_calm");
    assert.equal(p.push(" <").content, " ");
    assert.equal(p.push("tool_call> ").content, "");
    assert.equal(p.push('{"name"').content, "");
    assert.deepEqual(p.push(': "x"').toolCalls, [{ index: 0, id: "id", name: "x", arguments: "" }]);
  });

  test("an attempt without a name is held, then returned as content by finish()", () => {
    const p = new ToolCallStreamParser("hermes", { newId: () => "id", parallel: true });
    assert.deepEqual(p.push('So <tool_call>{"argu'), { content: "So ", toolCalls: [] });
    assert.deepEqual(p.push('ments": {"x": 1'), { content: "", toolCalls: [] });
    assert.deepEqual(p.finish(), { content: '<tool_call>{"arguments": {"x": 1', toolCalls: [] });
    assert.deepEqual(p.calls, []);
  });

  test("invalid JSON after a marker goes back to content as soon as it is known", () => {
    const p = new ToolCallStreamParser("hermes", { newId: () => "id", parallel: true });
    assert.deepEqual(p.push("<tool_call> oops"), { content: "<tool_call> oops", toolCalls: [] });
    assert.deepEqual(p.push(' <tool_call>{"name": "a"}</tool_call>').toolCalls, [
      { index: 0, id: "id", name: "a", arguments: "" },
      { index: 0, arguments: "{}" },
    ]);
    assert.deepEqual(p.finish(), { content: "", toolCalls: [] });
  });

  test("a call cut off after its name stays a call with the argument text that arrived", () => {
    const r = runTools("hermes", ['<tool_call>{"name": "f", "arguments": {"path": "/tm']);
    assert.deepEqual(r.calls, [{ id: "call_1", name: "f", arguments: '{"path": "/tm' }]);
    assert.equal(r.content, "");
    const empty = runTools("hermes", ['<tool_call>{"name": "f", "arguments": ']);
    assert.deepEqual(empty.calls, [{ id: "call_1", name: "f", arguments: "{}" }]);
    checkDeltas(empty.deltas, empty.calls);
  });

  test("a syntax error after the name keeps the call and the rest is content", () => {
    const r = runTools("hermes", ['<tool_call>{"name": "f", "arguments": {"a": 1} oops}</tool_call>']);
    assert.deepEqual(r.calls, [{ id: "call_1", name: "f", arguments: '{"a": 1}' }]);
    assert.equal(r.content, "oops}</tool_call>");
    checkDeltas(r.deltas, r.calls);
  });

  test("the first name key wins; the first of arguments/parameters wins", () => {
    const r = runTools("hermes", ['<tool_call>{"name": "a", "parameters": {"p": 1}, "arguments": {"q": 2}, "name": "b"}</tool_call>']);
    assert.deepEqual(r.calls, [{ id: "call_1", name: "a", arguments: '{"p": 1}' }]);
  });

  test("a name that is not a non-empty string is no call", () => {
    for (const bad of ['{"name": ""}', '{"name": null}', '{"name": ["f"]}', '{"name": "bad\\qescape"}']) {
      const r = runTools("hermes", [`<tool_call>${bad}</tool_call>`]);
      assert.deepEqual(r.calls, [], bad);
      assert.equal(r.content, `<tool_call>${bad}</tool_call>`, bad);
    }
  });

  test("newId is called once per call, and mistral ids are replaced", () => {
    const r = runTools("mistral", ['[TOOL_CALLS][{"name": "a", "arguments": {}, "id": "abcdefghi"}, {"name": "b", "arguments": {}, "id": "zzzzzzzzz"}]']);
    assert.equal(r.idsMade, 2);
    assert.deepEqual(
      r.calls.map((c) => c.id),
      ["call_1", "call_2"],
    );
  });

  test("argument fragments of one push are merged into one delta per call", () => {
    const r = runTools("hermes", ['<tool_call>{"name": "a", "arguments": {"x": 1}}</tool_call><tool_call>{"name": "b", "arguments": {"y": 2}}</tool_call>']);
    assert.deepEqual(r.pieces[0]?.toolCalls, [
      { index: 0, id: "call_1", name: "a", arguments: "" },
      { index: 0, arguments: '{"x": 1}' },
      { index: 1, id: "call_2", name: "b", arguments: "" },
      { index: 1, arguments: '{"y": 2}' },
    ]);
  });

  test("llama3-json holds only the possible start of a call", () => {
    const p = new ToolCallStreamParser("llama3-json", { newId: () => "id", parallel: true });
    assert.deepEqual(p.push("  <|python"), { content: "", toolCalls: [] });
    assert.deepEqual(p.push("_tag|> {"), { content: "", toolCalls: [] });
    assert.deepEqual(p.push('"name": "f", "parameters": {"a"').toolCalls, [
      { index: 0, id: "id", name: "f", arguments: "" },
      { index: 0, arguments: '{"a"' },
    ]);

    const prose = new ToolCallStreamParser("llama3-json", { newId: () => "id", parallel: true });
    assert.deepEqual(prose.push(" Hello"), { content: " Hello", toolCalls: [] });
    assert.deepEqual(prose.push(' {"name": "f"}'), { content: ' {"name": "f"}', toolCalls: [] });
    assert.deepEqual(prose.finish(), { content: "", toolCalls: [] });
  });

  test("llama3-json: a whitespace-only or empty output stays content", () => {
    assert.equal(runTools("llama3-json", ["  \n"]).content, "  \n");
    assert.equal(runTools("llama3-json", []).content, "");
    assert.equal(runTools("llama3-json", ["<|python_tag|>print(1)"]).content, "<|python_tag|>print(1)");
  });

  test("mistral arguments may be any JSON value", () => {
    const r = runTools("mistral", ["[TOOL_CALLS]f[ARGS]42 [TOOL_CALLS]g[ARGS]\"s\""]);
    assert.deepEqual(
      r.calls.map((c) => [c.name, c.arguments]),
      [
        ["f", "42"],
        ["g", '"s"'],
      ],
    );
    assert.equal(r.content, "");
  });

  test("mistral: a single object after the marker, without an array", () => {
    const r = runTools("mistral", ['[TOOL_CALLS] {"name": "f", "arguments": {"a": 1}}\n']);
    assert.deepEqual(r.calls, [{ id: "call_1", name: "f", arguments: '{"a": 1}' }]);
    assert.equal(r.content, "");
  });

  test("a separator left after the last call is dropped at the end", () => {
    const llama = runTools("llama3-json", ['{"name": "a", "parameters": {}}', "; \n"]);
    assert.deepEqual(llama.calls.map((c) => c.name), ["a"]);
    assert.equal(llama.content, "");
    const mistral = runTools("mistral", ['[TOOL_CALLS][{"name": "a", "arguments": {}}, ']);
    assert.deepEqual(mistral.calls.map((c) => c.name), ["a"]);
    assert.equal(mistral.content, "");
    const started = runTools("mistral", ['[TOOL_CALLS][{"name": "a", "arguments": {}}, {"arg']);
    assert.equal(started.content, ', {"arg');
  });

  test("push after finish passes text through as content", () => {
    const p = new ToolCallStreamParser("hermes", { newId: () => "id", parallel: true });
    p.finish();
    assert.deepEqual(p.push("<tool_call>"), { content: "<tool_call>", toolCalls: [] });
  });

  test("a long argument streamed a character at a time stays exact", () => {
    const value = "x\\\"{[".repeat(20_000);
    const text = `<tool_call>{"name": "big", "arguments": {"v": "${value}"}}</tool_call>`;
    const r = runTools("hermes", text.split(""));
    assert.equal(r.calls[0]?.arguments, `{"v": "${value}"}`);
    checkDeltas(r.deltas, r.calls);
  });
});
