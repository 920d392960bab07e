/**
 * OpenAI error envelope: every non-2xx response body and every in-stream error
 * event is `{"error": {"message", "type", "param", "code"}}`.
 */

export type OpenAIErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "not_found_error"
  | "rate_limit_error"
  | "insufficient_quota"
  | "server_error"
  | "overloaded_error";

export interface OpenAIErrorBody {
  error: {
    message: string;
    type: OpenAIErrorType;
    param: string | null;
    code: string | null;
  };
}

export interface ApiErrorOptions {
  param?: string | null;
  code?: string | null;
  /** Extra HTTP headers, e.g. Retry-After. */
  headers?: Record<string, string>;
}

/** An error that knows its HTTP status and OpenAI envelope. Safe to show to clients. */
export class ApiError extends Error {
  readonly status: number;
  readonly type: OpenAIErrorType;
  readonly param: string | null;
  readonly code: string | null;
  readonly headers: Record<string, string>;

  constructor(status: number, type: OpenAIErrorType, message: string, options: ApiErrorOptions = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.type = type;
    this.param = options.param ?? null;
    this.code = options.code ?? null;
    this.headers = options.headers ?? {};
  }

  toBody(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export function invalidRequest(message: string, param: string | null = null, code: string | null = null): ApiError {
  return new ApiError(400, "invalid_request_error", message, { param, code });
}

export function modelNotFound(model: string): ApiError {
  return new ApiError(404, "invalid_request_error", `The model \`${model}\` does not exist or you do not have access to it.`, {
    param: "model",
    code: "model_not_found",
  });
}

/** A stored response that does not exist, expired, or belongs to another key (they are not told apart). */
export function responseNotFound(id: string, param: string | null = null): ApiError {
  return new ApiError(404, "invalid_request_error", `No response with id '${id}' was found.`, { param, code: param === null ? "response_not_found" : "previous_response_not_found" });
}

export function invalidApiKey(): ApiError {
  return new ApiError(401, "invalid_request_error", "Incorrect API key provided. Pass it as `Authorization: Bearer <key>`.", {
    code: "invalid_api_key",
  });
}

export function missingApiKey(): ApiError {
  return new ApiError(401, "invalid_request_error", "You didn't provide an API key. Pass it as `Authorization: Bearer <key>`.", {
    code: "invalid_api_key",
  });
}

/**
 * A managed key that exists but may not be used. Every 401 carries code
 * invalid_api_key (what clients test for); the message says why, which is
 * safe to show since it says nothing about other keys.
 */
export function unusableApiKey(reason: "revoked" | "expired" | "disabled"): ApiError {
  return new ApiError(401, "invalid_request_error", `This API key has ${reason === "expired" ? "expired" : `been ${reason}`}.`, {
    code: "invalid_api_key",
  });
}

export function modelNotPermitted(model: string): ApiError {
  return new ApiError(403, "permission_error", `This API key may not use the model \`${model}\`.`, {
    param: "model",
    code: "model_not_permitted",
  });
}

export function adminForbidden(configured: boolean): ApiError {
  return configured
    ? new ApiError(401, "invalid_request_error", "The admin API needs `Authorization: Bearer <admin key>`.", { code: "invalid_admin_key" })
    : new ApiError(403, "permission_error", "The admin API is disabled: start chatport with --admin-key (or CHATPORT_ADMIN_KEY).", {
        code: "admin_disabled",
      });
}

export function rateLimited(what: "requests" | "tokens", limit: number, headers: Record<string, string>): ApiError {
  return new ApiError(429, "rate_limit_error", `Rate limit reached: ${limit} ${what} per minute for this API key. Retry after the time in Retry-After.`, {
    code: "rate_limit_exceeded",
    headers,
  });
}

export function insufficientQuota(message: string, headers: Record<string, string>): ApiError {
  return new ApiError(429, "insufficient_quota", message, { code: "insufficient_quota", headers });
}

export function overloaded(message: string, retryAfterSeconds: number): ApiError {
  return new ApiError(503, "server_error", message, {
    code: "server_overloaded",
    headers: { "retry-after": String(retryAfterSeconds) },
  });
}

/** Seconds a client is told to wait when storage is unreachable. */
export const STORAGE_RETRY_AFTER_SECONDS = 5;

/**
 * The database or Redis did not answer in time (or refused): the request is
 * refused with 503 + Retry-After rather than served unmetered, unlimited or
 * left hanging. Raised by the store and limits layers; this is the one place
 * where such an outage becomes an HTTP status.
 */
export class StorageUnavailableError extends ApiError {
  /** What failed where, for the log only (never sent to clients; carries no secrets). */
  readonly detail: string;
  readonly storage: "database" | "redis";

  constructor(storage: "database" | "redis", detail: string) {
    super(503, "server_error", `The server's ${storage} is unreachable, so the request cannot be accounted for. Retry after the time in Retry-After.`, {
      code: "storage_unavailable",
      headers: { "retry-after": String(STORAGE_RETRY_AFTER_SECONDS) },
    });
    this.name = "StorageUnavailableError";
    this.storage = storage;
    this.detail = detail;
  }
}

export function contextLengthExceeded(limit: number, promptTokens: number, requestedCompletion: number | null): ApiError {
  const completionPart = requestedCompletion === null ? "" : ` and ${requestedCompletion} in the completion`;
  return invalidRequest(
    `This model's maximum context length is ${limit} tokens. However, you requested ${promptTokens + (requestedCompletion ?? 0)} tokens (${promptTokens} in the messages${completionPart}). Please reduce the length of the messages or completion.`,
    "messages",
    "context_length_exceeded",
  );
}

export function internalError(): ApiError {
  return new ApiError(500, "server_error", "The server had an error while processing your request.");
}

/** Whatever was thrown, the client sees an ApiError; internal details never leak. */
export function toApiError(err: unknown): ApiError {
  return err instanceof ApiError ? err : internalError();
}
