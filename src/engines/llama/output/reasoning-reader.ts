/**
 * The reasoning stage of a choice's pipeline, for the family's format:
 * `<think>`-style tags at the start (`ReasoningSplitter`) or harmony's
 * analysis channel (`HarmonyMessageReader`).
 */
import type { ReasoningFormat } from "../families/model-family.js";
import { HarmonyMessageReader } from "./harmony-messages.js";
import { ReasoningSplitter, type ReasoningPiece } from "./reasoning-splitter.js";

export interface ReasoningReader {
  /** True while inside the thought. */
  readonly inReasoning: boolean;
  push(text: string): ReasoningPiece;
  finish(): ReasoningPiece;
}

export function createReasoningReader(format: ReasoningFormat, startsInside: boolean): ReasoningReader {
  if (format.reader === "harmony") return new HarmonyMessageReader({ startInReasoning: startsInside });
  return new ReasoningSplitter({ startInReasoning: startsInside, openTag: format.open, closeTag: format.close });
}
