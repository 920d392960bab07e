/**
 * Qwen3-Coder, Qwen3.5 and Nemotron 3 Nano: XML calls,
 * `<tool_call>\n<function=NAME>\n<parameter=KEY>\nVALUE\n</parameter>\n…</function>\n</tool_call>`,
 * each value raw text converted by its parameter's schema
 * (`output/xml-call-shape.ts`). Results come back in `<tool_response>`
 * blocks, which the templates write; the templates iterate the arguments,
 * so they get them as objects. Qwen3.5 and Nemotron think in `<think>`,
 * switched by `enable_thinking`.
 */
import { XmlCallParser, type XmlCallSyntax } from "../output/xml-call-shape.js";
import { CHATML_TOKENS } from "./hermes.js";
import type { ModelFamily, ToolCallSyntaxDefinition } from "./model-family.js";
import { thinkTags } from "./qwen3.js";
import { qwenParameter, xmlGrammar } from "./xml-call-grammar.js";

const syntax: XmlCallSyntax = {
  open: "<tool_call>",
  close: "</tool_call>",
  nameOpen: "<function=",
  nameClose: ">",
  keyOpen: "<parameter=",
  keyClose: ">",
  valueOpen: "",
  valueClose: "</parameter>",
  callEnd: "</function>",
};

export const qwen3CoderToolCalls: ToolCallSyntaxDefinition = {
  name: "qwen3-coder",
  shape: { kind: "own-parser", markers: [syntax.open, syntax.close], createParser: (options) => new XmlCallParser(syntax, options) },
  argumentsKey: "arguments",
  callMarker: syntax.open,
  ...xmlGrammar(syntax, qwenParameter, "\n"),
};

export const qwen3CoderFamily: ModelFamily = {
  name: "qwen3-coder",
  description: "Qwen3-Coder, Qwen3.5, Nemotron 3 Nano: <tool_call><function=name><parameter=key>value XML calls, <think> with enable_thinking",
  detect: ({ template }) => template.includes("<function=") && template.includes("<parameter="),
  toolCalls: qwen3CoderToolCalls,
  reasoning: thinkTags,
  callIdLength: null,
  tokens: { ...CHATML_TOKENS, special: [...CHATML_TOKENS.special, thinkTags.open, thinkTags.close] },
};
