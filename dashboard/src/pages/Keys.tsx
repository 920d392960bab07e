/**
 * Managed API keys: list, create (the secret is shown once, here), edit
 * limits, revoke, and each key's usage.
 */
import { useState } from "preact/hooks";
import type { ApiKey, ApiKeyDetail, Budget, CreatedKey, KeyBody, UsageRow } from "../api.js";
import { Chart, palette } from "../components/Chart.js";
import { Badge, Card, Confirm, ErrorBox, Section, type Tone } from "../components/ui.js";
import { formatCompact, formatDateTime, formatInt, formatNumber, formatUsd } from "../format.js";
import { errorText, useApi, useLoad } from "../hooks.js";
import { column, DAY, fillBuckets } from "../usage.js";

const statusTone: Record<ApiKey["status"], Tone> = { active: "ok", disabled: "warn", expired: "neutral", revoked: "bad" };

type Panel = { kind: "none" } | { kind: "create" } | { kind: "edit"; key: ApiKey } | { kind: "usage"; key: ApiKey };

export function Keys() {
  const api = useApi();
  const keys = useLoad(() => api.keys(), []);
  const models = useLoad(async () => (await api.openaiModels()).map((m) => m.id), []);
  const [panel, setPanel] = useState<Panel>({ kind: "none" });
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const [revokeBusy, setRevokeBusy] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [showInactive, setShowInactive] = useState(true);

  const list = (keys.data ?? []).filter((k) => showInactive || k.status === "active");
  const sorted = [...list].sort((a, b) => b.created_at - a.created_at);

  const revoke = async (key: ApiKey): Promise<void> => {
    setRevokeBusy(true);
    try {
      const updated = await api.revokeKey(key.id);
      setMessage(`Key “${updated.name}” revoked.`);
      setError(null);
      if (panel.kind !== "none" && panel.kind !== "create" && panel.key.id === key.id) setPanel({ kind: "none" });
      keys.reload();
    } catch (err) {
      setError(`Revoke failed: ${errorText(err)}`);
    } finally {
      setRevokeBusy(false);
      setRevoking(null);
    }
  };

  return (
    <div class="stack">
      <div class="page-head">
        <h1>API keys</h1>
        <div class="row">
          <label class="check">
            <input type="checkbox" checked={showInactive} onChange={(e) => setShowInactive(e.currentTarget.checked)} /> show revoked and expired
          </label>
          <button type="button" class="button" onClick={keys.reload} data-testid="keys-refresh">
            Refresh
          </button>
          <button
            type="button"
            class="button primary"
            onClick={() => {
              setCreated(null);
              setPanel({ kind: "create" });
            }}
            data-testid="key-new"
          >
            New key
          </button>
        </div>
      </div>

      {created !== null && <SecretOnce created={created} onDone={() => setCreated(null)} />}
      {message !== null && (
        <p class="notice" data-testid="keys-message">
          {message}
        </p>
      )}
      {error !== null && <ErrorBox message={error} testid="keys-error" />}

      {panel.kind === "create" && (
        <KeyForm
          title="New key"
          models={models.data ?? []}
          onCancel={() => setPanel({ kind: "none" })}
          onSubmit={async (body) => {
            const key = await api.createKey({ ...body, name: body.name ?? "" });
            setCreated(key);
            setMessage(null);
            setPanel({ kind: "none" });
            keys.reload();
          }}
        />
      )}
      {panel.kind === "edit" && (
        <KeyForm
          key={panel.key.id}
          title={`Edit “${panel.key.name}”`}
          initial={panel.key}
          models={models.data ?? []}
          onCancel={() => setPanel({ kind: "none" })}
          onSubmit={async (body) => {
            const key = await api.updateKey(panel.key.id, body);
            setMessage(`Key “${key.name}” updated.`);
            setPanel({ kind: "none" });
            keys.reload();
          }}
        />
      )}
      {panel.kind === "usage" && <KeyUsage key={panel.key.id} apiKey={panel.key} onClose={() => setPanel({ kind: "none" })} />}

      <Section title={`${list.length} key${list.length === 1 ? "" : "s"}`} testid="keys-list">
        {keys.error !== null && <ErrorBox message={keys.error} />}
        {keys.data !== null && sorted.length === 0 && <p class="muted">No keys yet. “New key” makes one.</p>}
        {sorted.length > 0 && (
          <div class="table-wrap">
            <table class="table" data-testid="keys-table">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Key</th>
                  <th>Models</th>
                  <th class="num">RPM</th>
                  <th class="num">TPM</th>
                  <th>Budget</th>
                  <th>Status</th>
                  <th>Created</th>
                  <th>Expires</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {sorted.map((key) => (
                  <tr key={key.id} data-testid={`key-row-${key.id}`} data-key-name={key.name} data-status={key.status}>
                    <td>
                      <div class="strong">{key.name}</div>
                      {key.owner !== null && <div class="muted small">{key.owner}</div>}
                    </td>
                    <td>
                      <code>{key.prefix}…</code>
                    </td>
                    <td>{key.models === null ? <span class="muted">all</span> : key.models.join(", ")}</td>
                    <td class="num">{key.rpm === null ? "∞" : formatInt(key.rpm)}</td>
                    <td class="num">{key.tpm === null ? "∞" : formatInt(key.tpm)}</td>
                    <td>{budgetText(key.budget)}</td>
                    <td>
                      <Badge tone={statusTone[key.status]} testid="key-status">
                        {key.status}
                      </Badge>
                    </td>
                    <td class="nowrap">{formatDateTime(key.created_at)}</td>
                    <td class="nowrap">{key.revoked_at !== null ? <span class="muted">revoked {formatDateTime(key.revoked_at)}</span> : formatDateTime(key.expires_at)}</td>
                    <td class="actions">
                      <button type="button" class="button small" onClick={() => setPanel({ kind: "usage", key })} data-testid="key-usage">
                        Usage
                      </button>
                      {key.status !== "revoked" && (
                        <>
                          <button type="button" class="button small" onClick={() => setPanel({ kind: "edit", key })} data-testid="key-edit">
                            Edit
                          </button>
                          <button type="button" class="button small danger" onClick={() => setRevoking(key)} data-testid="key-revoke">
                            Revoke
                          </button>
                        </>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Section>

      {revoking !== null && (
        <Confirm
          title="Revoke this key?"
          confirmLabel="Revoke"
          danger
          busy={revokeBusy}
          onCancel={() => setRevoking(null)}
          onConfirm={() => void revoke(revoking)}
        >
          <p>
            Requests with <strong>{revoking.name}</strong> (<code>{revoking.prefix}…</code>) will be refused from now on. This cannot be undone.
          </p>
        </Confirm>
      )}
    </div>
  );
}

function budgetText(budget: Budget | null): string {
  if (budget === null) return "–";
  const amount = budget.unit === "usd" ? formatUsd(budget.amount) : `${formatCompact(budget.amount)} tokens`;
  return `${amount} ${budget.period === "total" ? "total" : `/ ${budget.period === "daily" ? "day" : "month"}`}`;
}

/** The new key's secret, which no later response will contain. */
function SecretOnce(props: { created: CreatedKey; onDone: () => void }) {
  const [copied, setCopied] = useState<"no" | "yes" | "failed">("no");
  const copy = async (): Promise<void> => {
    try {
      await navigator.clipboard.writeText(props.created.secret);
      setCopied("yes");
    } catch {
      // No clipboard (insecure context, permissions): select the text for a manual copy.
      const el = document.querySelector<HTMLElement>("[data-testid=key-secret-value]");
      if (el !== null) {
        const range = document.createRange();
        range.selectNodeContents(el);
        const selection = window.getSelection();
        selection?.removeAllRanges();
        selection?.addRange(range);
      }
      setCopied("failed");
    }
  };
  return (
    <section class="card secret" data-testid="key-secret" role="status">
      <h2>Key “{props.created.name}” created</h2>
      <p>Copy the secret now: it is shown only this once and cannot be retrieved later.</p>
      <div class="secret-row">
        <code class="secret-value" data-testid="key-secret-value">
          {props.created.secret}
        </code>
        <button type="button" class="button primary" onClick={() => void copy()} data-testid="key-secret-copy">
          {copied === "yes" ? "Copied" : "Copy"}
        </button>
      </div>
      {copied === "failed" && <p class="muted small">The clipboard is not available here; the secret is selected, press Ctrl+C.</p>}
      <div class="row end">
        <button type="button" class="button" onClick={props.onDone} data-testid="key-secret-dismiss">
          I have saved it
        </button>
      </div>
    </section>
  );
}

interface FormState {
  name: string;
  owner: string;
  models: string[];
  rpm: string;
  tpm: string;
  budgetUnit: "" | Budget["unit"];
  budgetAmount: string;
  budgetPeriod: Budget["period"];
  expires: string;
  enabled: boolean;
}

function toLocalInput(seconds: number | null): string {
  if (seconds === null) return "";
  const d = new Date(seconds * 1000);
  const pad = (n: number): string => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function initialState(key: ApiKey | undefined): FormState {
  return {
    name: key?.name ?? "",
    owner: key?.owner ?? "",
    models: key?.models ?? [],
    rpm: key?.rpm === null || key?.rpm === undefined ? "" : String(key.rpm),
    tpm: key?.tpm === null || key?.tpm === undefined ? "" : String(key.tpm),
    budgetUnit: key?.budget?.unit ?? "",
    budgetAmount: key?.budget === null || key?.budget === undefined ? "" : String(key.budget.amount),
    budgetPeriod: key?.budget?.period ?? "monthly",
    expires: toLocalInput(key?.expires_at ?? null),
    enabled: key?.enabled ?? true,
  };
}

function positiveInt(text: string, name: string): number | null {
  if (text.trim() === "") return null;
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a whole number above 0, or empty for no limit.`);
  return n;
}

/** The form as a request body; every field is sent, so clearing one clears it on the server. */
export function formToBody(state: FormState, initial?: ApiKey, now = Date.now()): KeyBody {
  const name = state.name.trim();
  if (name === "") throw new Error("The key needs a name.");
  let budget: Budget | null = null;
  if (state.budgetUnit !== "") {
    const amount = Number(state.budgetAmount);
    if (!Number.isFinite(amount) || amount <= 0) throw new Error("The budget amount must be a number above 0.");
    budget = { unit: state.budgetUnit, amount, period: state.budgetPeriod };
  }
  let expires: number | null = null;
  if (initial !== undefined && state.expires !== "" && state.expires === toLocalInput(initial.expires_at)) {
    expires = initial.expires_at; // unchanged (it may already lie in the past)
  } else if (state.expires !== "") {
    const ms = new Date(state.expires).getTime();
    if (Number.isNaN(ms)) throw new Error("The expiry is not a valid date.");
    if (ms <= now) throw new Error("The expiry must be in the future.");
    expires = Math.floor(ms / 1000);
  }
  return {
    name,
    owner: state.owner.trim() === "" ? null : state.owner.trim(),
    models: state.models.length === 0 ? null : state.models,
    rpm: positiveInt(state.rpm, "RPM"),
    tpm: positiveInt(state.tpm, "TPM"),
    budget,
    expires_at: expires,
    enabled: state.enabled,
  };
}

function KeyForm(props: { title: string; initial?: ApiKey; models: string[]; onSubmit: (body: KeyBody) => Promise<void>; onCancel: () => void }) {
  const [state, setState] = useState<FormState>(() => initialState(props.initial));
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [extraModel, setExtraModel] = useState("");
  const set = <K extends keyof FormState>(field: K, value: FormState[K]): void => setState((s) => ({ ...s, [field]: value }));
  const choices = [...new Set([...props.models, ...state.models])];

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    let body: KeyBody;
    try {
      body = formToBody(state, props.initial);
    } catch (err) {
      setError(errorText(err));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await props.onSubmit(body);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const toggleModel = (id: string): void =>
    set("models", state.models.includes(id) ? state.models.filter((m) => m !== id) : [...state.models, id]);

  return (
    <form class="card section key-form" onSubmit={(e) => void submit(e)} data-testid="key-form">
      <div class="section-head">
        <h2>{props.title}</h2>
      </div>
      <div class="form-grid">
        <label class="field">
          <span>Name</span>
          <input value={state.name} onInput={(e) => set("name", e.currentTarget.value)} data-testid="key-form-name" required maxLength={200} />
        </label>
        <label class="field">
          <span>Owner</span>
          <input value={state.owner} onInput={(e) => set("owner", e.currentTarget.value)} data-testid="key-form-owner" placeholder="team or person" maxLength={200} />
        </label>
        <label class="field">
          <span>Requests per minute</span>
          <input inputMode="numeric" value={state.rpm} onInput={(e) => set("rpm", e.currentTarget.value)} data-testid="key-form-rpm" placeholder="no limit" />
        </label>
        <label class="field">
          <span>Tokens per minute</span>
          <input inputMode="numeric" value={state.tpm} onInput={(e) => set("tpm", e.currentTarget.value)} data-testid="key-form-tpm" placeholder="no limit" />
        </label>
        <div class="field">
          <span>Budget</span>
          <div class="row tight">
            <select value={state.budgetUnit} onChange={(e) => set("budgetUnit", e.currentTarget.value as FormState["budgetUnit"])} data-testid="key-form-budget-unit">
              <option value="">none</option>
              <option value="tokens">tokens</option>
              <option value="usd">USD</option>
            </select>
            <input
              inputMode="decimal"
              value={state.budgetAmount}
              disabled={state.budgetUnit === ""}
              onInput={(e) => set("budgetAmount", e.currentTarget.value)}
              data-testid="key-form-budget-amount"
              placeholder="amount"
            />
            <select
              value={state.budgetPeriod}
              disabled={state.budgetUnit === ""}
              onChange={(e) => set("budgetPeriod", e.currentTarget.value as Budget["period"])}
              data-testid="key-form-budget-period"
            >
              <option value="daily">per day</option>
              <option value="monthly">per month</option>
              <option value="total">in total</option>
            </select>
          </div>
        </div>
        <label class="field">
          <span>Expires</span>
          <input type="datetime-local" value={state.expires} onInput={(e) => set("expires", e.currentTarget.value)} data-testid="key-form-expires" />
        </label>
        <div class="field wide">
          <span>Models {state.models.length === 0 && <span class="muted">(none chosen: all models)</span>}</span>
          <div class="chips" data-testid="key-form-models">
            {choices.map((id) => (
              <button type="button" key={id} class={`chip ${state.models.includes(id) ? "on" : ""}`} aria-pressed={state.models.includes(id)} onClick={() => toggleModel(id)}>
                {id}
              </button>
            ))}
            <input
              class="chip-input"
              value={extraModel}
              placeholder="other model id ↵"
              onInput={(e) => setExtraModel(e.currentTarget.value)}
              onKeyDown={(e) => {
                if (e.key !== "Enter") return;
                e.preventDefault();
                const id = extraModel.trim();
                if (id !== "" && !state.models.includes(id)) set("models", [...state.models, id]);
                setExtraModel("");
              }}
            />
          </div>
        </div>
        <label class="check wide">
          <input type="checkbox" checked={state.enabled} onChange={(e) => set("enabled", e.currentTarget.checked)} data-testid="key-form-enabled" /> enabled
        </label>
      </div>
      {error !== null && <ErrorBox message={error} testid="key-form-error" />}
      <div class="row end">
        <button type="button" class="button" onClick={props.onCancel}>
          Cancel
        </button>
        <button type="submit" class="button primary" disabled={busy} data-testid="key-form-submit">
          {busy ? "Saving…" : props.initial === undefined ? "Create key" : "Save"}
        </button>
      </div>
    </form>
  );
}

function KeyUsage(props: { apiKey: ApiKey; onClose: () => void }) {
  const api = useApi();
  const id = props.apiKey.id;
  const detail = useLoad(async (): Promise<{ detail: ApiKeyDetail; daily: UsageRow[]; byModel: UsageRow[]; now: number }> => {
    const now = Math.floor(Date.now() / 1000);
    const from = Math.floor(now / DAY) * DAY - 29 * DAY;
    const [one, daily, byModel] = await Promise.all([
      api.keyDetail(id),
      api.usage({ key: id, group_by: "day", from }),
      api.usage({ key: id, group_by: "model" }),
    ]);
    return { detail: one, daily, byModel, now };
  }, [id]);
  const usage = detail.data?.detail.usage ?? null;
  const days = detail.data === null ? null : fillBuckets(detail.data.daily, DAY, 30, detail.data.now);
  return (
    <Section
      title={`Usage of “${props.apiKey.name}”`}
      testid="key-usage-panel"
      aside={
        <button type="button" class="button small" onClick={props.onClose}>
          Close
        </button>
      }
    >
      {detail.error !== null && <ErrorBox message={detail.error} />}
      {detail.data !== null && (
        <>
          <div class="cards">
            <Card label="Requests" value={formatInt(usage?.requests ?? 0)} raw={usage?.requests ?? 0} testid="key-usage-requests" />
            <Card label="Prompt tokens" value={formatCompact(usage?.prompt_tokens ?? 0)} raw={usage?.prompt_tokens ?? 0} />
            <Card label="Completion tokens" value={formatCompact(usage?.completion_tokens ?? 0)} raw={usage?.completion_tokens ?? 0} />
            <Card label="Cost" value={formatUsd(usage?.cost_usd ?? 0)} raw={usage?.cost_usd ?? 0} />
          </div>
          <div class="grid two">
            {days !== null && (
              <Chart
                testid="key-usage-chart"
                title="Requests per day"
                subtitle="last 30 days"
                x={days.x}
                height={180}
                series={[
                  { label: "requests", values: column(days.rows, "requests"), color: palette[0], kind: "bars" },
                  { label: "tokens", values: column(days.rows, "total_tokens"), color: palette[1], axis: "right" },
                ]}
              />
            )}
            <table class="table compact">
              <thead>
                <tr>
                  <th>Model</th>
                  <th class="num">Requests</th>
                  <th class="num">Tokens</th>
                  <th class="num">Cost</th>
                </tr>
              </thead>
              <tbody>
                {detail.data.byModel.length === 0 && (
                  <tr>
                    <td colSpan={4} class="muted">
                      No requests yet.
                    </td>
                  </tr>
                )}
                {detail.data.byModel.map((row) => (
                  <tr key={row.group ?? "null"}>
                    <td>{row.group ?? "–"}</td>
                    <td class="num">{formatInt(row.requests)}</td>
                    <td class="num">{formatNumber(row.total_tokens)}</td>
                    <td class="num">{formatUsd(row.cost_usd)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </Section>
  );
}
