/**
 * How an API renders its errors: OpenAI's `{"error": {message, type, param,
 * code}}` for the OpenAI routes, Anthropic's `{"type": "error", "error":
 * {type, message}}` (with its own status codes) for the Messages API. The
 * envelope is a property of the route (its Fastify `config.errorEnvelope`),
 * so the app's one error handler renders every error of a route — its
 * authentication hook's included — in that route's own shape.
 */
import type { ApiError } from "./errors.js";

export interface RenderedError {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

export interface ErrorEnvelope {
  render(err: ApiError): RenderedError;
}

export const openAiErrorEnvelope: ErrorEnvelope = {
  render: (err) => ({ status: err.status, headers: err.headers, body: err.toBody() }),
};
