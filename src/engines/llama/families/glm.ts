/**
 * GLM-4.5 / 4.6 / 4.7: XML calls with the name after the open tag,
 * `<tool_call>NAME\n<arg_key>KEY</arg_key>\n<arg_value>VALUE</arg_value>\n…</tool_call>`
 * (4.7 without the newlines), each value raw text converted by its
 * parameter's schema (`output/xml-call-shape.ts`). Results come back after
 * `<|observation|>` in `<tool_response>` blocks, which the templates write;
 * the templates iterate the arguments, so they get them as objects.
 * Reasoning is a `<think>` thought, switched by `enable_thinking`.
 */
import { XmlCallParser, type XmlCallSyntax } from "../output/xml-call-shape.js";
import type { ModelFamily, ToolCallSyntaxDefinition } from "./model-family.js";
import { thinkTags } from "./qwen3.js";
import { glmParameter, xmlGrammar } from "./xml-call-grammar.js";

const syntax: XmlCallSyntax = {
  open: "<tool_call>",
  close: "</tool_call>",
  nameOpen: "",
  nameClose: "",
  keyOpen: "<arg_key>",
  keyClose: "</arg_key>",
  valueOpen: "<arg_value>",
  valueClose: "</arg_value>",
  callEnd: "",
};

export const glmToolCalls: ToolCallSyntaxDefinition = {
  name: "glm",
  shape: {
    kind: "own-parser",
    markers: [syntax.open, syntax.close, syntax.keyOpen, syntax.keyClose, syntax.valueOpen, syntax.valueClose],
    createParser: (options) => new XmlCallParser(syntax, options),
  },
  argumentsKey: "arguments",
  callMarker: syntax.open,
  ...xmlGrammar(syntax, glmParameter, "\n"),
};

export const glmFamily: ModelFamily = {
  name: "glm",
  description: "GLM-4.5/4.6/4.7: <tool_call>name<arg_key>k</arg_key><arg_value>v</arg_value> calls, <think> with enable_thinking",
  detect: ({ template }) => template.includes("<arg_key>") && template.includes("<arg_value>"),
  toolCalls: glmToolCalls,
  reasoning: thinkTags,
  callIdLength: null,
  tokens: {
    special: [
      "[gMASK]", "<sop>", "<|system|>", "<|user|>", "<|assistant|>", "<|observation|>", "<|endoftext|>", thinkTags.open, thinkTags.close,
      syntax.open, syntax.close, syntax.keyOpen, syntax.keyClose, syntax.valueOpen, syntax.valueClose, "<tool_response>", "</tool_response>",
    ],
    bos: "[gMASK]",
    eos: "<|endoftext|>",
    eot: "<|user|>",
    addBos: false,
  },
};
