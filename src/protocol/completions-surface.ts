/**
 * POST /v1/completions as an {@link ApiSurface}: `parseCompletionsRequest` in,
 * `CompletionsEncoder`'s `text_completion` chunks out, then `[DONE]`. One
 * surface per request: the parse keeps the completions-only fields (echo,
 * logprobs, n, best_of) that the encoder answers with.
 */
import type { ApiSurface, EncoderContext } from "./api-surface.js";
import { parseCompletionsRequest, toCompletionsError, type CompletionsRequest } from "./completions-request.js";
import { CompletionsEncoder } from "./completions-response.js";

export interface CompletionsSurface extends ApiSurface {
  /**
   * The encoder, told whether the engine chose the best_of candidates itself
   * (an upstream does; for a local engine, which generates every candidate,
   * the encoder chooses). `encoder(context)` is `encoderFor(context, false)`.
   */
  encoderFor(context: EncoderContext, engineChose: boolean): CompletionsEncoder;
}

export function completionsSurface(): CompletionsSurface {
  let parsed: CompletionsRequest | null = null;
  const encoderFor = (context: EncoderContext, engineChose: boolean): CompletionsEncoder => {
    if (parsed === null) throw new Error("encoder before parse");
    return new CompletionsEncoder(parsed, context, engineChose);
  };
  return {
    api: "completions",
    parse: (body, options) => {
      parsed = parseCompletionsRequest(body, options);
      return parsed.chat;
    },
    encoder: (context) => encoderFor(context, false),
    encoderFor,
    error: toCompletionsError,
  };
}
