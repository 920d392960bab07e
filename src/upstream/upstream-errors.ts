/**
 * What can go wrong talking to an upstream, and how it reaches the client.
 *
 * Every attempt that fails becomes an {@link AttemptFailure} (every field of
 * the upstream's error already scrubbed of the provider's secrets); the
 * engine retries the retryable ones and, when it gives up, turns them into
 * one ApiError:
 *
 * | upstream                                   | retried?          | client sees                                   |
 * |--------------------------------------------|-------------------|-----------------------------------------------|
 * | connect refused / reset / DNS              | yes               | 502 upstream_error                            |
 * | connect or first-byte timeout              | yes               | 504 upstream_timeout                          |
 * | 408, 5xx                                   | yes               | 502 upstream_error (upstream message)         |
 * | 429 (Retry-After honoured when short)      | yes               | 429 rate_limit_exceeded + Retry-After         |
 * | 401 / 403 (our provider key)               | other deployments | 502 upstream_error naming the provider        |
 * | other 4xx (400, 404, 413, 422, …)          | no                | upstream status, type, code, param, message   |
 * | context too long (any shape)               | no                | 400 code context_length_exceeded              |
 * | drop / idle timeout after the first event  | no                | usage event, then 502 upstream_error          |
 * | every breaker open, nothing tried          | —                 | 503 upstream_unavailable + Retry-After        |
 *
 * Messages name provider ids, never URLs or keys.
 */
import { ApiError, type OpenAIErrorType } from "../protocol/errors.js";
import { isRecord } from "./upstream-wire.js";

export interface UpstreamErrorInfo {
  message: string | null;
  type: string | null;
  code: string | null;
  param: string | null;
}

export type AttemptFailure =
  | { kind: "network"; provider: string; detail: string }
  | { kind: "timeout"; provider: string; phase: "connect" | "first-byte" | "idle"; ms: number }
  | { kind: "status"; provider: string; status: number; info: UpstreamErrorInfo; retryAfterMs: number | null }
  /** A 200 whose body was unusable: not JSON, an in-stream error, closed before any event. */
  | { kind: "protocol"; provider: string; detail: string; info?: UpstreamErrorInfo };

export type RetryPolicy = "retry" | "failover" | "never";

export function retryPolicy(failure: AttemptFailure): RetryPolicy {
  if (failure.kind !== "status") return "retry";
  const { status } = failure;
  if (failure.info.code === "context_length_exceeded") return "never";
  if (status === 408 || status === 429 || status >= 500) return "retry";
  if (status === 401 || status === 403) return "failover";
  return "never";
}

const MAX_MESSAGE = 1000;
/** Shorter secrets are not searched for (they would match ordinary words). */
const MIN_SECRET = 4;

/**
 * Remove secrets from text bound for a client (or a log, or a metric): each
 * secret as sent and percent-encoded, and anything that looks like a bearer
 * or basic credential.
 */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length < MIN_SECRET) continue;
    for (const spelling of new Set([secret, encodeURIComponent(secret)])) out = out.split(spelling).join("[redacted]");
  }
  out = out.replace(/\b(Bearer|Basic)\s+[^\s"',;]+/gi, "$1 [redacted]");
  return out.length > MAX_MESSAGE ? `${out.slice(0, MAX_MESSAGE)}…` : out;
}

function stringOrNull(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}

/** Whatever error body the upstream sent (OpenAI, vLLM/SGLang, llama-server, Ollama, FastAPI, text). */
export function parseUpstreamError(body: unknown, secrets: readonly string[]): UpstreamErrorInfo {
  let json: unknown = body;
  if (typeof body === "string") {
    try {
      json = JSON.parse(body);
    } catch {
      const text = body.trim();
      return { message: text === "" ? null : scrub(text, secrets), type: null, code: null, param: null };
    }
  }
  let source: Record<string, unknown> = {};
  if (isRecord(json)) {
    if (isRecord(json.error)) source = json.error;
    else if (typeof json.error === "string") source = { ...json, message: json.error };
    else if (typeof json.detail === "string") source = { message: json.detail };
    else if (json.detail !== undefined) source = { message: JSON.stringify(json.detail) };
    else source = json;
  }
  // Every field reaches the client (and logs): each is scrubbed, not just the message.
  const field = (value: unknown): string | null => {
    const text = stringOrNull(value);
    return text === null ? null : scrub(text, secrets);
  };
  const info: UpstreamErrorInfo = {
    message: field(source.message),
    type: field(source.type),
    code: field(source.code),
    param: field(source.param),
  };
  if (isContextLengthError(info)) info.code = "context_length_exceeded";
  return info;
}

const contextPattern =
  /context[ _-]?(length|window|size)|maximum context|too many tokens|prompt is too long|input is too long|longer than the model|exceeds? the (model's )?(max|context)/i;

export function isContextLengthError(info: UpstreamErrorInfo): boolean {
  if (info.code === "context_length_exceeded" || info.type === "exceed_context_size_error") return true;
  return info.message !== null && contextPattern.test(info.message);
}

const openAiTypes: ReadonlySet<string> = new Set<OpenAIErrorType>([
  "invalid_request_error",
  "authentication_error",
  "permission_error",
  "not_found_error",
  "rate_limit_error",
  "insufficient_quota",
  "server_error",
  "overloaded_error",
]);

function typeForStatus(status: number): OpenAIErrorType {
  if (status === 429) return "rate_limit_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

/** A non-retryable upstream 4xx, passed on with the upstream's status and fields. */
export function passThroughError(upstreamStatus: number, info: UpstreamErrorInfo, provider: string): ApiError {
  const contextLength = info.code === "context_length_exceeded";
  // Some servers answer a too-long prompt with a 5xx; it is still the request's fault.
  const status = contextLength && upstreamStatus >= 500 ? 400 : upstreamStatus;
  const type = info.type !== null && openAiTypes.has(info.type) ? (info.type as OpenAIErrorType) : typeForStatus(status);
  return new ApiError(status, type, info.message ?? `Upstream provider '${provider}' rejected the request (HTTP ${status}).`, {
    param: info.param ?? (contextLength ? "messages" : null),
    code: info.code,
  });
}

/** Headers `retry-after-ms` (OpenAI) or `retry-after` (seconds or an HTTP date) → ms, or null. */
export function parseRetryAfter(headers: Record<string, string | string[] | undefined>, now: number): number | null {
  const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);
  const ms = first(headers["retry-after-ms"]);
  if (ms !== undefined && ms.trim() !== "" && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const value = first(headers["retry-after"]);
  if (value === undefined || value.trim() === "") return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

function errorCode(err: unknown): string | null {
  let current: unknown = err;
  for (let depth = 0; depth < 4 && isRecord(current); depth++) {
    if (typeof current.code === "string") return current.code;
    current = current.cause;
  }
  return null;
}

/** A thrown network error (not one of our own aborts) → a failure. */
export function networkFailure(err: unknown, provider: string, connectMs: number): AttemptFailure {
  const code = errorCode(err);
  switch (code) {
    case "UND_ERR_CONNECT_TIMEOUT":
    case "ETIMEDOUT":
      return { kind: "timeout", provider, phase: "connect", ms: connectMs };
    case "ECONNREFUSED":
      return { kind: "network", provider, detail: "connection refused" };
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return { kind: "network", provider, detail: "host not found" };
    case "ECONNRESET":
    case "EPIPE":
    case "UND_ERR_SOCKET":
      return { kind: "network", provider, detail: "connection closed by the upstream" };
    case "UND_ERR_CLOSED":
    case "UND_ERR_DESTROYED":
      return { kind: "network", provider, detail: "connection pool closed" };
    default:
      return { kind: "network", provider, detail: code === null ? "network error" : `network error (${code})` };
  }
}

function describe(failure: AttemptFailure): string {
  switch (failure.kind) {
    case "network":
      return `provider '${failure.provider}': ${failure.detail}`;
    case "timeout":
      return `provider '${failure.provider}': ${failure.phase === "connect" ? "no connection" : "no response"} within ${failure.ms} ms`;
    case "status":
      return `provider '${failure.provider}': HTTP ${failure.status}${failure.info.message === null ? "" : `: ${failure.info.message}`}`;
    case "protocol":
      return `provider '${failure.provider}': ${failure.detail}${failure.info?.message == null ? "" : `: ${failure.info.message}`}`;
  }
}

/** Every attempt failed (or the next could not be made): one error for the client. */
export function exhaustedError(model: string, failures: readonly AttemptFailure[]): ApiError {
  const last = failures[failures.length - 1];
  if (last === undefined) return new ApiError(502, "server_error", `Upstream request for model '${model}' failed.`, { code: "upstream_error" });
  if (last.kind === "status" && last.status === 429) {
    const seconds = Math.max(1, Math.ceil((last.retryAfterMs ?? 1000) / 1000));
    const upstream = last.info.message === null ? "" : ` (${last.info.message})`;
    return new ApiError(429, "rate_limit_error", `Upstream provider '${last.provider}' is rate-limiting model '${model}'${upstream}. Retry after ${seconds} s.`, {
      code: "rate_limit_exceeded",
      headers: { "retry-after": String(seconds) },
    });
  }
  if (last.kind === "timeout") {
    const what = last.phase === "connect" ? "could not be reached" : "did not respond";
    return new ApiError(504, "server_error", `Upstream provider '${last.provider}' ${what} within ${last.ms} ms for model '${model}'.`, {
      code: "upstream_timeout",
    });
  }
  if (last.kind === "status" && (last.status === 401 || last.status === 403)) {
    return new ApiError(
      502,
      "server_error",
      `Upstream provider '${last.provider}' rejected chatport's credentials (HTTP ${last.status}); the provider's API key configuration needs fixing.`,
      { code: "upstream_error" },
    );
  }
  const seen = new Set<string>();
  for (const f of failures) seen.add(describe(f));
  const parts = [...seen].slice(-4);
  const attempts = failures.length === 1 ? "1 attempt" : `${failures.length} attempts`;
  return new ApiError(502, "server_error", `Upstream request for model '${model}' failed after ${attempts}: ${parts.join("; ")}.`, {
    code: "upstream_error",
  });
}

/** The stream broke after events reached the client: not retried. */
export function midStreamError(model: string, failure: AttemptFailure): ApiError {
  let reason: string;
  if (failure.kind === "timeout") reason = `sent nothing for ${failure.ms} ms`;
  else if (failure.kind === "status") reason = `failed (HTTP ${failure.status})`;
  else reason = failure.detail;
  const upstream = failure.kind === "protocol" || failure.kind === "status" ? (failure.info?.message ?? null) : null;
  return new ApiError(
    502,
    "server_error",
    `Upstream provider '${failure.provider}' stopped mid-response for model '${model}': ${reason}${upstream === null ? "" : ` (${upstream})`}.`,
    { code: "upstream_error" },
  );
}

/** No deployment can take a request: every breaker is open. */
export function unavailableError(model: string, retryInMs: number): ApiError {
  const seconds = Math.max(1, Math.ceil(retryInMs / 1000));
  return new ApiError(503, "server_error", `No upstream deployment of model '${model}' is available right now (circuit breakers open). Retry after ${seconds} s.`, {
    code: "upstream_unavailable",
    headers: { "retry-after": String(seconds) },
  });
}
