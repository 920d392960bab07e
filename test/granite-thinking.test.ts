/**
 * Granite 3.3's `thinking` switch: the real template (../shared/templates,
 * where present) asks for `<think></think><response></response>` when
 * `thinking` is true; the family's reasoning format reads the thought into
 * reasoning and removes the `<response>` tags from the answer, however the
 * text arrives. Granite 4.0 does not reason.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { describe, test } from "node:test";
import { Template } from "@huggingface/jinja";
import { detectFamily, reasoningOf } from "../src/engines/llama/families/registry.js";
import { AnswerTagStripper } from "../src/engines/llama/output/answer-tags.js";
import { ChoiceOutput } from "../src/engines/llama/output/choice-output.js";
import { ReasoningSplitter } from "../src/engines/llama/output/reasoning-splitter.js";
import { ToolCallStreamParser } from "../src/engines/llama/output/tool-call-parser.js";
import { missingSharedFile, sharedTemplatePath } from "./helpers/shared-files.js";

const granite33 = sharedTemplatePath("granite3.3");
const granite40 = sharedTemplatePath("granite4.0");
const familyOf = (text: string) => detectFamily({ template: text, architecture: "", hasToken: () => false });

describe("Granite thinking", () => {
  test("the real granite3.3 template reasons with the `thinking` switch, which asks for <think> and <response>", { skip: granite33 === null ? missingSharedFile("granite3.3.jinja") : false }, () => {
    const text = fs.readFileSync(granite33 ?? "", "utf8");
    const family = familyOf(text);
    assert.equal(family.name, "granite3");
    const format = reasoningOf(family, text);
    assert.equal(format?.switchVariable, "thinking");
    const render = (thinking: boolean): string => new Template(text).render({ messages: [{ role: "user", content: "Hi" }], add_generation_prompt: true, thinking });
    assert.match(render(true), /<think><\/think>.*<response><\/response>/);
    assert.doesNotMatch(render(false), /<think>/);
  });

  test("the real granite4.0 template does not reason", { skip: granite40 === null ? missingSharedFile("granite4.0.jinja") : false }, () => {
    const text = fs.readFileSync(granite40 ?? "", "utf8");
    assert.equal(reasoningOf(familyOf(text), text), null);
  });

  const format = familyOf("<|start_of_role|><|tool_call|> thinking").reasoning ?? assert.fail("granite3 reasons");
  const run = (pieces: readonly string[]): { reasoning: string; content: string; calls: number } => {
    const output = new ChoiceOutput({
      stops: [],
      trimTrailingWhitespace: false,
      reasoning: new ReasoningSplitter({ openTag: format.open, closeTag: format.close }),
      tools: new ToolCallStreamParser("granite", { newId: () => "call_1", parallel: true }),
      answer: new AnswerTagStripper(format.answer ?? assert.fail("granite has answer tags")),
    });
    const out = [...pieces.map((p) => output.push(p).piece), output.finish()];
    return { reasoning: out.map((p) => p.reasoning).join(""), content: out.map((p) => p.content).join(""), calls: output.toolCallCount };
  };
  const splits = (text: string): string[][] => [...Array.from({ length: text.length + 1 }, (_, i) => [text.slice(0, i), text.slice(i)]), [...text]];

  for (const [title, text, expected] of [
    ["thought, then the answer in <response>", "<think>Sky: Rayleigh.</think>\n<response>Because of Rayleigh scattering.</response>\n", { reasoning: "Sky: Rayleigh.", content: "Because of Rayleigh scattering.", calls: 0 }],
    ["a <response> tag inside the answer is text", "<think>t</think><response>Use <response> tags.</response>", { reasoning: "t", content: "Use <response> tags.", calls: 0 }],
    ["a close tag that does not end the answer is text", "<response>a</response> b", { reasoning: "", content: "a</response> b", calls: 0 }],
    ["no tags: all content", "Plain answer </response>", { reasoning: "", content: "Plain answer </response>", calls: 0 }],
    ["a call after the thought", '<think>call it</think><|tool_call|>[{"name": "f", "arguments": {}}]', { reasoning: "call it", content: "", calls: 1 }],
  ] as const) {
    test(`${title}, over every split`, () => {
      for (const pieces of splits(text)) assert.deepEqual(run(pieces), expected, JSON.stringify(pieces));
    });
  }
});
