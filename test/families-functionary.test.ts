/**
 * Functionary v3.1 and v3.2 (families/functionary.ts) and Llama 4's optional
 * `<|python_start|>…<|python_end|>` around pythonic calls
 * (families/llama-pythonic.ts): detected from chatport's own fixtures and
 * from the strings the real templates spell (and not where a neighbour's
 * template spells part of them), rendered exactly as the template renders,
 * calls parsed from every split of the output, and the grammar of a forced
 * call.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { describe, test } from "node:test";
import { detectFamily, parserMarkers } from "../src/engines/llama/families/registry.js";
import { createPromptRenderer } from "../src/engines/llama/prompt-renderer.js";
import { toolCallGbnf } from "../src/engines/llama/tool-call-grammar.js";
import type { ToolDefinition } from "../src/protocol/chat-request.js";
import { checkParseCase, checkRendering, detectedFamily, ownFixture, type ParseCase } from "./helpers/family-checks.js";
import { templateModelPath } from "./helpers/models.js";
import { missingSharedFile, sharedTemplatePath } from "./helpers/shared-files.js";
import { loadVocab } from "./helpers/tokenizer.js";

const detect = (template: string): string => detectFamily({ template, architecture: "", hasToken: () => false }).name;

describe("detection and rendering", () => {
  test("fixture functionary-v3.1-style is detected as functionary-v3.1", () => assert.equal(detectedFamily(ownFixture("functionary-v3.1-style")), "functionary-v3.1"));
  test("functionary-v3.1-style: the engine renders what the template renders, the call as <function=NAME>", async () => {
    const text = await checkRendering(ownFixture("functionary-v3.1-style"), "functionary-v3.1");
    assert.ok(text.includes('<|start_header_id|>assistant<|end_header_id|>\n\n<function=get_weather>{"city": "Paris", "days": 2}</function><|eom_id|>'), text);
    assert.ok(text.includes('<|start_header_id|>ipython<|end_header_id|>\n\n{"temp_c": 21}<|eot_id|>'), text);
  });
  test("fixture functionary-v3.2-style is detected as functionary-v3.2", () => assert.equal(detectedFamily(ownFixture("functionary-v3.2-style")), "functionary-v3.2"));
  test("functionary-v3.2-style: the engine renders what the template renders, the call after >>>NAME, text after >>>all", async () => {
    const text = await checkRendering(ownFixture("functionary-v3.2-style"), "functionary-v3.2");
    assert.ok(text.includes('<|start_header_id|>assistant<|end_header_id|>\n\n>>>get_weather\n{"city": "Paris", "days": 2}<|eot_id|>'), text);
    assert.ok(text.includes("<|start_header_id|>assistant<|end_header_id|>\n\n>>>all\n21 °C.<|eot_id|>"), text);
    assert.ok(text.endsWith("<|start_header_id|>assistant<|end_header_id|>\n\n>>>"), text);
  });
  test("functionary-v3.2-style: without tools the prompt names the plain recipient, so the answer is text", async () => {
    const model = await loadVocab(await templateModelPath(ownFixture("functionary-v3.2-style")));
    const renderer = createPromptRenderer(model);
    const request = { messages: [{ role: "user" as const, content: "Hi." }], thinking: null, reasoningEffort: null, templateKwargs: {} };
    const without = model.detokenize(renderer.render({ ...request, tools: null }).tokens, true);
    assert.ok(without.endsWith("<|start_header_id|>assistant<|end_header_id|>\n\n>>>all\n"), without);
    const withTools = model.detokenize(renderer.render({ ...request, tools }).tokens, true);
    assert.ok(withTools.endsWith("<|start_header_id|>assistant<|end_header_id|>\n\n>>>"), withTools);
  });
  test("the real templates' own spellings pick the families", () => {
    // MeetKai's v3.2 template: Llama 3 turns, `>>>all` for content and the prompt ending in `>>>`.
    assert.equal(detect("'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' … {{ '>>>all\\n' + message['content'] }} … '<|start_header_id|>assistant<|end_header_id|>\\n\\n>>>'"), "functionary-v3.2");
    // MeetKai's v3.1 template: Llama 3.1 turns, <|python_tag|> and ipython (which llama3 detects) and the <function= instruction.
    const functionary = "{{- bos_token + \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }} … <function=example_function_name>{\"example_name\": \"example_value\"}</function> … '<|python_tag|>' … '<|start_header_id|>ipython<|end_header_id|>\\n\\n'";
    assert.equal(detect(functionary), "functionary-v3.1");
    // Qwen3-Coder's and Seed-OSS's templates also spell <function=, with <parameter= and without Llama 3 turns.
    assert.equal(detect("<|im_start|>system … <tool_call>\n<function=example_function_name>\n<parameter=example_parameter_1>"), "qwen3-coder");
    assert.equal(detect("{%- set toolcall_begin_token = '<seed:tool_call>' -%} <function=example_function_name>\n<parameter=example_parameter_1>"), "seed-oss");
    assert.equal(detect("<|start_header_id|>ipython<|end_header_id|> <|python_tag|>"), "llama3");
  });
  const llama31 = sharedTemplatePath("llama3.1");
  test("the real Llama 3.1 template stays llama3", { skip: llama31 === null ? missingSharedFile("templates/llama3.1.jinja") : false }, () => {
    assert.equal(detect(fs.readFileSync(llama31 ?? "", "utf8")), "llama3");
  });
  test("Llama 4's python tags reach the parser (special tokens made visible to it)", () => {
    const family = detectFamily({ template: fs.readFileSync(ownFixture("llama4-pythonic-style"), "utf8"), architecture: "", hasToken: () => false });
    assert.equal(family.name, "llama4-pythonic");
    assert.deepEqual(parserMarkers(family, null), ["<|python_start|>", "<|python_end|>"]);
  });
});

const tools: ToolDefinition[] = [
  { name: "get_weather", description: null, parameters: { type: "object", properties: { city: { type: "string" }, days: { type: "integer" } }, required: ["city"] }, strict: false },
  { name: "get_time", description: null, parameters: { type: "object", properties: { zone: { type: "string", enum: ["UTC", "CET"] } } }, strict: true },
];

const fn = (name: string, args: string): string => `<function=${name}>${args}</function>`;
const to = (recipient: string, body: string): string => `>>>${recipient}\n${body}`;

const CASES: ParseCase[] = [
  {
    title: "Functionary v3.1: content, then two calls in a row",
    syntax: "functionary-v3.1",
    text: `Sure.\n${fn("get_weather", '{"city": "Paris", "days": 2}')}${fn("get_time", '{"zone": "UTC"}')}`,
    content: "Sure.\n",
    calls: [
      { name: "get_weather", args: { city: "Paris", days: 2 } },
      { name: "get_time", args: { zone: "UTC" } },
    ],
  },
  {
    title: "Functionary v3.1: whitespace around the arguments and between calls; nested values and a `<` in a string",
    syntax: "functionary-v3.1",
    text: `${fn("get_weather", ' {"city": "a</function>b", "opts": {"x": [1, 2]}} ')}\n ${fn("get_time", "{}")}`,
    content: "",
    calls: [
      { name: "get_weather", args: { city: "a</function>b", opts: { x: [1, 2] } } },
      { name: "get_time", args: {} },
    ],
  },
  {
    title: "Functionary v3.1: text after a call is content",
    syntax: "functionary-v3.1",
    text: `${fn("get_time", '{"zone": "CET"}')} Done.`,
    content: " Done.",
    calls: [{ name: "get_time", args: { zone: "CET" } }],
  },
  {
    title: "Functionary v3.1: parallel off leaves the second call as content",
    syntax: "functionary-v3.1",
    parallel: false,
    text: `${fn("get_time", "{}")}${fn("get_time", "{}")}`,
    content: fn("get_time", "{}"),
    calls: [{ name: "get_time", args: {} }],
  },
  {
    title: "Functionary v3.1: a call without its close tag; a call cut off after its name has no arguments",
    syntax: "functionary-v3.1",
    text: `${fn("get_time", '{"zone": "UTC"}').replace("</function>", "")}<function=get_weather> `,
    content: "",
    calls: [
      { name: "get_time", args: { zone: "UTC" } },
      { name: "get_weather", args: {} },
    ],
  },
  {
    title: "Functionary v3.1: a tag without a name, or a name without `>`, is content",
    syntax: "functionary-v3.1",
    text: "a <function=> b <function=x y <function",
    content: "a <function=> b <function=x y <function",
    calls: [],
  },
  {
    title: "Functionary v3.1: code after <|python_tag|> is a python call, its text exact",
    syntax: "functionary-v3.1",
    text: 'Let me compute.<|python_tag|>print("a\\tb")\nx = {1: [2]}  # ü 😀',
    content: "Let me compute.",
    calls: [{ name: "python", args: { code: 'print("a\\tb")\nx = {1: [2]}  # ü 😀' } }],
  },
  {
    title: "Functionary v3.1: a call, then code",
    syntax: "functionary-v3.1",
    text: `${fn("get_time", "{}")}<|python_tag|>1 + 1`,
    content: "",
    calls: [
      { name: "get_time", args: {} },
      { name: "python", args: { code: "1 + 1" } },
    ],
  },
  {
    title: "Functionary v3.2: text to the user (the prompt wrote the first >>>), its recipient line dropped",
    syntax: "functionary-v3.2",
    text: "all\nHello there.\nBye.",
    content: "Hello there.\nBye.",
    calls: [],
  },
  {
    title: "Functionary v3.2: a call, then another, then text",
    syntax: "functionary-v3.2",
    text: `get_weather\n{"city": "Paris", "days": 2}${to("get_time", '{"zone": "UTC"}')}\n${to("all", "Done.")}`,
    content: "Done.",
    calls: [
      { name: "get_weather", args: { city: "Paris", days: 2 } },
      { name: "get_time", args: { zone: "UTC" } },
    ],
  },
  {
    title: "Functionary v3.2: text, then a call",
    syntax: "functionary-v3.2",
    text: `all\nLet me check.${to("get_weather", '{"city": "a>>>b\\n"}')}`,
    content: "Let me check.",
    calls: [{ name: "get_weather", args: { city: "a>>>b\n" } }],
  },
  {
    title: "Functionary v3.2: an answer without a recipient is text",
    syntax: "functionary-v3.2",
    text: `Hello >>>x y\n>>>\n`,
    content: `Hello >>>x y\n>>>\n`,
    calls: [],
  },
  {
    title: "Functionary v3.2: a name line without `{` after it is text",
    syntax: "functionary-v3.2",
    text: `get_time\nnot json${to("get_time", "[1]")}`,
    content: `get_time\nnot json${to("get_time", "[1]")}`,
    calls: [],
  },
  {
    title: "Functionary v3.2: a recipient line that never got its text says nothing",
    syntax: "functionary-v3.2",
    text: "al",
    content: "",
    calls: [],
  },
  {
    title: "Functionary v3.2: parallel off leaves the second call as content",
    syntax: "functionary-v3.2",
    parallel: false,
    text: `get_time\n{}${to("get_time", "{}")}`,
    content: to("get_time", "{}"),
    calls: [{ name: "get_time", args: {} }],
  },
  {
    title: "Functionary v3.2: python with raw code",
    syntax: "functionary-v3.2",
    text: 'python\nprint("hi")\n# done',
    content: "",
    calls: [{ name: "python", args: { code: 'print("hi")\n# done' } }],
  },
  {
    title: "Llama 4: the list in <|python_start|>…<|python_end|>",
    syntax: "llama4-pythonic",
    text: `<|python_start|>[get_weather(city="Paris", days=2), get_time(zone='UTC')]<|python_end|>`,
    content: "",
    calls: [
      { name: "get_weather", args: { city: "Paris", days: 2 } },
      { name: "get_time", args: { zone: "UTC" } },
    ],
  },
  {
    title: "Llama 4: whitespace before and inside the tags; the close tag left out",
    syntax: "llama4-pythonic",
    text: ` \n<|python_start|> [get_time(zone="CET")]`,
    content: "",
    calls: [{ name: "get_time", args: { zone: "CET" } }],
  },
  {
    title: "Llama 4: the bare list still reads",
    syntax: "llama4-pythonic",
    text: `[get_time(zone="UTC")]`,
    content: "",
    calls: [{ name: "get_time", args: { zone: "UTC" } }],
  },
  {
    title: "Llama 4: text, then the tagged list, then text",
    syntax: "llama4-pythonic",
    text: `Checking. <|python_start|>[get_weather(city="Lyon")]<|python_end|> Done.`,
    content: "Checking.  Done.",
    calls: [{ name: "get_weather", args: { city: "Lyon" } }],
  },
  {
    title: "Llama 4: a bare list after text is text (only the tags mark one there)",
    syntax: "llama4-pythonic",
    text: `See [get_time(zone="UTC")]`,
    content: `See [get_time(zone="UTC")]`,
    calls: [],
  },
  {
    title: "Llama 4: tags around something else are content",
    syntax: "llama4-pythonic",
    text: "<|python_start|>print(1)<|python_end|> <|python",
    content: "<|python_start|>print(1)<|python_end|> <|python",
    calls: [],
  },
  {
    title: "Llama 4: two tagged lists with parallel calls; parallel off leaves the second as content",
    syntax: "llama4-pythonic",
    parallel: false,
    text: `<|python_start|>[get_time(zone="UTC")]<|python_end|><|python_start|>[get_time(zone="CET")]<|python_end|>`,
    content: `<|python_start|>[get_time(zone="CET")]<|python_end|>`,
    calls: [{ name: "get_time", args: { zone: "UTC" } }],
  },
  {
    title: "Llama 4: two tagged lists, parallel on",
    syntax: "llama4-pythonic",
    text: `<|python_start|>[get_time(zone="UTC")]<|python_end|>\n<|python_start|>[get_time(zone="CET")]<|python_end|>`,
    content: "",
    calls: [
      { name: "get_time", args: { zone: "UTC" } },
      { name: "get_time", args: { zone: "CET" } },
    ],
  },
];

describe("calls are parsed the same from every split of the output", () => {
  for (const c of CASES) test(c.title, () => checkParseCase({ ...c, tools }));
});

describe("forced-call grammars", () => {
  test("Functionary v3.1: <function=NAME> before each call, the JSON arguments, </function>", () => {
    const gbnf = toolCallGbnf(tools, { onlyName: null, syntax: "functionary-v3.1", parallel: true, afterMarker: false });
    assert.match(gbnf, /^root ::= "<function=" tool-call-object \("<function=" tool-call-object\)\*$/m);
    assert.match(gbnf, /^tool-call-object ::= "get_weather>" \S+ "<\/function>" \| "get_time>" \S+ "<\/function>"$/m);
    const after = toolCallGbnf(tools, { onlyName: "get_time", syntax: "functionary-v3.1", parallel: false, afterMarker: true });
    assert.match(after, /^root ::= tool-call-object$/m);
    assert.match(after, /^tool-call-object ::= "get_time>" \S+ "<\/function>"$/m);
  });
  test("Functionary v3.2: the tool as the recipient right after the prompt's >>>, more calls after >>> again", () => {
    const gbnf = toolCallGbnf(tools, { onlyName: null, syntax: "functionary-v3.2", parallel: true, afterMarker: false });
    assert.match(gbnf, /^root ::= tool-call-object \(">>>" tool-call-object\)\*$/m);
    assert.match(gbnf, /^tool-call-object ::= "get_weather\\n" \S+ \| "get_time\\n" \S+$/m);
  });
  test("Llama 4: a forced call is the bare list; after <|python_start|> the list and its close tag", () => {
    const gbnf = toolCallGbnf(tools, { onlyName: null, syntax: "llama4-pythonic", parallel: true, afterMarker: false });
    assert.match(gbnf, /^root ::= "\[" tool-call-object \(", " tool-call-object\)\* "\]"$/m);
    const after = toolCallGbnf(tools, { onlyName: null, syntax: "llama4-pythonic", parallel: false, afterMarker: true });
    assert.match(after, /^root ::= "\[" tool-call-object "\]" "<\|python_end\|>"$/m);
  });
});
