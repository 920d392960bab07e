/**
 * A prompt's own logprobs (legacy completions, `echo` with `logprobs`): for
 * every position i > 0, the log-probability the model gives prompt token i
 * after tokens < i, and its `top` likeliest alternatives — the raw model
 * distribution (softmax of the logits: no temperature, no truncation, no
 * penalties), which is what evaluation harnesses score with. The first token
 * has nothing before it: null, as OpenAI and vLLM answer.
 *
 * The prompt is evaluated with node-llama-cpp's `controlledEvaluate`, which
 * asks for logits at every position, in chunks (each position's distribution
 * covers the whole vocabulary, so only a chunk's worth is held at a time).
 * The last prompt token is left for the caller: the generation evaluates it
 * and samples after it as usual. The sequence must hold no cached prefix (a
 * cached token has no logits): the caller erases it first.
 *
 * Token texts are their pieces of the echoed text (special tokens: empty),
 * so the pieces joined are the echo and `text_offset` indexes it.
 */
import type { LlamaContextSequence, LlamaModel, Token } from "node-llama-cpp";
import type { PromptTokenLogprob } from "../../protocol/chat-events.js";
import type { TokenBytes } from "./token-bytes.js";
import { tokenLogprob } from "./token-logprobs.js";
import { TokenTextDecoder } from "./token-text-decoder.js";

/** Positions evaluated per `controlledEvaluate` call: a vocabulary-sized distribution each. */
const positionsPerCall = 64;

/**
 * Each prompt token's piece of `echo`: decoded incrementally (a character
 * split over tokens lands on the token that completes it). A tokenizer that
 * adds a leading space the prompt does not have (SentencePiece) would shift
 * every offset by it, so the pieces are trimmed to end exactly as `echo`
 * does when they differ from it only in such a prefix.
 */
export function promptPieces(model: LlamaModel, prompt: readonly Token[], echo: string): string[] {
  const decoder = new TokenTextDecoder(model);
  const pieces = prompt.map((token) => decoder.push(token));
  const tail = decoder.flush();
  if (pieces.length > 0) pieces[pieces.length - 1] += tail;
  const joined = pieces.join("");
  if (joined === echo || !joined.endsWith(echo)) return pieces;
  let extra = joined.length - echo.length;
  for (let i = 0; i < pieces.length && extra > 0; i++) {
    const piece = pieces[i] ?? "";
    const cut = Math.min(piece.length, extra);
    pieces[i] = piece.slice(cut);
    extra -= cut;
  }
  return pieces;
}

/**
 * Evaluates `prompt` but its last token on `sequence` (which must be empty)
 * and returns every prompt token's entry, the first null. Stops early, with
 * what it has, when `signal` fires.
 */
export async function evaluatePromptLogprobs(
  sequence: LlamaContextSequence,
  prompt: readonly Token[],
  pieces: readonly string[],
  bytes: TokenBytes,
  top: number,
  signal: AbortSignal,
): Promise<PromptTokenLogprob[]> {
  const entries: PromptTokenLogprob[] = [{ token: pieces[0] ?? "", logprob: null, topLogprobs: null }];
  const upTo = prompt.length - 1;
  for (let start = 0; start < upTo && !signal.aborted; start += positionsPerCall) {
    const end = Math.min(start + positionsPerCall, upTo);
    const input = prompt.slice(start, end).map((token) => [token, { generateNext: { probabilities: true } }] as [Token, { generateNext: { probabilities: true } }]);
    const results = await sequence.controlledEvaluate(input);
    for (let i = start; i < end; i++) {
      const next = prompt[i + 1] as Token;
      const probabilities = results[i - start]?.next.probabilities;
      // The distribution after position i scores token i + 1.
      const scored = tokenLogprob(bytes, next, probabilities?.get(next) ?? 0, probabilities, top);
      entries.push({ token: pieces[i + 1] ?? "", logprob: scored.logprob, topLogprobs: scored.topLogprobs });
    }
  }
  return entries;
}
