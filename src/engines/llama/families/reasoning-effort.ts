/**
 * `reasoning_effort` → a family's thinking: whether the template's switch is
 * on, and how many thinking tokens the thought may take before chatport
 * closes it. Each family may declare its own map (`ModelFamily.reasoningEffort`);
 * the default switches off only at `none` and caps `minimal` / `low` /
 * `medium` at 64 / 512 / 2048 tokens, `high` uncapped.
 */
import type { ReasoningEffort } from "../../../protocol/chat-request.js";
import type { ModelFamily, ReasoningEffortMap } from "./model-family.js";

export const DEFAULT_REASONING_EFFORT: { off: readonly ReasoningEffort[]; budgets: Readonly<Record<ReasoningEffort, number | null>> } = {
  off: ["none"],
  budgets: { none: 0, minimal: 64, low: 512, medium: 2048, high: null },
};

/** Thinking off below `low`, as for models whose thinking is on or off only (Gemma 4, Granite 3.3). */
export const OFF_BELOW_LOW: ReasoningEffortMap = { off: ["none", "minimal"], budgets: { minimal: 0 } };

export interface EffortPlan {
  /** The switch's value; null: the request named no effort (the template's default). */
  thinking: boolean | null;
  /** Thinking tokens before chatport closes the thought; null: uncapped. */
  budget: number | null;
}

export function effortPlan(family: ModelFamily, effort: ReasoningEffort | null): EffortPlan {
  if (effort === null) return { thinking: null, budget: null };
  const map = family.reasoningEffort ?? DEFAULT_REASONING_EFFORT;
  const budget = map.budgets[effort];
  return { thinking: !map.off.includes(effort), budget: budget === undefined ? DEFAULT_REASONING_EFFORT.budgets[effort] : budget };
}
