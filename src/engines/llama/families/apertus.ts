/**
 * Swiss AI Apertus: calls as one JSON list whose objects are keyed by the
 * tool's name, `<|tools_prefix|>[{"NAME": {…}}, …]<|tools_suffix|>`, after
 * any text; the results follow in the same assistant turn as a JSON list,
 * which the template writes (it joins a call's arguments as text: the OpenAI
 * wire shape). The thought is `<|inner_prefix|>…<|inner_suffix|>`, which the
 * model opens when its developer turn says deliberation is on
 * (`enable_thinking`; a generation prompt that opens it is read too).
 * Turns: `<|system_start|>`, `<|developer_start|>`, `<|user_start|>`,
 * `<|assistant_start|>`, each with its `…_end|>`.
 */
import { markerListGrammar } from "./mistral.js";
import { gbnfLiteral, type ModelFamily, type ReasoningFormat, type ToolCallSyntaxDefinition } from "./model-family.js";

const OPEN = "<|tools_prefix|>";
const CLOSE = "<|tools_suffix|>";

export const apertusToolCalls: ToolCallSyntaxDefinition = {
  name: "apertus",
  shape: { kind: "marker-list", marker: OPEN, nameForm: null, close: CLOSE, nameKeyed: true },
  argumentsKey: "arguments",
  callMarker: OPEN,
  grammarRules(objectRule, options) {
    return `${markerListGrammar(OPEN)(objectRule, options)} ${gbnfLiteral(CLOSE)}`;
  },
  callRule: (name, argumentsRule) => `${gbnfLiteral(`{${JSON.stringify(name)}: `)} ${argumentsRule} "}"`,
};

const apertusThinking: ReasoningFormat = { open: "<|inner_prefix|>", close: "<|inner_suffix|>", switchVariable: "enable_thinking" };

export const apertusFamily: ModelFamily = {
  name: "apertus",
  description: "Apertus: <|tools_prefix|>[{NAME: {…}}]<|tools_suffix|>, <|inner_prefix|> thoughts",
  detect: ({ template }) => template.includes(OPEN),
  toolCalls: apertusToolCalls,
  reasoning: apertusThinking,
  callIdLength: null,
  templateToolCalls: "openai-wire",
  outputMarkers: [CLOSE],
  tokens: {
    special: [
      "<s>", "</s>", "<|system_start|>", "<|system_end|>", "<|developer_start|>", "<|developer_end|>", "<|user_start|>", "<|user_end|>",
      "<|assistant_start|>", "<|assistant_end|>", "<|inner_prefix|>", "<|inner_suffix|>", OPEN, CLOSE,
    ],
    bos: "<s>",
    eos: "</s>",
    eot: "<|assistant_end|>",
    addBos: false,
  },
};
