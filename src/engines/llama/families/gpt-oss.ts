/**
 * gpt-oss (OpenAI's harmony format). The output is a sequence of messages
 * after the generation prompt's `<|start|>assistant`:
 * `<|channel|>analysis<|message|>…<|end|>` (the thought),
 * `<|start|>assistant<|channel|>final<|message|>…<|return|>` (the answer), or
 * a call `<|channel|>commentary to=functions.NAME <|constrain|>json<|message|>{…}<|call|>`
 * (also written `<|start|>assistant to=functions.NAME<|channel|>commentary json<|message|>{…}`).
 * `<|return|>` and `<|call|>` end the generation (both are among harmony's
 * stop tokens for assistant actions and llama.cpp's end-of-generation
 * tokens), so one turn holds at most one call, and the template writes back
 * only the first call of a turn; the next call comes after the result. Where
 * a model goes on past `<|call|>`, the calls of consecutive messages are all
 * read (`test/gpt-oss-family.test.ts`).
 *
 * `output/harmony-messages.ts` reads the messages (analysis → reasoning,
 * final and preambles → content) and hands a call on as
 * `to=functions.NAME<|message|>{…}`, which the shared parser reads in its
 * `marker-list` name form. The template reads `reasoning_effort`
 * (low/medium/high, into the system message), history reasoning from the
 * message field `thinking`, and writes tool results as
 * `<|start|>functions.NAME to=assistant<|channel|>commentary<|message|>"…"<|end|>`.
 */
import { HARMONY } from "../output/harmony-messages.js";
import { gbnfLiteral, type ModelFamily, type ReasoningFormat, type ToolCallSyntaxDefinition } from "./model-family.js";

const MARKER = "to=functions.";
const HEADER_END = "harmony-header-end";

export const harmonyToolCalls: ToolCallSyntaxDefinition = {
  name: "harmony",
  // What follows `<|channel|>` before `<|message|>` (the channel and content type) is skipped.
  shape: { kind: "marker-list", marker: MARKER, nameForm: { argsTag: HARMONY.message, callIdTag: HARMONY.channel } },
  argumentsKey: "arguments",
  callMarker: MARKER,
  grammarRules(objectRule, { afterMarker }) {
    // One call per turn: `<|call|>` ends the generation.
    return afterMarker
      ? [
          `root ::= ${objectRule}`,
          // After `<|channel|>commentary to=functions.NAME` or `<|start|>assistant to=functions.NAME`.
          `${HEADER_END} ::= (${gbnfLiteral(`${HARMONY.channel}commentary`)})? " " (${gbnfLiteral(HARMONY.constrain)})? "json" ${gbnfLiteral(HARMONY.message)}`,
        ].join("\n")
      : [
          `root ::= ${gbnfLiteral(`${HARMONY.channel}commentary ${MARKER}`)} ${objectRule}`,
          `${HEADER_END} ::= ${gbnfLiteral(` ${HARMONY.constrain}json${HARMONY.message}`)}`,
        ].join("\n");
  },
  callRule: (name, argumentsRule) => `${gbnfLiteral(name)} ${HEADER_END} ${argumentsRule}`,
};

export const harmonyReasoning: ReasoningFormat = {
  open: `${HARMONY.channel}analysis${HARMONY.message}`,
  close: HARMONY.end,
  switchVariable: null,
  reader: "harmony",
};

export const gptOssFamily: ModelFamily = {
  name: "gpt-oss",
  description: "gpt-oss (harmony): analysis/commentary/final channels, calls to=functions.NAME, reasoning_effort",
  detect: ({ template }) => template.includes(HARMONY.channel) && template.includes(HARMONY.message) && template.includes(HARMONY.start),
  toolCalls: harmonyToolCalls,
  reasoning: harmonyReasoning,
  callIdLength: null,
  historyReasoningField: "thinking",
  // The template knows low, medium and high.
  reasoningEffortValues: { none: "low", minimal: "low", low: "low", medium: "medium", high: "high" },
  outputMarkers: Object.values(HARMONY),
  tokens: {
    special: ["<|startoftext|>", "<|endoftext|>", ...Object.values(HARMONY)],
    bos: "<|startoftext|>",
    // `<|end|>` ends a message, not the generation; `<|call|>` ends it too (llama.cpp treats it as end of generation by its text).
    eos: HARMONY.return,
    addBos: false,
  },
};
