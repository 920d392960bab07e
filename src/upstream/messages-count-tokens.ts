/**
 * `POST /v1/messages/count_tokens` for an upstream model: a provider that
 * serves the Anthropic Messages API itself (`apis: ["messages"]`) counts
 * the prompt with the model's own tokenizer, so the client's body goes to
 * its `/v1/messages/count_tokens` (the upstream's model name in it) and its
 * `input_tokens` is the answer. Each such deployment is asked once, healthy
 * ones first, within the provider's first-byte timeout; when none answers,
 * the result is null and the gateway answers its own estimate (as for a
 * provider that speaks only chat completions). An upstream's error body is
 * never read into the answer, so nothing of the provider reaches the client.
 */
import type { DeploymentState } from "./provider-pool.js";
import { isRecord, type JsonRecord } from "./upstream-wire.js";

/** The count from the first Messages-speaking deployment that gives one; null when none does. */
export async function countTokensUpstream(deployments: readonly DeploymentState[], body: Readonly<JsonRecord>, signal: AbortSignal): Promise<number | null> {
  const speaking = deployments.filter((d) => d.provider.config.apis?.includes("messages") === true);
  const ordered = [...speaking.filter((d) => d.provider.healthy), ...speaking.filter((d) => !d.provider.healthy)];
  for (const deployment of ordered) {
    if (signal.aborted) return null;
    const count = await askOne(deployment, body, signal);
    if (count !== null) return count;
  }
  return null;
}

async function askOne(deployment: DeploymentState, body: Readonly<JsonRecord>, signal: AbortSignal): Promise<number | null> {
  const provider = deployment.provider;
  try {
    const res = await provider.pool.request({
      method: "POST",
      path: provider.pathFor("messages/count_tokens"),
      headers: provider.headersFor("messages", false),
      body: JSON.stringify({ ...body, model: deployment.model }),
      signal: AbortSignal.any([signal, AbortSignal.timeout(provider.config.timeouts.firstByteMs)]),
    });
    if (res.statusCode !== 200) {
      await res.body.dump();
      return null;
    }
    const json: unknown = await res.body.json();
    const tokens = isRecord(json) ? json.input_tokens : undefined;
    return typeof tokens === "number" && Number.isSafeInteger(tokens) && tokens >= 0 ? tokens : null;
  } catch {
    // Unreachable, timed out, not JSON: the estimate answers instead.
    return null;
  }
}
