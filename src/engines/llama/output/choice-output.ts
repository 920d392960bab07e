/**
 * The text pipeline of one choice: stop strings first (on the raw text), then
 * the thought split off, then tool calls parsed out of what remains. Every
 * stage holds back only what might still turn into a marker, so deltas go out
 * as early as they safely can and streaming equals non-streaming.
 */
import type { ToolCallDelta } from "../../../protocol/chat-events.js";
import { StopMatcher } from "../stop-matcher.js";
import type { AnswerTagStripper } from "./answer-tags.js";
import type { ReasoningReader } from "./reasoning-reader.js";
import type { ParsedToolCall, ToolCallStreamParser } from "./tool-call-parser.js";

export interface OutputPiece {
  content: string;
  reasoning: string;
  toolCalls: ToolCallDelta[];
}

export interface ChoiceOutputOptions {
  stops: readonly string[];
  trimTrailingWhitespace: boolean;
  reasoning: ReasoningReader | null;
  tools: ToolCallStreamParser | null;
  /** The family's answer tags after a thought, removed (Granite 3.3's `<response>`). */
  answer?: AnswerTagStripper | null;
}

export function isEmptyPiece(piece: OutputPiece): boolean {
  return piece.content === "" && piece.reasoning === "" && piece.toolCalls.length === 0;
}

export class ChoiceOutput {
  private readonly stops: StopMatcher;
  private readonly reasoning: ReasoningReader | null;
  private readonly tools: ToolCallStreamParser | null;
  private readonly answer: AnswerTagStripper | null;
  private stopped = false;

  constructor(options: ChoiceOutputOptions) {
    this.stops = new StopMatcher(options.stops, { trimTrailingWhitespace: options.trimTrailingWhitespace });
    this.reasoning = options.reasoning;
    this.tools = options.tools;
    this.answer = options.answer ?? null;
  }

  get inReasoning(): boolean {
    return this.reasoning?.inReasoning === true;
  }

  get toolCallCount(): number {
    return this.tools?.calls.length ?? 0;
  }

  /** The complete tool calls so far. */
  get toolCalls(): readonly ParsedToolCall[] {
    return this.tools?.calls ?? [];
  }

  /** Feed decoded text; `stopped` says a stop sequence (`stop`) ended the output. */
  push(text: string): { piece: OutputPiece; stopped: boolean; stop?: string } {
    const scan = this.stops.push(text);
    if (scan.stopped) this.stopped = true;
    return { piece: this.route(scan.emit), stopped: scan.stopped, ...(scan.stop === undefined ? {} : { stop: scan.stop }) };
  }

  /** End of generation: release everything still held. */
  finish(): OutputPiece {
    const tail = this.stopped ? "" : this.stops.flush();
    const piece = this.route(tail);
    const reasoningEnd = this.reasoning?.finish() ?? { reasoning: "", content: "" };
    piece.reasoning += reasoningEnd.reasoning;
    if (this.answer !== null) reasoningEnd.content = this.answer.push(reasoningEnd.content) + this.answer.finish();
    const toolsTail = this.tools?.push(reasoningEnd.content) ?? { content: reasoningEnd.content, toolCalls: [] };
    const toolsEnd = this.tools?.finish() ?? { content: "", toolCalls: [] };
    piece.content += toolsTail.content + toolsEnd.content;
    piece.toolCalls.push(...toolsTail.toolCalls, ...toolsEnd.toolCalls);
    return piece;
  }

  private route(text: string): OutputPiece {
    if (text === "") return { content: "", reasoning: "", toolCalls: [] };
    const split = this.reasoning?.push(text) ?? { reasoning: "", content: text };
    if (this.answer !== null) split.content = this.answer.push(split.content);
    const parsed = this.tools?.push(split.content) ?? { content: split.content, toolCalls: [] };
    return { content: parsed.content, reasoning: split.reasoning, toolCalls: parsed.toolCalls };
  }
}
