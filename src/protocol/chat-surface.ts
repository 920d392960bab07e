/**
 * POST /v1/chat/completions as an {@link ApiSurface}: `parseChatRequest` in,
 * `ChatResponseBuilder`'s chunks out (`data: <chunk>` frames, then `[DONE]`).
 */
import type { ApiSurface, EncoderContext, ResponseEncoder, WireFrame } from "./api-surface.js";
import type { ChatEvent } from "./chat-events.js";
import { parseChatRequest } from "./chat-request.js";
import { ChatResponseBuilder } from "./chat-response.js";
import type { ApiError } from "./errors.js";

class ChatEncoder implements ResponseEncoder {
  readonly terminator = "[DONE]";
  private readonly builder: ChatResponseBuilder;

  constructor({ request, systemFingerprint }: EncoderContext) {
    this.builder = new ChatResponseBuilder({
      model: request.model,
      systemFingerprint,
      n: request.n,
      includeUsage: request.includeUsage,
      fullText: request.extras.fullText,
      usageTimings: request.extras.usageTimings,
      logprobs: request.logprobs !== null,
      legacyFunctions: request.tools.legacy,
    });
  }

  get id(): string {
    return this.builder.id;
  }

  open(): WireFrame[] {
    return [];
  }

  accept(event: ChatEvent): WireFrame[] {
    return this.builder.accept(event).map((chunk) => ({ data: chunk }));
  }

  finish(): WireFrame[] {
    return [];
  }

  failed(error: ApiError): WireFrame[] {
    return [{ data: error.toBody() }];
  }

  body(): unknown {
    return this.builder.completion();
  }
}

export const chatSurface: ApiSurface = {
  api: "chat",
  parse: parseChatRequest,
  encoder: (context) => new ChatEncoder(context),
  error: (err) => err,
};
