/**
 * Local and upstream models: context size, load (busy / waiting / parallel
 * sequences) and, for upstream models, each deployment's breaker and health.
 * Refreshed every few seconds.
 */
import { useState } from "preact/hooks";
import { ApiError, type AdminModel, type Deployment } from "../api.js";
import { Badge, ErrorBox, LoadBar, Section, type Tone } from "../components/ui.js";
import { formatInt, formatMiB } from "../format.js";
import { errorText, useApi, useInterval } from "../hooks.js";

const REFRESH_MS = 3000;

const breakerTone: Record<Deployment["breaker"], Tone> = { closed: "ok", "half-open": "warn", open: "bad" };
const kindTone: Record<AdminModel["kind"], Tone> = { local: "ok", upstream: "neutral", alias: "neutral" };

export function Models() {
  const api = useApi();
  const [models, setModels] = useState<AdminModel[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [fallback, setFallback] = useState(false);
  const [updated, setUpdated] = useState<Date | null>(null);

  useInterval(async () => {
    try {
      setModels(await api.models());
      setFallback(false);
      setError(null);
      setUpdated(new Date());
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        // A server without /admin/models: the plain list is better than nothing.
        try {
          const plain = await api.openaiModels();
          setModels(plain.map((m) => ({ id: m.id, kind: "local", alias_of: null, context_length: null, owned_by: m.owned_by, load: null, deployments: [] })));
          setFallback(true);
          setError(null);
          setUpdated(new Date());
          return;
        } catch (inner) {
          setError(errorText(inner));
          return;
        }
      }
      setError(errorText(err));
    }
  }, REFRESH_MS);

  const sorted = [...(models ?? [])].sort((a, b) => a.kind.localeCompare(b.kind) || a.id.localeCompare(b.id));

  return (
    <div class="stack">
      <div class="page-head">
        <h1>Models</h1>
        <span class="muted small">{updated === null ? "loading…" : `updated ${updated.toLocaleTimeString()} · every ${REFRESH_MS / 1000} s`}</span>
      </div>
      {error !== null && <ErrorBox message={error} />}
      {fallback && <p class="notice">This server has no /admin/models; showing /v1/models without load or health.</p>}
      {models !== null && models.length === 0 && <p class="muted">No models are configured.</p>}
      <div class="stack" data-testid="models-list">
        {sorted.map((model) => (
          <ModelCard key={model.id} model={model} />
        ))}
      </div>
    </div>
  );
}

function ModelCard({ model }: { model: AdminModel }) {
  const healthy = model.deployments.filter((d) => d.healthy).length;
  return (
    <Section
      title={model.id}
      testid={`model-${model.id}`}
      aside={
        <div class="row tight">
          <Badge tone={kindTone[model.kind]} testid="model-kind">
            {model.kind}
          </Badge>
          {model.deployments.length > 0 && (
            <Badge tone={healthy === model.deployments.length ? "ok" : healthy === 0 ? "bad" : "warn"}>
              {healthy}/{model.deployments.length} healthy
            </Badge>
          )}
        </div>
      }
    >
      <dl class="facts">
        {model.alias_of !== null && (
          <div>
            <dt>Alias of</dt>
            <dd>{model.alias_of}</dd>
          </div>
        )}
        <div>
          <dt>Context</dt>
          <dd data-testid="model-context">{model.context_length === null ? "–" : `${formatInt(model.context_length)} tokens`}</dd>
        </div>
        <div>
          <dt>Owned by</dt>
          <dd>{model.owned_by}</dd>
        </div>
        {model.kv_cache !== undefined && model.kv_cache !== null && model.kv_cache.size > 0 && (
          <div>
            <dt>KV cache</dt>
            <dd data-testid="model-kv">
              {formatInt(model.kv_cache.used)} / {formatInt(model.kv_cache.size)} cells ({Math.round((model.kv_cache.used / model.kv_cache.size) * 100)}%)
            </dd>
          </div>
        )}
        {model.kv_cache?.context_per_sequence !== undefined && (
          <div>
            <dt>KV memory</dt>
            <dd data-testid="model-kv-memory">
              {formatInt(model.kv_cache.context_per_sequence)} × {formatInt(model.kv_cache.sequences)} sequences, {model.kv_cache.type}
              {model.kv_cache.bytes !== null && model.kv_cache.bytes_per_sequence !== null && (
                <> · {formatMiB(model.kv_cache.bytes)} ({formatMiB(model.kv_cache.bytes_per_sequence)} per sequence)</>
              )}
            </dd>
          </div>
        )}
        {model.load !== null && (
          <div class="grow">
            <dt>Load (parallel sequences)</dt>
            <dd>
              <LoadBar active={model.load.active} waiting={model.load.waiting} capacity={model.load.capacity} />
            </dd>
          </div>
        )}
      </dl>
      {model.deployments.length > 0 && (
        <div class="table-wrap">
          <table class="table compact" data-testid="model-deployments">
            <thead>
              <tr>
                <th>Provider</th>
                <th>Upstream model</th>
                <th>Breaker</th>
                <th>Health</th>
                <th class="num">Outstanding</th>
                <th class="num">Requests</th>
                <th class="num">Failures</th>
              </tr>
            </thead>
            <tbody>
              {model.deployments.map((d, i) => (
                <tr key={`${d.provider}/${d.model}/${i}`}>
                  <td>{d.provider}</td>
                  <td>
                    <code>{d.model}</code>
                  </td>
                  <td>
                    <Badge tone={breakerTone[d.breaker]}>{d.breaker}</Badge>
                  </td>
                  <td>
                    <Badge tone={d.healthy ? "ok" : "bad"}>{d.healthy ? "healthy" : "unhealthy"}</Badge>
                  </td>
                  <td class="num">{formatInt(d.outstanding)}</td>
                  <td class="num">{formatInt(d.requests)}</td>
                  <td class="num">{formatInt(d.failures)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}
