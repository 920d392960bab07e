/**
 * Qwen2.5 and Hermes 2/3 (and any ChatML template with Hermes tools):
 * `<tool_call>\n{"name": …, "arguments": {…}}\n</tool_call>`, repeated, text
 * before the first call is content; tool results come back in
 * `<tool_response>` blocks, which the template writes. No reasoning.
 */
import { gbnfLiteral, type ModelFamily, type ToolCallSyntaxDefinition } from "./model-family.js";

const OPEN = "<tool_call>";
const CLOSE = "</tool_call>";

export const hermesToolCalls: ToolCallSyntaxDefinition = {
  name: "hermes",
  shape: { kind: "tagged-json", open: OPEN, close: CLOSE },
  argumentsKey: "arguments",
  callMarker: OPEN,
  grammarRules(objectRule, { parallel, afterMarker }) {
    const more = parallel ? ' ("\\n" call)*' : "";
    return [
      afterMarker ? `root ::= [ \\n]* ${objectRule} ${gbnfLiteral(`\n${CLOSE}`)}${more}` : `root ::= call${more}`,
      `call ::= ${gbnfLiteral(`${OPEN}\n`)} ${objectRule} ${gbnfLiteral(`\n${CLOSE}`)}`,
    ].join("\n");
  },
};

/** How a call and a result are written where no template writes them (see fallback.ts). */
export const hermesTurns = {
  call: (name: string, argumentsJson: string): string => `${OPEN}\n{"name": ${JSON.stringify(name)}, "arguments": ${argumentsJson}}\n${CLOSE}`,
  result: (content: string): string => `<tool_response>\n${content}\n</tool_response>`,
  instructions: `To call one, answer only with a block per call:\n${OPEN}\n{"name": "<function name>", "arguments": {<arguments>}}\n${CLOSE}`,
};

export const CHATML_TOKENS = {
  special: ["<|endoftext|>", "<|im_start|>", "<|im_end|>", OPEN, CLOSE, "<tool_response>", "</tool_response>"],
  bos: "<|endoftext|>",
  eos: "<|im_end|>",
  addBos: false,
} as const;

export const hermesFamily: ModelFamily = {
  name: "hermes",
  description: "Qwen2.5, Hermes 2 Pro / 3: <tool_call> JSON",
  detect: ({ template }) => template.includes(OPEN),
  toolCalls: hermesToolCalls,
  reasoning: null,
  callIdLength: null,
  tokens: CHATML_TOKENS,
};
