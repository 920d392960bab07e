/** A family's output pipeline as the engine runs it (reasoning reader, then the tool-call parser), for parser tests over text splits. */
import type { ReasoningFormat, ToolCallSyntaxName } from "../../src/engines/llama/families/model-family.js";
import { ChoiceOutput } from "../../src/engines/llama/output/choice-output.js";
import { createReasoningReader } from "../../src/engines/llama/output/reasoning-reader.js";
import { ToolCallStreamParser, type ToolCallDelta } from "../../src/engines/llama/output/tool-call-parser.js";

export interface FamilyOutput {
  content: string;
  reasoning: string;
  calls: Array<{ id: string; name: string; arguments: string }>;
  /** Each call's streamed argument fragments, concatenated. */
  streamed: string[];
}

export function readFamilyOutput(
  pieces: readonly string[],
  options: { reasoning: ReasoningFormat | null; syntax: ToolCallSyntaxName | null; startInReasoning?: boolean; parallel?: boolean },
): FamilyOutput {
  let n = 0;
  const output = new ChoiceOutput({
    stops: [],
    trimTrailingWhitespace: false,
    reasoning: options.reasoning === null ? null : createReasoningReader(options.reasoning, options.startInReasoning === true),
    tools: options.syntax === null ? null : new ToolCallStreamParser(options.syntax, { newId: () => `call_${++n}`, parallel: options.parallel ?? true }),
  });
  const deltas: ToolCallDelta[] = [];
  let content = "";
  let reasoning = "";
  for (const piece of [...pieces.map((p) => output.push(p).piece), output.finish()]) {
    content += piece.content;
    reasoning += piece.reasoning;
    deltas.push(...piece.toolCalls);
  }
  const streamed: string[] = [];
  for (const d of deltas) streamed[d.index] = (streamed[d.index] ?? "") + (d.arguments ?? "");
  return { content, reasoning, calls: [...output.toolCalls], streamed };
}
