/**
 * MiniMax-M2 (and M2.1 / M2.5): XML calls, all of one answer's calls in one
 * block,
 * `<minimax:tool_call>\n<invoke name="NAME">\n<parameter name="KEY">VALUE</parameter>\n…</invoke>\n…</minimax:tool_call>`,
 * each value raw text converted by its parameter's schema
 * (`output/xml-call-shape.ts`, `callsInSection`). The generation prompt opens
 * a `<think>` thought (`]~b]ai\n<think>\n`) with no switch. Turns are
 * `]~b]ROLE\n…[e~[\n` after the `]~!b[` start; results come back as
 * `<response>` elements of a `tool` turn, which the template writes.
 */
import { XmlCallParser, type XmlCallSyntax } from "../output/xml-call-shape.js";
import { literal } from "../json-schema/gbnf-text.js";
import { gbnfLiteral, type ModelFamily, type ReasoningFormat, type ToolCallSyntaxDefinition } from "./model-family.js";
import { xmlArgumentsRule, type XmlParameter } from "./xml-call-grammar.js";

const syntax: XmlCallSyntax = {
  open: "<minimax:tool_call>",
  close: "</minimax:tool_call>",
  nameOpen: '<invoke name="',
  nameClose: '">',
  keyOpen: '<parameter name="',
  keyClose: '">',
  valueOpen: "",
  valueClose: "</parameter>",
  callEnd: "</invoke>",
  callsInSection: true,
};

/** `<parameter name="KEY">VALUE</parameter>\n` */
const minimaxParameter: XmlParameter = (key, value) => `${literal(`<parameter name="${key}">`)} ${value} ${literal("</parameter>\n")}`;

export const minimaxM2ToolCalls: ToolCallSyntaxDefinition = {
  name: "minimax-m2",
  shape: { kind: "own-parser", markers: [syntax.open, syntax.close], createParser: (options) => new XmlCallParser(syntax, options) },
  argumentsKey: "arguments",
  callMarker: syntax.open,
  // One block around the calls: OPEN (\n<invoke …>…</invoke>)+ \nCLOSE.
  grammarRules(objectRule, { parallel, afterMarker }) {
    const calls = parallel ? `${objectRule} (${objectRule})*` : objectRule;
    return `root ::= ${afterMarker ? "" : `${gbnfLiteral(syntax.open)} `}${calls} ${gbnfLiteral(`\n${syntax.close}`)}`;
  },
  callRule: (name, argumentsRule) => `${literal(`\n${syntax.nameOpen}${name}${syntax.nameClose}\n`)} ${argumentsRule} ${literal(syntax.callEnd)}`,
  argumentsRule: xmlArgumentsRule(minimaxParameter),
};

const think: ReasoningFormat = { open: "<think>", close: "</think>", switchVariable: null };

export const minimaxM2Family: ModelFamily = {
  name: "minimax-m2",
  description: 'MiniMax-M2: <minimax:tool_call><invoke name="name"><parameter name="key">value XML calls in one block, <think> opened by the prompt',
  detect: ({ template }) => template.includes(syntax.open),
  toolCalls: minimaxM2ToolCalls,
  reasoning: think,
  callIdLength: null,
  tokens: {
    special: ["]~!b[", "]~b]", "[e~[", think.open, think.close, syntax.open, syntax.close],
    bos: "]~!b[",
    eos: "[e~[",
    addBos: false,
  },
};
