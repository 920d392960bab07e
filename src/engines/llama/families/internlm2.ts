/**
 * InternLM2 / 2.5 chat with plugins: a call is
 * `<|action_start|><|plugin|>\n{"name": …, "parameters": {…}}<|action_end|>`
 * (the `tagged-json` shape), after any text; the tools come in a system turn
 * `<|im_start|>system name=<|plugin|>`, results in an `environment` turn of
 * the same name. `<|action_start|><|interpreter|>` (its code interpreter) is
 * not a function call and stays content. No reasoning.
 *
 * Its GGUFs usually carry a plain ChatML template that knows no tools: the
 * family is then told by the architecture and the vocabulary's action
 * tokens, the tools are described in a system message asking for its own
 * syntax, and past calls are written into their turn's content in it.
 */
import { gbnfLiteral, type ModelFamily, type ToolCallSyntaxDefinition } from "./model-family.js";

const ACTION_START = "<|action_start|>";
const PLUGIN = "<|plugin|>";
const ACTION_END = "<|action_end|>";

export const internlm2ToolCalls: ToolCallSyntaxDefinition = {
  name: "internlm2",
  shape: { kind: "tagged-json", open: `${ACTION_START}${PLUGIN}`, close: ACTION_END },
  argumentsKey: "parameters",
  // A lazy grammar switches on at the action's start and writes the plugin recipient itself.
  callMarker: ACTION_START,
  grammarRules(objectRule, { parallel, afterMarker }) {
    const more = parallel ? ' ("\\n" call)*' : "";
    return [
      afterMarker ? `root ::= ${gbnfLiteral(`${PLUGIN}\n`)} ${objectRule} ${gbnfLiteral(ACTION_END)}${more}` : `root ::= call${more}`,
      `call ::= ${gbnfLiteral(`${ACTION_START}${PLUGIN}\n`)} ${objectRule} ${gbnfLiteral(ACTION_END)}`,
    ].join("\n");
  },
};

/** A call as the model writes it. */
function actionText(name: string, argumentsJson: string): string {
  return `${ACTION_START}${PLUGIN}\n{"name": ${JSON.stringify(name)}, "parameters": ${argumentsJson}}${ACTION_END}`;
}

export const internlm2Family: ModelFamily = {
  name: "internlm2",
  description: "InternLM2/2.5: <|action_start|><|plugin|>{JSON}<|action_end|>",
  detect: ({ template, architecture, hasToken }) =>
    (template.includes(ACTION_START) && template.includes(PLUGIN)) || (architecture === "internlm2" && hasToken(ACTION_START) && hasToken(PLUGIN)),
  toolCalls: internlm2ToolCalls,
  reasoning: null,
  callIdLength: null,
  toolInstructions: `To call one, answer with an action per call:\n${actionText("<function name>", "{<arguments>}")}`,
  callsInContent: (content, calls) => `${content}${calls.map((c) => actionText(c.name, c.arguments)).join("")}`,
  tokens: {
    special: ["<s>", "</s>", "<|im_start|>", "<|im_end|>", ACTION_START, ACTION_END, PLUGIN, "<|interpreter|>"],
    bos: "<s>",
    eos: "</s>",
    eot: "<|im_end|>",
    addBos: false,
  },
};
