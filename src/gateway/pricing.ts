/**
 * What a request costs: per-model prices in USD per million tokens, from the
 * config. Cached prompt tokens are billed at the cached-input price (the input
 * price when none is set); reasoning tokens are output tokens.
 */
import type { ModelPrices } from "../config.js";

export interface BilledTokens {
  promptTokens: number;
  cachedTokens: number;
  completionTokens: number;
}

export function costOf(tokens: BilledTokens, prices: ModelPrices | undefined): number {
  if (prices === undefined) return 0;
  const cached = Math.min(tokens.cachedTokens, tokens.promptTokens);
  const usd =
    (tokens.promptTokens - cached) * prices.input + cached * (prices.cachedInput ?? prices.input) + tokens.completionTokens * prices.output;
  return usd / 1e6;
}

/** USD one more output token costs; 0 when the model is free. */
export function outputTokenPrice(prices: ModelPrices | undefined): number {
  return prices === undefined ? 0 : prices.output / 1e6;
}

/** USD one uncached prompt token costs; 0 when the model is free. */
export function inputTokenPrice(prices: ModelPrices | undefined): number {
  return prices === undefined ? 0 : prices.input / 1e6;
}
