/**
 * Usage over time (hourly for 24 h, daily for 30 days), by model and by key,
 * and a live view of throughput and queues polled from /admin/stats.
 */
import { useEffect, useState } from "preact/hooks";
import type { ApiKey, Stats, UsageRow } from "../api.js";
import { Chart, palette } from "../components/Chart.js";
import { Card, ErrorBox, LoadBar, Section } from "../components/ui.js";
import { formatCompact, formatDuration, formatInt, formatRate, formatUsd } from "../format.js";
import { errorText, useApi, useInterval, useLoad } from "../hooks.js";
import { column, DAY, fillBuckets, HOUR, totals } from "../usage.js";

interface OverviewData {
  now: number;
  hourly: UsageRow[];
  daily: UsageRow[];
  byModel: UsageRow[];
  byKey: UsageRow[];
  keys: ApiKey[];
}

const USAGE_REFRESH_MS = 30_000;
const LIVE_POINTS = 80;
const LIVE_MS = 1500;

interface LiveSample {
  t: number;
  rps: number;
  tps: number;
  queue: number;
  inflight: number;
}

function keyLabel(group: string | null, keys: readonly ApiKey[]): string {
  if (group === null) return "admin / static key";
  const key = keys.find((k) => k.id === group);
  return key === undefined ? group : key.name;
}

function byDescending(metric: keyof Pick<UsageRow, "requests" | "total_tokens">) {
  return (a: UsageRow, b: UsageRow): number => b[metric] - a[metric];
}

export function Overview() {
  const api = useApi();
  const usage = useLoad<OverviewData>(async () => {
    const now = Math.floor(Date.now() / 1000);
    // From the start of the first bucket shown: 24 UTC hours and 30 UTC days, the current ones included.
    const dayStart = Math.floor(now / HOUR) * HOUR - 23 * HOUR;
    const monthStart = Math.floor(now / DAY) * DAY - 29 * DAY;
    const [hourly, daily, byModel, byKey, keys] = await Promise.all([
      api.usage({ group_by: "hour", from: dayStart }),
      api.usage({ group_by: "day", from: monthStart }),
      api.usage({ group_by: "model", from: monthStart }),
      api.usage({ group_by: "key", from: monthStart }),
      api.keys(),
    ]);
    return { now, hourly, daily, byModel, byKey, keys };
  }, []);

  // Usage is cheap to ask for; keep the charts current while the page is open.
  useEffect(() => {
    const timer = window.setInterval(() => {
      if (!document.hidden) usage.reload();
    }, USAGE_REFRESH_MS);
    return () => window.clearInterval(timer);
  }, [usage.reload]);

  return (
    <div class="stack">
      <div class="page-head">
        <h1>Overview</h1>
        <button type="button" class="button" onClick={usage.reload} disabled={usage.loading} data-testid="overview-refresh">
          {usage.loading ? "Loading…" : "Refresh"}
        </button>
      </div>
      <Live />
      {usage.error !== null && <ErrorBox message={`Usage: ${usage.error}`} />}
      {usage.data !== null && <UsageCharts data={usage.data} />}
      {usage.data === null && usage.error === null && <p class="muted">Loading usage…</p>}
    </div>
  );
}

function UsageCharts({ data }: { data: OverviewData }) {
  const hours = fillBuckets(data.hourly, HOUR, 24, data.now);
  const days = fillBuckets(data.daily, DAY, 30, data.now);
  const day = totals(data.hourly);
  const month = totals(data.daily);
  const models = [...data.byModel].sort(byDescending("total_tokens")).slice(0, 12);
  const keys = [...data.byKey].sort(byDescending("requests")).slice(0, 12);

  return (
    <>
      <Section title="Last 24 hours" testid="totals">
        <div class="cards">
          <Card label="Requests" value={formatInt(day.requests)} raw={day.requests} testid="total-requests" hint={`${formatInt(month.requests)} in 30 days`} />
          <Card
            label="Tokens"
            value={formatCompact(day.total_tokens)}
            raw={day.total_tokens}
            testid="total-tokens"
            hint={`${formatCompact(day.prompt_tokens)} prompt · ${formatCompact(day.completion_tokens)} completion`}
          />
          <Card label="Cached prompt tokens" value={formatCompact(day.cached_tokens)} raw={day.cached_tokens} testid="total-cached" />
          <Card label="Cost" value={formatUsd(day.cost_usd)} raw={day.cost_usd} testid="total-cost" hint={`${formatUsd(month.cost_usd)} in 30 days`} />
        </div>
      </Section>
      <div class="grid two">
        <Chart
          testid="chart-requests-hourly"
          title="Requests per hour"
          subtitle="last 24 h, UTC hours"
          x={hours.x}
          series={[{ label: "requests", values: column(hours.rows, "requests"), color: palette[0], kind: "bars" }]}
        />
        <Chart
          testid="chart-tokens-hourly"
          title="Tokens per hour"
          subtitle="last 24 h"
          x={hours.x}
          series={[
            { label: "prompt", values: column(hours.rows, "prompt_tokens"), color: palette[0] },
            { label: "completion", values: column(hours.rows, "completion_tokens"), color: palette[1] },
          ]}
        />
        <Chart
          testid="chart-daily"
          title="Requests and cost per day"
          subtitle="last 30 days"
          x={days.x}
          series={[
            { label: "requests", values: column(days.rows, "requests"), color: palette[2], kind: "bars" },
            { label: "cost", values: column(days.rows, "cost_usd"), color: palette[3], axis: "right" },
          ]}
          rightFormat={formatUsd}
        />
        <Chart
          testid="chart-tokens-daily"
          title="Tokens per day"
          subtitle="last 30 days"
          x={days.x}
          series={[
            { label: "prompt", values: column(days.rows, "prompt_tokens"), color: palette[0] },
            { label: "completion", values: column(days.rows, "completion_tokens"), color: palette[1] },
          ]}
        />
        <Chart
          testid="chart-by-model"
          title="By model"
          subtitle="tokens, last 30 days"
          categories={models.map((row) => row.group ?? "(none)")}
          categoryLabel="model"
          series={[
            { label: "prompt", values: column(models, "prompt_tokens"), color: palette[0] },
            { label: "completion", values: column(models, "completion_tokens"), color: palette[1] },
          ]}
        />
        <Chart
          testid="chart-by-key"
          title="By key"
          subtitle="requests, last 30 days"
          categories={keys.map((row) => keyLabel(row.group, data.keys))}
          categoryLabel="key"
          series={[{ label: "requests", values: column(keys, "requests"), color: palette[2] }]}
        />
      </div>
      <div class="grid two">
        <UsageTable title="Models" testid="table-by-model" rows={models} label={(row) => row.group ?? "(none)"} />
        <UsageTable title="Keys" testid="table-by-key" rows={keys} label={(row) => keyLabel(row.group, data.keys)} />
      </div>
    </>
  );
}

function UsageTable(props: { title: string; testid: string; rows: UsageRow[]; label: (row: UsageRow) => string }) {
  return (
    <Section title={props.title} testid={props.testid}>
      {props.rows.length === 0 ? (
        <p class="muted">No requests in the last 30 days.</p>
      ) : (
        <table class="table compact">
          <thead>
            <tr>
              <th>{props.title === "Models" ? "Model" : "Key"}</th>
              <th class="num">Requests</th>
              <th class="num">Prompt</th>
              <th class="num">Completion</th>
              <th class="num">Cost</th>
            </tr>
          </thead>
          <tbody>
            {props.rows.map((row) => (
              <tr key={row.group ?? "null"}>
                <td>{props.label(row)}</td>
                <td class="num">{formatInt(row.requests)}</td>
                <td class="num">{formatInt(row.prompt_tokens)}</td>
                <td class="num">{formatInt(row.completion_tokens)}</td>
                <td class="num">{formatUsd(row.cost_usd)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

function Live() {
  const api = useApi();
  const [samples, setSamples] = useState<LiveSample[]>([]);
  const [latest, setLatest] = useState<Stats | null>(null);
  const [error, setError] = useState<string | null>(null);

  useInterval(async (signal) => {
    try {
      const stats = await api.stats(signal);
      setLatest(stats);
      setError(null);
      const sample: LiveSample = {
        t: Date.now() / 1000,
        rps: stats.requests_per_second,
        tps: stats.output_tokens_per_second,
        queue: stats.queue_depth,
        inflight: stats.inflight,
      };
      setSamples((old) => [...old, sample].slice(-LIVE_POINTS));
    } catch (err) {
      if (signal.aborted) return;
      setError(errorText(err));
    }
  }, LIVE_MS);

  return (
    <Section title="Live" testid="live" aside={<span class={`pulse ${error === null ? "" : "off"}`} title="polling /admin/stats" />}>
      {error !== null && <ErrorBox message={`Live stats: ${error}`} />}
      <div class="live">
        <div class="cards live-cards">
          <Card label="Output tokens/s" value={formatRate(latest?.output_tokens_per_second, "")} testid="live-tps" raw={latest?.output_tokens_per_second ?? 0} />
          <Card label="Requests/s" value={formatRate(latest?.requests_per_second, "")} testid="live-rps" raw={latest?.requests_per_second ?? 0} />
          <Card label="In flight" value={latest === null ? "–" : formatInt(latest.inflight)} testid="live-inflight" raw={latest?.inflight ?? 0} />
          <Card label="Queue depth" value={latest === null ? "–" : formatInt(latest.queue_depth)} testid="live-queue" raw={latest?.queue_depth ?? 0} />
          <Card
            label="Requests served"
            value={latest === null ? "–" : formatInt(latest.requests_total)}
            testid="live-total"
            raw={latest?.requests_total ?? 0}
            hint={latest === null ? undefined : `up ${formatDuration(latest.uptime_s)}`}
          />
        </div>
        <Chart
          testid="live-chart"
          title="Throughput and queue"
          subtitle={`every ${LIVE_MS / 1000} s, 10 s rates`}
          height={180}
          window={(LIVE_POINTS * LIVE_MS) / 1000}
          x={samples.map((s) => s.t)}
          series={[
            { label: "output tok/s", values: samples.map((s) => s.tps), color: palette[1] },
            { label: "req/s", values: samples.map((s) => s.rps), color: palette[0] },
            { label: "queue", values: samples.map((s) => s.queue), color: palette[4], axis: "right" },
          ]}
          rightFormat={(v) => formatInt(v)}
          rightIntegers
        />
        {latest !== null && latest.models.length > 0 && (
          <div class="loads" data-testid="live-models">
            {latest.models.map((m) => (
              <LoadBar key={m.id} id={m.id} active={m.active} waiting={m.waiting} capacity={m.capacity} />
            ))}
          </div>
        )}
      </div>
    </Section>
  );
}
