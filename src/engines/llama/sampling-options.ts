/**
 * OpenAI sampling parameters → node-llama-cpp evaluate options.
 *
 * node-llama-cpp defaults differ from OpenAI's (top_k 40, top_p 0.95, seed =
 * current second), so every value is passed explicitly: OpenAI semantics are
 * top_k off, top_p 1, and a fresh random seed when the request has none.
 */
import { randomInt } from "node:crypto";
import { TokenBias, type LlamaGrammarEvaluationState, type LlamaModel, type SequenceEvaluateOptions, type Token } from "node-llama-cpp";
import type { SamplingParams } from "../../protocol/chat-request.js";

/** Penalties look at this many of the most recent completion tokens (llama.cpp's default window). */
const penaltyWindow = 64;

/**
 * A bias of −100 bans a token. Without a grammar it is removed outright
 * ("never"). With a grammar it only gets a logit far below any other: when a
 * client bans every token the grammar allows (all `{` for JSON), an outright
 * ban leaves the sampler no candidate, and node-llama-cpp 3.21.1 turns that
 * native failure into a rejection nothing catches — the process exits. So the
 * grammar wins that conflict and the least-bad banned token is used.
 */
export const bannedUnderGrammar = -1e4;

/**
 * The request's logit_bias, and under a grammar the tokens that can never be
 * part of valid UTF-8 (`malformed`, see malformed-utf8-tokens.ts) banned the
 * same grammar-safe way.
 */
export function buildTokenBias(model: LlamaModel, logitBias: ReadonlyMap<number, number>, grammar: boolean, malformed: readonly Token[] = []): TokenBias | undefined {
  if (logitBias.size === 0 && (!grammar || malformed.length === 0)) return undefined;
  const bias = new TokenBias(model.tokenizer);
  applyTokenBias(bias, logitBias, grammar, malformed);
  return bias;
}

/** Sets the biases {@link buildTokenBias} describes on `bias` (over what it holds already). */
export function applyTokenBias(bias: TokenBias, logitBias: ReadonlyMap<number, number>, grammar: boolean, malformed: readonly Token[] = []): void {
  if (grammar) for (const token of malformed) bias.set(token, { logit: bannedUnderGrammar });
  for (const [token, logit] of logitBias) {
    bias.set(token as Token, logit > -100 ? { logit } : grammar ? { logit: bannedUnderGrammar } : "never");
  }
}

export function resolveSeed(sampling: SamplingParams, choiceIndex: number): number {
  const base = sampling.seed ?? randomInt(0, 2 ** 32);
  return (base + choiceIndex) >>> 0;
}

/**
 * top_k off (OpenAI's default) means no top-k sampler at all. node-llama-cpp
 * turns a top_k of 0 into a top-k of the whole vocabulary, which sorts every
 * candidate on every token: 10-30 ms a token on Qwen's 151k vocabulary, and
 * twice when a grammar rejects the first pick and the chain runs again. A
 * null top_k leaves the sampler out (node-llama-cpp drops null settings
 * before they reach llama.cpp; only `undefined` becomes its default of 40).
 * Without it the chain draws from the same distribution, over the
 * candidates in vocabulary order rather than sorted.
 */
function topKOption(topK: number): number | undefined {
  return topK > 0 ? topK : (null as unknown as undefined);
}

export function buildEvaluateOptions(
  sampling: SamplingParams,
  seed: number,
  tokenBias: TokenBias | (() => TokenBias) | undefined,
  grammarState: () => LlamaGrammarEvaluationState | undefined,
  generated: readonly Token[],
): SequenceEvaluateOptions {
  const penalised =
    sampling.repetitionPenalty !== 1 || sampling.presencePenalty !== 0 || sampling.frequencyPenalty !== 0;
  return {
    temperature: sampling.temperature,
    topK: topKOption(sampling.topK),
    topP: sampling.topP,
    minP: sampling.minP,
    seed,
    tokenBias,
    grammarEvaluationState: grammarState,
    repeatPenalty: penalised
      ? {
          punishTokens: () => generated.slice(-penaltyWindow),
          maxPunishTokens: penaltyWindow,
          penalty: sampling.repetitionPenalty,
          presencePenalty: sampling.presencePenalty,
          frequencyPenalty: sampling.frequencyPenalty,
        }
      : undefined,
    yieldEogToken: true,
  };
}
