/**
 * ByteDance Seed-OSS: XML calls like Qwen3-Coder's with Seed's own block
 * tags and values written at once after the key,
 * `<seed:tool_call>\n<function=NAME>\n<parameter=KEY>VALUE</parameter>\n…</function>\n</seed:tool_call>`,
 * one block per call, each value raw text converted by its parameter's
 * schema (`output/xml-call-shape.ts`). The model opens its thought itself
 * with `<seed:think>` (the generation prompt is `<seed:bos>assistant\n`);
 * its template's only switch is `thinking_budget`, which it reads as a
 * number. Turns are `<seed:bos>ROLE\n…<seed:eos>`, results a `tool` turn.
 */
import { XmlCallParser, type XmlCallSyntax } from "../output/xml-call-shape.js";
import { literal } from "../json-schema/gbnf-text.js";
import type { ModelFamily, ReasoningFormat, ToolCallSyntaxDefinition } from "./model-family.js";
import { xmlGrammar, type XmlParameter } from "./xml-call-grammar.js";

const syntax: XmlCallSyntax = {
  open: "<seed:tool_call>",
  close: "</seed:tool_call>",
  nameOpen: "<function=",
  nameClose: ">",
  keyOpen: "<parameter=",
  keyClose: ">",
  valueOpen: "",
  valueClose: "</parameter>",
  callEnd: "</function>",
};

/** `<parameter=KEY>VALUE</parameter>\n` */
const seedParameter: XmlParameter = (key, value) => `${literal(`<parameter=${key}>`)} ${value} ${literal("</parameter>\n")}`;

export const seedOssToolCalls: ToolCallSyntaxDefinition = {
  name: "seed-oss",
  shape: { kind: "own-parser", markers: [syntax.open, syntax.close], createParser: (options) => new XmlCallParser(syntax, options) },
  argumentsKey: "arguments",
  callMarker: syntax.open,
  ...xmlGrammar(syntax, seedParameter, "\n"),
};

const seedThink: ReasoningFormat = { open: "<seed:think>", close: "</seed:think>", switchVariable: null };

export const seedOssFamily: ModelFamily = {
  name: "seed-oss",
  description: "ByteDance Seed-OSS: <seed:tool_call><function=name><parameter=key>value XML calls, <seed:think> thoughts",
  detect: ({ template }) => template.includes(syntax.open),
  toolCalls: seedOssToolCalls,
  reasoning: seedThink,
  callIdLength: null,
  tokens: {
    special: [
      "<seed:bos>", "<seed:eos>", "<seed:pad>", seedThink.open, seedThink.close, "<seed:cot_budget_reflect>", "</seed:cot_budget_reflect>",
      syntax.open, syntax.close,
    ],
    bos: "<seed:bos>",
    eos: "<seed:eos>",
    addBos: false,
  },
};
