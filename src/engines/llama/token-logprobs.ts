/**
 * OpenAI logprob entries from node-llama-cpp's per-token metadata: the
 * probability of the chosen token and, when asked, the most likely
 * alternatives — both after the request's sampling parameters, which is the
 * distribution the token was actually drawn from.
 */
import type { Token } from "node-llama-cpp";
import type { TokenLogprob, TopLogprob } from "../../protocol/chat-events.js";
import type { TokenBytes } from "./token-bytes.js";

/** What JSON can carry for "impossible": OpenAI uses the same floor. */
const logprobFloor = -9999;

function logprob(probability: number): number {
  return probability > 0 ? Math.max(Math.log(probability), logprobFloor) : logprobFloor;
}

function entry(bytes: TokenBytes, token: Token, probability: number): TopLogprob {
  return { token: bytes.text(token), logprob: logprob(probability), bytes: Array.from(bytes.bytes(token)) };
}

export function tokenLogprob(
  bytes: TokenBytes,
  token: Token,
  confidence: number | undefined,
  probabilities: ReadonlyMap<Token, number> | undefined,
  top: number,
): TokenLogprob {
  const topLogprobs: TopLogprob[] = [];
  if (probabilities !== undefined && top > 0) {
    // node-llama-cpp returns the map sorted by probability, highest first.
    for (const [candidate, probability] of probabilities) {
      if (topLogprobs.length >= top) break;
      topLogprobs.push(entry(bytes, candidate, probability));
    }
  }
  const chosen = confidence ?? probabilities?.get(token) ?? 0;
  return { ...entry(bytes, token, chosen), topLogprobs };
}
