/**
 * Anthropic's error shape, `{"type": "error", "error": {"type", "message"}}`,
 * and its status codes: an overloaded server is 529 (`overloaded_error`)
 * where OpenAI's would be 503. Every error of the Messages API routes goes
 * out this way, in a body and as a stream's `event: error`.
 */
import type { ErrorEnvelope, RenderedError } from "./error-envelope.js";
import type { ApiError } from "./errors.js";

export type AnthropicErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "not_found_error"
  | "request_too_large"
  | "rate_limit_error"
  | "api_error"
  | "overloaded_error";

export interface AnthropicErrorBody {
  type: "error";
  error: { type: AnthropicErrorType; message: string };
}

/** Anthropic's status for an error (OpenAI's 503 overload is its 529). */
export function anthropicStatus(err: ApiError): number {
  return err.status === 503 ? 529 : err.status;
}

/** The error type Anthropic uses for a status. */
export function anthropicErrorType(status: number): AnthropicErrorType {
  switch (status) {
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 503:
    case 529:
      return "overloaded_error";
    default:
      return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

/** Anthropic's error has no `param`: the field is named in the message (`messages[1].content[0].type: …`) unless it already is. */
export function anthropicErrorBody(err: ApiError): AnthropicErrorBody {
  const message = err.param !== null && !err.message.includes(err.param) ? `${err.param}: ${err.message}` : err.message;
  return { type: "error", error: { type: anthropicErrorType(anthropicStatus(err)), message } };
}

export const anthropicErrorEnvelope: ErrorEnvelope = {
  render: (err): RenderedError => ({ status: anthropicStatus(err), headers: err.headers, body: anthropicErrorBody(err) }),
};
