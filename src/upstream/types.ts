/**
 * Upstream providers and the deployments a public model id maps to, as the
 * rest of chatport sees them after the config is validated (src/config.ts).
 * A provider is one OpenAI-compatible server (vLLM, SGLang, llama-server,
 * Ollama, another chatport, a hosted API); a deployment is one model on one
 * provider.
 */
import type { ModelPrices } from "../config.js";
import type { UpstreamEndpoint } from "../protocol/chat-request.js";

export interface ProviderTimeouts {
  /** TCP/TLS connect. */
  connectMs: number;
  /** From sending the request to the response headers (non-streaming: to the whole body). */
  firstByteMs: number;
  /** Longest silence between two stream chunks. */
  idleMs: number;
}

export interface ProviderConfig {
  id: string;
  /** Base URL including the API prefix, e.g. `http://10.0.0.5:8000/v1`; `/chat/completions` is appended. */
  baseUrl: string;
  /** Resolved from the environment variable the config names; never logged or echoed. */
  apiKey: string | null;
  timeouts: ProviderTimeouts;
  /** Requests in flight to this provider at most (also the connection pool size). */
  maxConcurrent: number;
  /** Extra headers sent upstream (e.g. an organisation id). */
  headers: Record<string, string>;
  /** Active health check: GET {baseUrl}/models every this many ms; 0 disables. */
  healthCheckMs: number;
  /** APIs besides chat completions it serves: a request of such an API is forwarded to its own endpoint, not translated. Absent: none. */
  apis?: readonly UpstreamEndpoint[];
}

export interface DeploymentConfig {
  provider: string;
  /** The model name the upstream knows. */
  model: string;
  /** Share of traffic within its priority tier (weighted strategy). */
  weight: number;
  /** Lower tiers are tried first; a higher tier only when every deployment of the lower one is unavailable. */
  priority: number;
}

export type BalanceStrategy = "weighted" | "least-outstanding";

export interface UpstreamModelConfig {
  /** The public model id clients send. */
  id: string;
  deployments: DeploymentConfig[];
  strategy: BalanceStrategy;
  /** Attempts after the first, across deployments, before the first byte reached the client. */
  retries: number;
  /** Context window of the model (for budgets and /v1/models); the upstream enforces the real limit. */
  contextLength: number;
  /** The deployments accept image/audio content parts. */
  acceptsMedia: boolean;
  prices?: ModelPrices;
}

export interface BreakerConfig {
  /** Consecutive failures that open a deployment's breaker. */
  failureThreshold: number;
  /** How long an open breaker refuses before letting one probe through (half-open). */
  cooldownMs: number;
}
