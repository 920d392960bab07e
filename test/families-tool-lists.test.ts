/**
 * The families whose calls are JSON lists or objects with markers of their
 * own — Hunyuan A13B and Hunyuan 7B (whose calls are each a name and a
 * ```json block, families/hunyuan.ts), Jamba (families/jamba.ts),
 * xLAM (families/xlam.ts), InternLM2 (families/internlm2.ts), Apertus
 * (families/apertus.ts):
 * detected from chatport's own fixtures and from the strings their real
 * templates spell, rendered exactly as the template renders, calls (and
 * Hunyuan's thought and answer tags) read the same from every split of the
 * output, and the grammar of a forced call.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ModelFamily, ToolCallSyntaxName } from "../src/engines/llama/families/model-family.js";
import { MODEL_FAMILIES, detectFamily } from "../src/engines/llama/families/registry.js";
import { AnswerTagStripper } from "../src/engines/llama/output/answer-tags.js";
import { ChoiceOutput } from "../src/engines/llama/output/choice-output.js";
import { createReasoningReader } from "../src/engines/llama/output/reasoning-reader.js";
import { ToolCallStreamParser } from "../src/engines/llama/output/tool-call-parser.js";
import { toolCallGbnf } from "../src/engines/llama/tool-call-grammar.js";
import type { ToolDefinition } from "../src/protocol/chat-request.js";
import { checkParseCase, checkRendering, detectedFamily, ownFixture, type ParseCase } from "./helpers/family-checks.js";
import { textSplits } from "./helpers/text-splits.js";

const detect = (template: string): string => detectFamily({ template, architecture: "", hasToken: () => false }).name;
const family = (name: string): ModelFamily => MODEL_FAMILIES.find((f) => f.name === name) ?? assert.fail(`no family ${name}`);

describe("detection and rendering", () => {
  for (const [fixture, name, written] of [
    ["hunyuan-style", "hunyuan", '<answer>\n<tool_calls>[{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}]</tool_calls>\n</answer><|eos|>'],
    ["hunyuan-7b-style", "hunyuan-7b", '<answer>\n<tool_calls>\n<tool_call>get_weather\n```json\n{"city": "Paris", "days": 2}\n```</tool_call>\n</tool_calls>\n</answer><|eos|>'],
    ["jamba-style", "jamba", '<|bom|><|assistant|> <tool_calls>[{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}]</tool_calls><|eom|>'],
    ["internlm2-style", "internlm2", '<|im_start|>assistant\n<|action_start|><|plugin|>\n{"name": "get_weather", "parameters": {"city": "Paris", "days": 2}}<|action_end|><|im_end|>'],
    ["apertus-style", "apertus", '<|tools_prefix|>[{"get_weather": {"city": "Paris", "days": 2}}]<|tools_suffix|>[{"temp_c": 21}]21 °C.<|assistant_end|>'],
    ["xlam-style", "xlam", '<|im_start|>assistant\n[{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}]<|im_end|>'],
  ] as const) {
    test(`fixture ${fixture} is detected as ${name}`, () => assert.equal(detectedFamily(ownFixture(fixture)), name));
    test(`${fixture}: the engine renders what the template renders`, async () => {
      const text = await checkRendering(ownFixture(fixture), name);
      assert.ok(text.includes(written), `the call is written in the family's syntax: ${text}`);
    });
  }
  test("hunyuan-style: thinking off writes an empty thought into the generation prompt", async () => {
    const text = await checkRendering(ownFixture("hunyuan-style"), "hunyuan", { enable_thinking: false });
    assert.ok(text.endsWith("Thanks. And Lyon?<|extra_0|><think>\n\n</think>\n"), text);
  });
  test("hunyuan-7b-style: thinking off writes an empty thought into the generation prompt", async () => {
    const text = await checkRendering(ownFixture("hunyuan-7b-style"), "hunyuan-7b", { enable_thinking: false });
    assert.ok(text.endsWith("Thanks. And Lyon?<|extra_0|><think>\n\n</think>\n"), text);
  });
  test("apertus-style: enable_thinking says deliberation is on in the developer turn", async () => {
    assert.ok((await checkRendering(ownFixture("apertus-style"), "apertus", { enable_thinking: true })).includes("<|developer_start|>Deliberation: enabled\n"));
    const off = await checkRendering(ownFixture("apertus-style"), "apertus", { enable_thinking: false });
    assert.ok(off.includes("Deliberation: disabled") && off.endsWith("<|user_end|><|assistant_start|>"), off);
  });
  test("the real templates' own spellings pick the families", () => {
    // Both spell <tool_calls>; each is told by its turn tokens.
    assert.equal(detect("{% if loop.index0 == 0 %}{{ '<|startoftext|>' }}{% endif %}{{ content + '<|extra_0|>' }} … <tool_calls>"), "hunyuan");
    // Hunyuan 7B's template spells its single calls too.
    assert.equal(detect("{{ content + '<|extra_0|>' }} … {{- '<tool_calls>' }}{% for c in calls %}{{- '<tool_call>' + c.name + '\\n```json\\n' }}{% endfor %}"), "hunyuan-7b");
    assert.equal(detect("{{ '<|bom|><|assistant|>' }} … {{ '<tool_calls>' + message.tool_calls | tojson + '</tool_calls>' }}<|eom|>"), "jamba");
    assert.equal(detect("{% set format_instruction %}… make calls in a single JSON array: [{\"name\": \"tool_call_name\", \"arguments\": {}}, ... (additional parallel tool calls as needed)]{% endset %}<|im_start|>"), "xlam");
    assert.equal(detect("[BEGIN OF AVAILABLE TOOLS]\n{{ tools | tojson }}\n[END OF AVAILABLE TOOLS] <|start_header_id|>ipython"), "xlam");
    assert.equal(detect("{{ '<|im_start|>system name=<|plugin|>' }} … '<|action_start|><|plugin|>\\n' + call | tojson + '<|action_end|>'"), "internlm2");
    assert.equal(detect("{{- '<|assistant_start|>' }} … {{- '<|tools_prefix|>' + calls | tojson + '<|tools_suffix|>' }}"), "apertus");
    // InternLM2's GGUFs usually carry a plain ChatML template: the architecture and the action tokens tell it.
    const chatml = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n'}}{% endfor %}";
    const actionTokens = (text: string): boolean => text === "<|action_start|>" || text === "<|plugin|>";
    assert.equal(detectFamily({ template: chatml, architecture: "internlm2", hasToken: actionTokens }).name, "internlm2");
    assert.equal(detectFamily({ template: chatml, architecture: "internlm2", hasToken: () => false }).name, "fallback");
    assert.equal(detectFamily({ template: chatml, architecture: "qwen2", hasToken: actionTokens }).name, "fallback");
    // Neither is Hermes: `<tool_calls>` is not `<tool_call>`.
    assert.equal(detect("<|im_start|> <tool_calls>"), "fallback");
  });
});

const tools: ToolDefinition[] = [
  {
    name: "get_weather",
    description: null,
    parameters: { type: "object", properties: { city: { type: "string" }, days: { type: "integer" } }, required: ["city"] },
    strict: false,
  },
  { name: "get_time", description: null, parameters: { type: "object", properties: { zone: { type: "string", enum: ["UTC", "CET"] } } }, strict: true },
];

const list = (...calls: string[]): string => `<tool_calls>[${calls.join(", ")}]</tool_calls>`;
const WEATHER = '{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}';
const TIME = '{"name": "get_time", "arguments": {"zone": "UTC"}}';
/** Hunyuan 7B's section: each call `<tool_call>NAME` + a ```json block + `</tool_call>`, on lines of their own. */
const calls7b = (...calls: string[]): string => `<tool_calls>${calls.map((c) => `\n${c}`).join("")}\n</tool_calls>`;
const WEATHER_7B = '<tool_call>get_weather\n```json\n{"city": "Paris", "days": 2}\n```</tool_call>';
const TIME_7B = '<tool_call>get_time\n```json\n{"zone": "UTC"}\n```</tool_call>';

const CASES: ParseCase[] = [
  {
    title: "Jamba: content, then a list of two calls",
    syntax: "jamba",
    text: `Sure. ${list(WEATHER, TIME)}`,
    content: "Sure. ",
    calls: [
      { name: "get_weather", args: { city: "Paris", days: 2 } },
      { name: "get_time", args: { zone: "UTC" } },
    ],
  },
  {
    title: "Jamba: parallel off keeps the first call; a bare tag is content",
    syntax: "jamba",
    parallel: false,
    text: `a <tool_calls> b ${list(TIME)}`,
    content: "a <tool_calls> b ",
    calls: [{ name: "get_time", args: { zone: "UTC" } }],
  },
  {
    title: "xLAM: the answer is a list of two calls",
    syntax: "xlam",
    text: `\n[${WEATHER}, ${TIME}]\n`,
    content: "",
    calls: [
      { name: "get_weather", args: { city: "Paris", days: 2 } },
      { name: "get_time", args: { zone: "UTC" } },
    ],
  },
  {
    title: "xLAM: the list in a ```json fence, whose close is dropped",
    syntax: "xlam",
    text: `\`\`\`json\n[${TIME}]\n\`\`\``,
    content: "",
    calls: [{ name: "get_time", args: { zone: "UTC" } }],
  },
  {
    title: "xLAM: one call object alone",
    syntax: "xlam",
    text: TIME,
    content: "",
    calls: [{ name: "get_time", args: { zone: "UTC" } }],
  },
  {
    title: "xLAM: a list that is not calls is content",
    syntax: "xlam",
    text: "[1, 2] are numbers",
    content: "[1, 2] are numbers",
    calls: [],
  },
  {
    title: "xLAM: calls only as the whole answer, not after text",
    syntax: "xlam",
    text: `Sure. [${TIME}]`,
    content: `Sure. [${TIME}]`,
    calls: [],
  },
  {
    title: "xLAM: another fence is content",
    syntax: "xlam",
    text: "```python\nprint(1)\n```",
    content: "```python\nprint(1)\n```",
    calls: [],
  },
  {
    title: "InternLM2: text, then a call with parameters; a second call",
    syntax: "internlm2",
    text: 'I will look.<|action_start|><|plugin|>\n{"name": "get_weather", "parameters": {"city": "Paris", "days": 2}}<|action_end|>\n<|action_start|><|plugin|>\n{"name": "get_time", "parameters": {"zone": "UTC"}}<|action_end|>',
    content: "I will look.",
    calls: [
      { name: "get_weather", args: { city: "Paris", days: 2 } },
      { name: "get_time", args: { zone: "UTC" } },
    ],
  },
  {
    title: "InternLM2: the code interpreter's action is content",
    syntax: "internlm2",
    text: "<|action_start|><|interpreter|>\nprint(1)<|action_end|>",
    content: "<|action_start|><|interpreter|>\nprint(1)<|action_end|>",
    calls: [],
  },
  {
    title: "InternLM2: parallel off leaves the second call as content",
    syntax: "internlm2",
    parallel: false,
    text: '<|action_start|><|plugin|>{"name": "get_time", "parameters": {}}<|action_end|><|action_start|><|plugin|>{"name": "get_time"}<|action_end|>',
    content: '<|action_start|><|plugin|>{"name": "get_time"}<|action_end|>',
    calls: [{ name: "get_time", args: {} }],
  },
  {
    title: "Apertus: thought opened by the prompt, content, two calls keyed by their names",
    syntax: "apertus",
    reasoning: { startInReasoning: true, openTag: "<|inner_prefix|>", closeTag: "<|inner_suffix|>" },
    text: 'Look it up.<|inner_suffix|>Sure. <|tools_prefix|>[{"get_weather": {"city": "Paris", "days": 2}}, {"get_time": {"zone": "UTC"}}]<|tools_suffix|>',
    thought: "Look it up.",
    content: "Sure. ",
    calls: [
      { name: "get_weather", args: { city: "Paris", days: 2 } },
      { name: "get_time", args: { zone: "UTC" } },
    ],
  },
  {
    title: "Apertus: parallel off keeps the first call; an object without a name is content",
    syntax: "apertus",
    parallel: false,
    text: '<|tools_prefix|>[{}] <|tools_prefix|>[{"get_time": {}}, {"get_time": {"zone": "CET"}}]<|tools_suffix|>',
    content: '<|tools_prefix|>[{}] , {"get_time": {"zone": "CET"}}]<|tools_suffix|>',
    calls: [{ name: "get_time", args: {} }],
  },
  {
    title: "Apertus: a call cut off keeps the arguments that arrived whole",
    syntax: "apertus",
    text: '<|tools_prefix|>[{"get_weather": {"city": "Lyon"}',
    content: "",
    calls: [{ name: "get_weather", args: { city: "Lyon" } }],
  },
  {
    title: "Hunyuan 7B: content, then two calls each a name and a ```json block, laid out as its template writes them",
    syntax: "hunyuan-7b",
    text: `Sure. ${calls7b(WEATHER_7B, TIME_7B)}`,
    content: "Sure. ",
    calls: [
      { name: "get_weather", args: { city: "Paris", days: 2 } },
      { name: "get_time", args: { zone: "UTC" } },
    ],
  },
  {
    title: "Hunyuan 7B: compact, no line breaks between the tags; text after the section is content (the space before it dropped)",
    syntax: "hunyuan-7b",
    text: '<tool_calls><tool_call>get_time\n```json\n{"zone": "UTC"}\n```</tool_call></tool_calls> Done.',
    content: "Done.",
    calls: [{ name: "get_time", args: { zone: "UTC" } }],
  },
  {
    title: "Hunyuan 7B: parallel off keeps the first call",
    syntax: "hunyuan-7b",
    parallel: false,
    text: calls7b(TIME_7B, WEATHER_7B),
    content: "\n<tool_call>get_weather\n```json\n{\"city\": \"Paris\", \"days\": 2}\n```</tool_call>\n</tool_calls>",
    calls: [{ name: "get_time", args: { zone: "UTC" } }],
  },
  {
    title: "Hunyuan 7B: A13B's list is not its syntax and stays content; a bare tag is content",
    syntax: "hunyuan-7b",
    text: `a <tool_calls> b ${list(TIME)}`,
    content: `a <tool_calls> b ${list(TIME)}`,
    calls: [],
  },
  {
    title: "Hunyuan 7B: a call the model writes without the section is read too",
    syntax: "hunyuan-7b",
    text: `Sure.\n${TIME_7B}`,
    content: "Sure.\n",
    calls: [{ name: "get_time", args: { zone: "UTC" } }],
  },
  {
    title: "Hunyuan 7B: a call that breaks off before its name is content",
    syntax: "hunyuan-7b",
    text: "<tool_calls>\n<tool_call>\n```json\n{}\n```</tool_call>",
    content: "<tool_calls>\n<tool_call>\n```json\n{}\n```</tool_call>",
    calls: [],
  },
  {
    title: "Hunyuan 7B: a thought, then a call",
    syntax: "hunyuan-7b",
    reasoning: { startInReasoning: false, openTag: "<think>", closeTag: "</think>" },
    text: `<think>Look it up.</think>${calls7b(TIME_7B)}`,
    thought: "Look it up.",
    content: "",
    calls: [{ name: "get_time", args: { zone: "UTC" } }],
  },
  {
    title: "Hunyuan: a call cut off keeps what arrived",
    syntax: "hunyuan",
    text: '<tool_calls>[{"name": "get_weather", "arguments": {"city": "Pa',
    content: "",
    calls: [{ name: "get_weather", args: '{"city": "Pa' }],
  },
];

describe("calls are parsed the same from every split of the output", () => {
  for (const c of CASES.filter((c) => typeof c.calls[0]?.args !== "string")) test(c.title, () => checkParseCase({ ...c, tools }));
  test("Hunyuan: a call cut off keeps its raw arguments as they arrived", () => {
    for (const pieces of textSplits(CASES.find((c) => c.title.startsWith("Hunyuan: a call cut off"))!.text)) {
      const parser = new ToolCallStreamParser("hunyuan", { newId: () => "call_1", parallel: true });
      let content = "";
      for (const p of pieces) content += parser.push(p).content;
      content += parser.finish().content;
      assert.equal(content, "");
      assert.deepEqual(parser.calls.map((c) => [c.name, c.arguments]), [["get_weather", '{"city": "Pa']]);
    }
  });
  test("Hunyuan 7B: a call cut off in its arguments keeps its raw arguments as they arrived", () => {
    for (const pieces of textSplits('<tool_calls>\n<tool_call>get_weather\n```json\n{"city": "Pa')) {
      const parser = new ToolCallStreamParser("hunyuan-7b", { newId: () => "call_1", parallel: true });
      let content = "";
      for (const p of pieces) content += parser.push(p).content;
      content += parser.finish().content;
      assert.equal(content, "");
      assert.deepEqual(parser.calls.map((c) => [c.name, c.arguments]), [["get_weather", '{"city": "Pa']]);
    }
  });
});

describe("InternLM2 under a template that knows no tools", () => {
  const internlm2 = family("internlm2");
  test("past calls are written into their turn's content in its syntax, and read back as the same calls", () => {
    const written = internlm2.callsInContent?.("Checking.", [
      { name: "get_weather", arguments: '{"city": "Paris", "days": 2}' },
      { name: "get_time", arguments: "{}" },
    ]);
    assert.equal(written, 'Checking.<|action_start|><|plugin|>\n{"name": "get_weather", "parameters": {"city": "Paris", "days": 2}}<|action_end|><|action_start|><|plugin|>\n{"name": "get_time", "parameters": {}}<|action_end|>');
    const parser = new ToolCallStreamParser("internlm2", { newId: () => "call_1", parallel: true });
    const content = parser.push(written ?? "").content + parser.finish().content;
    assert.equal(content, "Checking.");
    assert.deepEqual(parser.calls.map((c) => [c.name, JSON.parse(c.arguments) as unknown]), [["get_weather", { city: "Paris", days: 2 }], ["get_time", {}]]);
  });
  test("the tool instructions ask for its own syntax", () => {
    assert.ok(internlm2.toolInstructions?.includes('<|action_start|><|plugin|>\n{"name": "<function name>", "parameters": {<arguments>}}<|action_end|>'), String(internlm2.toolInstructions));
  });
});

/** The engine's output pipeline for a family: its reasoning reader, its answer tags removed, then its calls. */
function familyPipeline(name: string, syntax: ToolCallSyntaxName, pieces: readonly string[], options: { thinking: boolean; startsInside?: boolean }): { content: string; reasoning: string; calls: Array<[string, unknown]> } {
  const f = family(name);
  const reasoning = f.reasoning ?? assert.fail(`${name} reasons`);
  let n = 0;
  const output = new ChoiceOutput({
    stops: [],
    trimTrailingWhitespace: false,
    reasoning: options.thinking ? createReasoningReader(reasoning, options.startsInside === true) : null,
    tools: new ToolCallStreamParser(syntax, { newId: () => `call_${++n}`, parallel: true }),
    answer: reasoning.answer === undefined ? null : new AnswerTagStripper(reasoning.answer),
  });
  let content = "";
  let thought = "";
  for (const piece of [...pieces.map((p) => output.push(p).piece), output.finish()]) {
    content += piece.content;
    thought += piece.reasoning;
  }
  return { content, reasoning: thought, calls: output.toolCalls.map((c) => [c.name, JSON.parse(c.arguments) as unknown]) };
}

describe("Hunyuan's thought and answer tags", () => {
  const cases: Array<[string, string, boolean, { content: string; reasoning: string; calls: Array<[string, unknown]> }]> = [
    ["thought, then an answer in <answer>", "<think>\nSky: Rayleigh.\n</think>\n<answer>\nRayleigh scattering.\n</answer>", true, { content: "Rayleigh scattering.\n", reasoning: "Sky: Rayleigh.\n", calls: [] }],
    [
      "thought, then calls inside the answer",
      `<think>Look it up.</think>\n<answer>\nSure.${list(WEATHER, TIME)}\n</answer>`,
      true,
      { content: "Sure.", reasoning: "Look it up.", calls: [["get_weather", { city: "Paris", days: 2 }], ["get_time", { zone: "UTC" }]] },
    ],
    ["thinking off: the answer's tags are removed all the same", "<answer>\nHello.\n</answer>\n", false, { content: "Hello.\n", reasoning: "", calls: [] }],
    ["a close tag that does not end the answer is text", "<answer>Use </answer> tags.", false, { content: "Use </answer> tags.", reasoning: "", calls: [] }],
  ];
  for (const [title, text, thinking, expected] of cases) {
    test(title, () => {
      for (const pieces of textSplits(text)) assert.deepEqual(familyPipeline("hunyuan", "hunyuan", pieces, { thinking }), expected, `pieces ${JSON.stringify(pieces)}`);
    });
  }
  test("Hunyuan 7B: thought, then its calls inside the answer, the tags removed", () => {
    const text = `<think>Look it up.</think>\n<answer>\nSure.${calls7b(WEATHER_7B, TIME_7B)}\n</answer>`;
    const expected = { content: "Sure.", reasoning: "Look it up.", calls: [["get_weather", { city: "Paris", days: 2 }], ["get_time", { zone: "UTC" }]] };
    for (const pieces of textSplits(text)) assert.deepEqual(familyPipeline("hunyuan-7b", "hunyuan-7b", pieces, { thinking: true }), expected, `pieces ${JSON.stringify(pieces)}`);
  });
});

describe("forced-call grammars", () => {
  test("Apertus: <|tools_prefix|>, a list of objects keyed by the tool's name, <|tools_suffix|>", () => {
    const gbnf = toolCallGbnf(tools, { onlyName: null, syntax: "apertus", parallel: true, afterMarker: false });
    assert.match(gbnf, /^root ::= "<\|tools_prefix\|>" "\[" tool-call-object \(", " tool-call-object\)\* "\]" "<\|tools_suffix\|>"$/m);
    assert.match(gbnf, /^tool-call-object ::= "\{\\"get_weather\\": " \S+ "\}" \| "\{\\"get_time\\": " \S+ "\}"$/m);
  });
  test("InternLM2: the plugin action around a call object with parameters; lazily, the recipient after the action's start", () => {
    const gbnf = toolCallGbnf(tools, { onlyName: null, syntax: "internlm2", parallel: true, afterMarker: false });
    assert.match(gbnf, /^root ::= call \("\\n" call\)\*$/m);
    assert.match(gbnf, /^call ::= "<\|action_start\|><\|plugin\|>\\n" tool-call-object "<\|action_end\|>"$/m);
    assert.ok(gbnf.includes('"\\"parameters\\""'), gbnf);
    const after = toolCallGbnf(tools, { onlyName: null, syntax: "internlm2", parallel: false, afterMarker: true });
    assert.match(after, /^root ::= "<\|plugin\|>\\n" tool-call-object "<\|action_end\|>"$/m);
  });
  test("xLAM: a bare JSON list", () => {
    const gbnf = toolCallGbnf(tools, { onlyName: null, syntax: "xlam", parallel: true, afterMarker: false });
    assert.match(gbnf, /^root ::= "\[" tool-call-object \(", " tool-call-object\)\* "\]"$/m);
    assert.match(toolCallGbnf(tools, { onlyName: "get_time", syntax: "xlam", parallel: false, afterMarker: false }), /^root ::= "\[" tool-call-object "\]"$/m);
  });
  test("Hunyuan 7B: <tool_calls>, each call <tool_call>NAME and its ```json block on a line of its own, </tool_calls>", () => {
    const gbnf = toolCallGbnf(tools, { onlyName: null, syntax: "hunyuan-7b", parallel: true, afterMarker: false });
    assert.match(gbnf, /^root ::= "<tool_calls>" "\\n" tool-call-object \("\\n" tool-call-object\)\* "\\n" "<\/tool_calls>"$/m);
    assert.ok(gbnf.includes('"<tool_call>get_weather" "\\n```json\\n"'), gbnf);
    assert.ok(gbnf.includes('"\\n```" "</tool_call>"'), gbnf);
    const after = toolCallGbnf(tools, { onlyName: "get_time", syntax: "hunyuan-7b", parallel: false, afterMarker: true });
    assert.match(after, /^root ::= "\\n" tool-call-object "\\n" "<\/tool_calls>"$/m);
    assert.ok(after.includes('"<tool_call>get_time"') && !after.includes("get_weather"), after);
  });
  for (const syntax of ["hunyuan", "jamba"] as const) {
    test(`${syntax}: <tool_calls>, a JSON list, </tool_calls>`, () => {
      const gbnf = toolCallGbnf(tools, { onlyName: null, syntax, parallel: true, afterMarker: false });
      assert.match(gbnf, /^root ::= "<tool_calls>" "\[" tool-call-object \(", " tool-call-object\)\* "\]" "<\/tool_calls>"$/m);
      const after = toolCallGbnf(tools, { onlyName: "get_time", syntax, parallel: false, afterMarker: true });
      assert.match(after, /^root ::= "\[" tool-call-object "\]" "<\/tool_calls>"$/m);
      assert.ok(after.includes('"\\"get_time\\""') && !after.includes("get_weather"), after);
    });
  }
});
