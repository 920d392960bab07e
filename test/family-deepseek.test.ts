/**
 * DeepSeek R1 (and distills) and V3.1 (families/deepseek.ts): detected from
 * the real templates and from chatport's own fixtures, rendered exactly as
 * the template renders, calls parsed from every split of the output, and the
 * grammar of a forced call in the family's syntax.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { toolCallGbnf } from "../src/engines/llama/tool-call-grammar.js";
import { checkParseCase, checkRendering, detectedFamily, ownFixture, type ParseCase } from "./helpers/family-checks.js";
import { missingSharedFile, sharedTemplatePath } from "./helpers/shared-files.js";

const TEMPLATES: ReadonlyArray<[name: string, file: string | null, family: string]> = [
  ["fixture deepseek-r1-style", ownFixture("deepseek-r1-style"), "deepseek-r1"],
  ["fixture deepseek-v3-style", ownFixture("deepseek-v3-style"), "deepseek-v3"],
  ["real deepseek-r1", sharedTemplatePath("deepseek-r1"), "deepseek-r1"],
  ["real deepseek-r1-distill", sharedTemplatePath("deepseek-r1-distill"), "deepseek-r1"],
  ["real deepseek-v3.1", sharedTemplatePath("deepseek-v3.1"), "deepseek-v3"],
];

describe("DeepSeek templates", () => {
  for (const [name, file, family] of TEMPLATES) {
    const skip = file === null ? missingSharedFile(`${name.replace("real ", "")}.jinja`) : false;
    test(`${name} is detected as ${family}`, { skip }, () => assert.equal(detectedFamily(file ?? ""), family));
    test(`${name}: the engine renders what the template renders`, { skip }, async () => {
      const text = await checkRendering(file ?? "", family);
      assert.ok(text.includes("<｜tool▁call▁begin｜>"), "the call is written in the family's syntax");
    });
  }
  const v31 = sharedTemplatePath("deepseek-v3.1");
  test("real deepseek-v3.1 with thinking on renders the same too", { skip: v31 === null ? missingSharedFile("deepseek-v3.1.jinja") : false }, async () => {
    const text = await checkRendering(v31 ?? "", "deepseek-v3", { thinking: true });
    assert.ok(text.endsWith("<think>"));
  });
});

const R1_CALL = '<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{"city": "Paris", "days": 2}\n```<｜tool▁call▁end｜>';
const R1_CALL_2 = '<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n{"zone": "UTC"}\n```<｜tool▁call▁end｜>';
const V3_CALL = '<｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city": "Paris", "days": 2}<｜tool▁call▁end｜>';
const V3_CALL_2 = '<｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{"zone": "UTC"}<｜tool▁call▁end｜>';
const weather = { name: "get_weather", args: { city: "Paris", days: 2 } };
const time = { name: "get_time", args: { zone: "UTC" } };

const CASES: ParseCase[] = [
  {
    title: "R1: thought, content, two calls",
    syntax: "deepseek-r1",
    reasoning: { startInReasoning: true },
    text: `\nI should look.\n</think>\n\nLet me check.<｜tool▁calls▁begin｜>${R1_CALL}\n${R1_CALL_2}<｜tool▁calls▁end｜>`,
    thought: "I should look.\n",
    content: "Let me check.",
    calls: [weather, time],
  },
  {
    title: "R1: one call without the closing section delimiter",
    syntax: "deepseek-r1",
    text: `<｜tool▁calls▁begin｜>${R1_CALL}`,
    content: "",
    calls: [weather],
  },
  {
    title: "R1: parallel off, the second call is content",
    syntax: "deepseek-r1",
    parallel: false,
    text: `<｜tool▁calls▁begin｜>${R1_CALL}\n${R1_CALL_2}<｜tool▁calls▁end｜>`,
    content: `\n${R1_CALL_2}<｜tool▁calls▁end｜>`,
    calls: [weather],
  },
  {
    title: "R1: text that only looks like a call stays content",
    syntax: "deepseek-r1",
    text: "a <｜tool▁calls▁begin｜>not a call <｜tool▁call▁begin｜>function<｜tool▁sep｜>",
    content: "a <｜tool▁calls▁begin｜>not a call <｜tool▁call▁begin｜>function<｜tool▁sep｜>",
    calls: [],
  },
  {
    title: "V3.1: content, two calls, section closed",
    syntax: "deepseek-v3",
    text: `Sure.<｜tool▁calls▁begin｜>${V3_CALL}${V3_CALL_2}<｜tool▁calls▁end｜>`,
    content: "Sure.",
    calls: [weather, time],
  },
  {
    title: "V3.1: a call without the section delimiters, after a thought",
    syntax: "deepseek-v3",
    reasoning: {},
    text: `<think>hmm</think>${V3_CALL}`,
    thought: "hmm",
    content: "",
    calls: [weather],
  },
  {
    title: "V3.1: text after the section is content",
    syntax: "deepseek-v3",
    text: `<｜tool▁calls▁begin｜>${V3_CALL}<｜tool▁calls▁end｜> done`,
    content: "done",
    calls: [weather],
  },
  {
    title: "V3.1: arguments cut off keep what arrived",
    syntax: "deepseek-v3",
    text: '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{"zone": "UTC"}',
    content: "",
    calls: [time],
  },
];

describe("DeepSeek calls are parsed the same from every split of the output", () => {
  for (const c of CASES) test(c.title, () => checkParseCase(c));
});

describe("DeepSeek forced-call grammars", () => {
  const tools = [
    { name: "get_time", description: null, parameters: { type: "object", properties: { zone: { type: "string" } }, required: ["zone"] }, strict: true },
  ];
  test("R1: the section, the call's delimiters, the ```json block", () => {
    const gbnf = toolCallGbnf(tools, { onlyName: null, syntax: "deepseek-r1", parallel: false, afterMarker: false });
    assert.match(gbnf, /^root ::= "<｜tool▁calls▁begin｜>" tool-call-object "<｜tool▁calls▁end｜>"$/m);
    assert.ok(gbnf.includes('"<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time" "\\n```json\\n"'), gbnf);
    assert.ok(gbnf.includes('"\\n```" "<｜tool▁call▁end｜>"'), gbnf);
  });
  test("V3.1 after the marker (strict tools under auto), parallel", () => {
    const gbnf = toolCallGbnf(tools, { onlyName: null, syntax: "deepseek-v3", parallel: true, afterMarker: true });
    assert.match(gbnf, /^root ::= tool-call-object \(tool-call-object\)\* "<｜tool▁calls▁end｜>"$/m);
    assert.ok(gbnf.includes('"<｜tool▁call▁begin｜>get_time" "<｜tool▁sep｜>"'), gbnf);
  });
});
