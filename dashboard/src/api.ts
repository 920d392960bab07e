/**
 * The admin API and the OpenAI routes as the dashboard sees them: typed
 * shapes (snake_case, Unix seconds, as the server sends them) and one fetch
 * wrapper that adds the admin key as a Bearer token.
 */

export type Budget = { unit: "tokens" | "usd"; amount: number; period: "daily" | "monthly" | "total" };

export type KeyStatus = "active" | "revoked" | "expired" | "disabled";

export interface ApiKey {
  id: string;
  object: "api_key";
  name: string;
  owner: string | null;
  prefix: string;
  models: string[] | null;
  rpm: number | null;
  tpm: number | null;
  budget: Budget | null;
  enabled: boolean;
  status: KeyStatus;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
}

export interface UsageRow {
  group: string | null;
  requests: number;
  prompt_tokens: number;
  cached_tokens: number;
  completion_tokens: number;
  reasoning_tokens: number;
  total_tokens: number;
  cost_usd: number;
}

export interface ApiKeyDetail extends ApiKey {
  usage: UsageRow | null;
}

export interface CreatedKey extends ApiKey {
  secret: string;
}

/** What an admin may send when creating or editing a key; null clears a field. */
export interface KeyBody {
  name?: string;
  owner?: string | null;
  models?: string[] | null;
  expires_at?: number | null;
  rpm?: number | null;
  tpm?: number | null;
  budget?: Budget | null;
  enabled?: boolean;
}

export type GroupBy = "hour" | "day" | "model" | "key";

export interface UsageQuery {
  key?: string;
  model?: string;
  from?: number;
  to?: number;
  group_by?: GroupBy;
}

export interface Load {
  active: number;
  waiting: number;
  capacity: number;
}

export interface Deployment {
  provider: string;
  model: string;
  outstanding: number;
  breaker: "closed" | "open" | "half-open";
  healthy: boolean;
  requests: number;
  failures: number;
}

export interface KvCache {
  used: number;
  size: number;
  sequences: number;
  context_per_sequence: number;
  type: string;
  bytes: number | null;
  bytes_per_sequence: number | null;
}

export interface AdminModel {
  id: string;
  kind: "local" | "upstream" | "alias";
  alias_of: string | null;
  context_length: number | null;
  owned_by: string;
  load: Load | null;
  /** KV cache cells in use and in all, `--ctx × --parallel`, type and memory; local models only. */
  kv_cache?: KvCache | null;
  deployments: Deployment[];
}

export interface Stats {
  uptime_s: number;
  inflight: number;
  requests_total: number;
  requests_per_second: number;
  output_tokens_per_second: number;
  queue_depth: number;
  models: Array<{ id: string } & Load>;
}

export interface OpenAIModel {
  id: string;
  object: "model";
  created: number;
  owned_by: string;
}

interface List<T> {
  object: "list";
  data: T[];
}

/** An error the server answered with (OpenAI envelope), or a network failure (status 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string | null;

  constructor(status: number, message: string, code: string | null = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The message and code of an OpenAI-style `{error: {...}}` body, if that is what it is. */
export function errorFromBody(status: number, body: unknown, fallback: string): ApiError {
  if (isRecord(body) && isRecord(body.error)) {
    const message = typeof body.error.message === "string" ? body.error.message : fallback;
    const code = typeof body.error.code === "string" ? body.error.code : null;
    return new ApiError(status, message, code);
  }
  return new ApiError(status, fallback);
}

export class Api {
  readonly key: string;
  /** Called when the admin routes refuse the key (401/403), so the app can log out. */
  private readonly onUnauthorized: (() => void) | null;

  constructor(key: string, onUnauthorized: (() => void) | null = null) {
    this.key = key;
    this.onUnauthorized = onUnauthorized;
  }

  headers(json: boolean): Record<string, string> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.key}`, accept: "application/json" };
    if (json) headers["content-type"] = "application/json";
    return headers;
  }

  async request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    let res: Response;
    try {
      res = await fetch(path, {
        method,
        headers: this.headers(body !== undefined),
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (err) {
      if (err instanceof DOMException && err.name === "AbortError") throw err;
      throw new ApiError(0, `Cannot reach the server (${err instanceof Error ? err.message : String(err)}).`);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === "" ? null : JSON.parse(text);
    } catch {
      parsed = null;
    }
    if (!res.ok) {
      const error = errorFromBody(res.status, parsed, `${method} ${path}: HTTP ${res.status}`);
      if ((res.status === 401 || res.status === 403) && path.startsWith("/admin/")) this.onUnauthorized?.();
      throw error;
    }
    return parsed as T;
  }

  /** Checks the key without side effects: the admin routes answer 401/403 to anything else. */
  async verify(): Promise<void> {
    await this.request<List<ApiKey>>("GET", "/admin/keys");
  }

  async keys(): Promise<ApiKey[]> {
    return (await this.request<List<ApiKey>>("GET", "/admin/keys")).data;
  }

  keyDetail(id: string): Promise<ApiKeyDetail> {
    return this.request<ApiKeyDetail>("GET", `/admin/keys/${encodeURIComponent(id)}`);
  }

  createKey(body: KeyBody & { name: string }): Promise<CreatedKey> {
    return this.request<CreatedKey>("POST", "/admin/keys", body);
  }

  updateKey(id: string, body: KeyBody): Promise<ApiKey> {
    return this.request<ApiKey>("PATCH", `/admin/keys/${encodeURIComponent(id)}`, body);
  }

  revokeKey(id: string): Promise<ApiKey> {
    return this.request<ApiKey>("POST", `/admin/keys/${encodeURIComponent(id)}/revoke`, {});
  }

  async usage(query: UsageQuery): Promise<UsageRow[]> {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined) params.set(name, String(value));
    }
    const qs = params.toString();
    return (await this.request<List<UsageRow>>("GET", `/admin/usage${qs === "" ? "" : `?${qs}`}`)).data;
  }

  async models(): Promise<AdminModel[]> {
    return (await this.request<List<AdminModel>>("GET", "/admin/models")).data;
  }

  stats(signal?: AbortSignal): Promise<Stats> {
    return this.request<Stats>("GET", "/admin/stats", undefined, signal);
  }

  async openaiModels(): Promise<OpenAIModel[]> {
    return (await this.request<List<OpenAIModel>>("GET", "/v1/models")).data;
  }
}
