/**
 * The wire schema of legacy `POST /v1/completions` requests and their
 * normalisation into the engine-facing {@link ChatRequest}: the sampling
 * fields completions share with chat are checked by the chat parser (same
 * rules, same `param` names), the prompt becomes a {@link RawPrompt} that the
 * engine uses as it is — no chat template.
 *
 * Choices: every prompt gets `best_of` candidates (default `n`); the engine
 * generates prompts × best_of choices, choice i answering prompt
 * ⌊i / best_of⌋, and the encoder returns the `n` of each prompt with the
 * highest mean token logprob (protocol/completions-response.ts).
 *
 * `echo` with `logprobs` asks for the prompt's own logprobs as well (what
 * evaluation harnesses score with), and `max_tokens: 0` for no generated
 * text at all: `{echo: true, logprobs: K, max_tokens: 0}` is the prompt with
 * its logprobs alone.
 */
import { z } from "zod";
import { assertBodyObject, issueToError, parseChatRequest, type ChatRequest, type ParseOptions } from "./chat-request.js";
import { ApiError, invalidRequest } from "./errors.js";

/** OpenAI's default when a completions request sets no `max_tokens`. */
export const defaultCompletionMaxTokens = 16;

/** OpenAI's bounds. */
const maxBestOf = 20;
const maxLogprobs = 5;
/** Choices one request may generate (prompts × best_of), as chat's `n`. */
const maxChoices = 128;

const tokenIds = z.array(z.number().int().min(0)).min(1, "a token-id prompt must hold at least one token");

const promptSchema = z.union([
  z.string(),
  z.array(z.string()).min(1, "must hold at least one prompt"),
  tokenIds,
  z.array(tokenIds).min(1, "must hold at least one prompt"),
]);

export const completionsRequestSchema = z.object({
  model: z.string().min(1),
  prompt: promptSchema,
  suffix: z.string().nullable().optional(),
  echo: z.boolean().nullable().optional(),
  logprobs: z.number().int().min(0).max(maxLogprobs).nullable().optional(),
  n: z.number().int().min(1).max(maxChoices).nullable().optional(),
  best_of: z.number().int().min(1).max(maxBestOf).nullable().optional(),
  // 0: nothing generated (OpenAI's minimum) — with echo, the prompt (and its logprobs) alone.
  max_tokens: z.number().int().min(0).nullable().optional(),
  stream: z.boolean().nullable().optional(),
});

/** Fields completions share with chat completions: validated and normalised by the chat parser. */
const sharedFields = [
  "model",
  "stream",
  "stream_options",
  "temperature",
  "top_p",
  "stop",
  "presence_penalty",
  "frequency_penalty",
  "logit_bias",
  "seed",
  "user",
  // Extensions vLLM and llama-server take on completions as on chat.
  "top_k",
  "min_p",
  "repetition_penalty",
  "ignore_eos",
] as const;

/** A completions request: the internal request and what only the completions wire format needs. */
export interface CompletionsRequest {
  chat: ChatRequest;
  /** Choices returned per prompt. */
  n: number;
  /** Candidates generated per prompt (≥ n). */
  bestOf: number;
  prompts: number;
  echo: boolean;
  /** Alternatives per token in `top_logprobs`; null: no logprobs in the answer. */
  logprobs: number | null;
}

/** Errors naming chat's fields name completions' own (`messages` → `prompt`). */
export function toCompletionsError(err: ApiError): ApiError {
  if (err.param !== "messages") return err;
  return new ApiError(err.status, err.type, err.message.replaceAll("messages", "prompt"), { param: "prompt", code: err.code, headers: err.headers });
}

/** Parses an untrusted completions body, or throws a 400 whose `param` names the field. */
export function parseCompletionsRequest(raw: unknown, options: ParseOptions = {}): CompletionsRequest {
  assertBodyObject(raw);
  const parsed = completionsRequestSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    if (first?.code === "invalid_union" && first.path.length === 1 && first.path[0] === "prompt") {
      throw invalidRequest("Invalid 'prompt': expected a string, an array of strings, an array of token ids or an array of token-id arrays, none of them empty.", "prompt", "invalid_value");
    }
    throw first === undefined ? invalidRequest("Invalid request body.") : issueToError(first);
  }
  const body = parsed.data;
  const prompts: Array<string | number[]> =
    typeof body.prompt === "string" ? [body.prompt] : body.prompt.every((p) => typeof p === "number") ? [body.prompt as number[]] : (body.prompt as Array<string | number[]>);
  const n = body.n ?? 1;
  const bestOf = body.best_of ?? n;
  const echo = body.echo === true;
  const suffix = body.suffix ?? null;
  if (bestOf < n) throw invalidRequest(`best_of (${bestOf}) must be at least n (${n}).`, "best_of");
  if (bestOf > n && body.stream === true) {
    throw invalidRequest("best_of greater than n cannot be streamed: the best candidates are known only once all are complete.", "best_of");
  }
  if (prompts.length * bestOf > maxChoices) {
    throw invalidRequest(`This request asks for ${prompts.length * bestOf} choices (prompts × best_of); at most ${maxChoices} are allowed.`, "n");
  }
  if (echo && suffix !== null) throw invalidRequest("echo cannot be combined with suffix.", "suffix", "unsupported_value");

  const shared: Record<string, unknown> = {};
  for (const field of sharedFields) if (raw[field] !== undefined) shared[field] = raw[field];
  const text = prompts.filter((p): p is string => typeof p === "string").join("\n");
  // The prompt as a message only for what measures an upstream prompt without a tokenizer (prompt-estimate.ts); engines read `rawPrompt`.
  const chat = parseChatRequest({ ...shared, messages: [{ role: "user", content: text }] }, options);
  const logprobs = body.logprobs ?? null;
  return {
    chat: {
      ...chat,
      n: prompts.length * bestOf,
      maxTokens: body.max_tokens ?? defaultCompletionMaxTokens,
      // best_of is chosen by mean logprob, so candidates carry them even when the client asked for none.
      logprobs: logprobs !== null ? { top: logprobs } : bestOf > n ? { top: 0 } : null,
      wire: raw,
      upstreamEndpoint: "completions",
      // echo with logprobs: the prompt's own logprobs too (the engine evaluates the whole prompt for them).
      rawPrompt: { prompts, suffix, echo, promptLogprobs: echo ? logprobs : null },
    },
    n,
    bestOf,
    prompts: prompts.length,
    echo,
    logprobs,
  };
}
