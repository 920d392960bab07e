/**
 * DeepSeek R1 (and its Qwen / Llama distills) and DeepSeek V3.1: calls in
 * `<｜tool▁calls▁begin｜>…<｜tool▁calls▁end｜>`, each
 * `<｜tool▁call▁begin｜>…<｜tool▁call▁end｜>`:
 * - R1: `function<｜tool▁sep｜>NAME\n```json\n{…}\n```` (calls separated by a newline);
 * - V3.1: `NAME<｜tool▁sep｜>{…}`.
 * Results come back in `<｜tool▁output▁begin｜>…<｜tool▁output▁end｜>`, which
 * the templates write. Their templates join the arguments as text and never
 * describe the tools, so the calls reach them in the OpenAI wire shape and
 * the tools are described in a system message asking for this syntax.
 * Reasoning is a `<think>` thought: R1's generation prompt opens it, V3.1's
 * opens it when `thinking` is true (it reads no `enable_thinking`).
 *
 * DeepSeek V3.2 writes calls in DSML, XML-like text (not special tokens):
 * `<｜DSML｜function_calls>` around `<｜DSML｜invoke name="NAME">` elements,
 * each parameter `<｜DSML｜parameter name="KEY" string="true|false">VALUE</｜DSML｜parameter>`
 * (strings as they are, other values as JSON), parsed by the XML shape
 * (`output/xml-call-shape.ts`). Its template turns arguments given as JSON
 * text into objects with `from_json`, a filter @huggingface/jinja lacks; the
 * arguments reach it as objects (the default), so that branch never runs.
 * Its thought opens with `thinking` (or `enable_thinking`).
 */
import { literal } from "../json-schema/gbnf-text.js";
import { DelimitedCallParser, type DelimitedCallSyntax } from "../output/delimited-call-shape.js";
import { XmlCallParser, type XmlCallSyntax } from "../output/xml-call-shape.js";
import { gbnfLiteral, type ModelFamily, type ToolCallSyntaxDefinition } from "./model-family.js";
import { xmlArgumentsRule } from "./xml-call-grammar.js";

const SECTION_OPEN = "<｜tool▁calls▁begin｜>";
const SECTION_CLOSE = "<｜tool▁calls▁end｜>";
const CALL_OPEN = "<｜tool▁call▁begin｜>";
const CALL_CLOSE = "<｜tool▁call▁end｜>";
const SEP = "<｜tool▁sep｜>";

/** The wrapper of a forced call: the section around one call (or several, `separator` between). */
export function delimitedGrammar(syntax: DelimitedCallSyntax, separator: string): ToolCallSyntaxDefinition["grammarRules"] {
  return (objectRule, { parallel, afterMarker }) => {
    const more = parallel ? ` (${separator === "" ? "" : `${gbnfLiteral(separator)} `}${objectRule})*` : "";
    const calls = `${objectRule}${more} ${gbnfLiteral(syntax.sectionClose)}`;
    return afterMarker ? `root ::= ${calls}` : `root ::= ${gbnfLiteral(syntax.sectionOpen)} ${calls}`;
  };
}

/** One call of a tool in a delimited syntax, around the rule of its arguments. */
export function delimitedCallRule(syntax: DelimitedCallSyntax, indexRule: string | null): NonNullable<ToolCallSyntaxDefinition["callRule"]> {
  return (name, argumentsRule) =>
    [
      gbnfLiteral(syntax.callOpen + syntax.namePrefix + name),
      ...(indexRule === null ? [] : [indexRule]),
      gbnfLiteral(syntax.nameEnd),
      argumentsRule,
      ...(syntax.argumentsEnd === "" ? [] : [gbnfLiteral(syntax.argumentsEnd)]),
      gbnfLiteral(syntax.callClose),
    ].join(" ");
}

/** The syntax definition of a delimited family: parser, markers and grammar from one declaration. */
export function delimitedToolCalls(
  name: ToolCallSyntaxDefinition["name"],
  syntax: DelimitedCallSyntax,
  options: { separator: string; markers: readonly string[]; indexRule: string | null },
): ToolCallSyntaxDefinition {
  return {
    name,
    shape: { kind: "own-parser", markers: options.markers, createParser: (parserOptions) => new DelimitedCallParser(syntax, parserOptions) },
    argumentsKey: "arguments",
    callMarker: syntax.sectionOpen,
    grammarRules: delimitedGrammar(syntax, options.separator),
    callRule: delimitedCallRule(syntax, options.indexRule),
  };
}

const r1Syntax: DelimitedCallSyntax = {
  sectionOpen: SECTION_OPEN,
  sectionClose: SECTION_CLOSE,
  callOpen: CALL_OPEN,
  namePrefix: `function${SEP}`,
  nameIndex: false,
  nameEnd: "\n```json\n",
  argumentsEnd: "\n```",
  callClose: CALL_CLOSE,
  idPrefix: null,
};

const v3Syntax: DelimitedCallSyntax = { ...r1Syntax, namePrefix: "", nameEnd: SEP, argumentsEnd: "" };

const MARKERS = [SECTION_OPEN, SECTION_CLOSE, CALL_OPEN, CALL_CLOSE, SEP];

export const deepseekR1ToolCalls = delimitedToolCalls("deepseek-r1", r1Syntax, { separator: "\n", markers: MARKERS, indexRule: null });
export const deepseekV3ToolCalls = delimitedToolCalls("deepseek-v3", v3Syntax, { separator: "", markers: MARKERS, indexRule: null });

const TOKENS = {
  special: [
    "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", SECTION_OPEN, SECTION_CLOSE, CALL_OPEN, CALL_CLOSE, SEP,
    "<｜tool▁outputs▁begin｜>", "<｜tool▁outputs▁end｜>", "<｜tool▁output▁begin｜>", "<｜tool▁output▁end｜>", "<think>", "</think>",
  ],
  bos: "<｜begin▁of▁sentence｜>",
  eos: "<｜end▁of▁sentence｜>",
  addBos: false,
} as const;

const instructions = (example: string): string => `To call one, answer only with:\n${example}`;

/** A DeepSeek template: its own tool-call delimiters, not V3.2's DSML. */
const isDeepSeek = (template: string): boolean => template.includes(SECTION_OPEN) && template.includes(SEP);

export const deepseekR1Family: ModelFamily = {
  name: "deepseek-r1",
  description: "DeepSeek-R1 and its distills: <｜tool▁call▁begin｜>function<｜tool▁sep｜>name ```json``` calls, <think> reasoning",
  detect: ({ template }) => isDeepSeek(template) && template.includes("```json"),
  toolCalls: deepseekR1ToolCalls,
  reasoning: { open: "<think>", close: "</think>", switchVariable: null },
  callIdLength: null,
  templateToolCalls: "openai-wire",
  toolInstructions: instructions(`${SECTION_OPEN}${CALL_OPEN}function${SEP}<function name>\n\`\`\`json\n{<arguments>}\n\`\`\`${CALL_CLOSE}${SECTION_CLOSE}`),
  tokens: TOKENS,
};

export const deepseekV3Family: ModelFamily = {
  name: "deepseek-v3",
  description: "DeepSeek-V3.1: <｜tool▁call▁begin｜>name<｜tool▁sep｜>{…} calls, <think> reasoning with `thinking`",
  detect: ({ template }) => isDeepSeek(template) && !template.includes("```json"),
  toolCalls: deepseekV3ToolCalls,
  reasoning: { open: "<think>", close: "</think>", switchVariable: "thinking" },
  callIdLength: null,
  templateToolCalls: "openai-wire",
  toolInstructions: instructions(`${SECTION_OPEN}${CALL_OPEN}<function name>${SEP}{<arguments>}${CALL_CLOSE}${SECTION_CLOSE}`),
  tokens: TOKENS,
};

const DSML = "｜DSML｜";
const dsmlSyntax: XmlCallSyntax = {
  open: `<${DSML}function_calls>`,
  close: `</${DSML}function_calls>`,
  nameOpen: `<${DSML}invoke name="`,
  nameClose: '">',
  keyOpen: `<${DSML}parameter name="`,
  keyClose: '">',
  valueOpen: "",
  valueClose: `</${DSML}parameter>`,
  callEnd: `</${DSML}invoke>`,
  keyAttribute: '" string="',
  callsInSection: true,
};

/** The DSML tags: text in DeepSeek's vocabulary, where they are read as they are; special tokens in a test model (see below). */
const DSML_TAGS = [dsmlSyntax.open, dsmlSyntax.close, dsmlSyntax.nameOpen, dsmlSyntax.callEnd, dsmlSyntax.keyOpen, dsmlSyntax.valueClose];

export const deepseekV32ToolCalls: ToolCallSyntaxDefinition = {
  name: "deepseek-v3.2",
  shape: {
    kind: "own-parser",
    markers: DSML_TAGS,
    createParser: (options) => new XmlCallParser(dsmlSyntax, options),
  },
  argumentsKey: "arguments",
  callMarker: dsmlSyntax.open,
  // The block, its calls one after another: `\n` after the open tag and after each element, as the template writes them.
  grammarRules(objectRule, { parallel, afterMarker }) {
    const calls = `${objectRule}${parallel ? ` (${objectRule})*` : ""} ${gbnfLiteral(dsmlSyntax.close)}`;
    return afterMarker ? `root ::= ${gbnfLiteral("\n")} ${calls}` : `root ::= ${gbnfLiteral(`${dsmlSyntax.open}\n`)} ${calls}`;
  },
  callRule: (name, argumentsRule) => `${literal(`${dsmlSyntax.nameOpen}${name}${dsmlSyntax.nameClose}\n`)} ${argumentsRule} ${literal(`${dsmlSyntax.callEnd}\n`)}`,
  argumentsRule: xmlArgumentsRule(
    (key, value, plain) => `${literal(`${dsmlSyntax.keyOpen}${key}" string="${plain ? "true" : "false"}">`)} ${value} ${literal(`${dsmlSyntax.valueClose}\n`)}`,
  ),
};

export const deepseekV32Family: ModelFamily = {
  name: "deepseek-v3.2",
  description: "DeepSeek-V3.2: DSML <｜DSML｜invoke name=…> calls with string-typed parameters, <think> reasoning with `thinking`",
  detect: ({ template }) => template.includes(DSML),
  toolCalls: deepseekV32ToolCalls,
  reasoning: { open: "<think>", close: "</think>", switchVariable: "thinking" },
  callIdLength: null,
  tokens: {
    // The DSML tags are text in DeepSeek's vocabulary (a few tokens each); one token each in a test model, whose
    // byte-level vocabulary would spend dozens on each, and so a test can make a random model start a call.
    special: ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<think>", "</think>", ...DSML_TAGS],
    bos: "<｜begin▁of▁sentence｜>",
    eos: "<｜end▁of▁sentence｜>",
    addBos: false,
  },
};
