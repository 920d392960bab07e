/** Benchmark results: the summary numbers, a terminal table, JSON, and a Markdown report with an SVG chart. */
import fs from "node:fs";
import path from "node:path";
import { median, percentile, sum } from "./stats.js";
import type { StreamSample } from "./stream-client.js";

export interface LevelResult {
  system: string;
  concurrency: number;
  ttftP50: number;
  ttftP99: number;
  itlP50: number;
  itlP99: number;
  /** Median over streams of each stream's decode tokens/s. */
  perStreamTps: number;
  /** All completion tokens over the wall time of the level. */
  aggregateTps: number;
  /** Worst stream's p99 inter-token latency over the median inter-token latency. */
  starvation: number;
  /** Streams that failed (excluded from the numbers). */
  failedStreams?: number;
}

export interface PromptResult {
  system: string;
  coldTtftMs: number;
  warmTtftMs: number | null;
  cachedTokens: number | null;
}

export interface BenchReport {
  date: string;
  machine: { cpus: number; model: string; threads: number };
  config: {
    modelPath: string;
    promptTokens: number;
    maxTokens: number;
    longPromptTokens: number;
    concurrency: number[];
    /** Streams of a level started this many ms apart (0: at once). */
    staggerMs?: number;
    /** CHATPORT_* settings chatport ran with. */
    chatportEnv?: Record<string, string>;
  };
  levels: LevelResult[];
  prompts: PromptResult[];
  memory: Array<{ system: string; idleRssMB: number; peakRssMB: number; beyondIdleMB: number }>;
  ratios: Record<string, number>;
  /** The llama.cpp binary each HTTP system ran (chatport: read from its process's mapped files). */
  binaries?: Record<string, string>;
}

export function summarise(system: string, concurrency: number, samples: readonly StreamSample[], wallMs: number): LevelResult {
  const itl = samples.flatMap((s) => s.itlMs);
  const itlMedian = median(itl);
  const worstP99 = Math.max(...samples.map((s) => percentile(s.itlMs, 99)));
  return {
    system,
    concurrency,
    ttftP50: median(samples.map((s) => s.ttftMs)),
    ttftP99: percentile(samples.map((s) => s.ttftMs), 99),
    itlP50: itlMedian,
    itlP99: percentile(itl, 99),
    perStreamTps: median(samples.map((s) => (s.decodeMs > 0 ? ((s.completionTokens - 1) * 1000) / s.decodeMs : Number.NaN))),
    aggregateTps: (sum(samples.map((s) => s.completionTokens)) * 1000) / wallMs,
    starvation: worstP99 / itlMedian,
  };
}

const fmt = (n: number | null, digits = 1): string => (n === null || Number.isNaN(n) ? "–" : n.toFixed(digits));

export function table(report: BenchReport): string {
  const head = "| system | streams | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms | tok/s per stream | tok/s aggregate | p99/median ITL | failed |";
  const rule = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|";
  const rows = report.levels.map(
    (l) =>
      `| ${l.system} | ${l.concurrency} | ${fmt(l.ttftP50, 0)} | ${fmt(l.ttftP99, 0)} | ${fmt(l.itlP50)} | ${fmt(l.itlP99)} | ${fmt(l.perStreamTps)} | ${fmt(l.aggregateTps)} | ${fmt(l.starvation, 2)} | ${l.failedStreams ?? 0} |`,
  );
  const prompts = [
    "| system | cold TTFT ms (long prompt) | warm TTFT ms (shared prefix) | warm/cold | cached tokens |",
    "|---|---:|---:|---:|---:|",
    ...report.prompts.map(
      (p) =>
        `| ${p.system} | ${fmt(p.coldTtftMs, 0)} | ${fmt(p.warmTtftMs, 0)} | ${p.warmTtftMs === null ? "–" : fmt(p.warmTtftMs / p.coldTtftMs, 2)} | ${p.cachedTokens ?? "–"} |`,
    ),
  ];
  const memory = ["| system | idle RSS MB | peak RSS MB | beyond idle MB |", "|---|---:|---:|---:|", ...report.memory.map((m) => `| ${m.system} | ${fmt(m.idleRssMB, 0)} | ${fmt(m.peakRssMB, 0)} | ${fmt(m.beyondIdleMB, 0)} |`)];
  const ratios = ["| ratio | value |", "|---|---:|", ...Object.entries(report.ratios).map(([k, v]) => `| ${k} | ${fmt(v, 2)} |`)];
  const binaries = Object.entries(report.binaries ?? {});
  const binaryRows = binaries.length === 0 ? [] : ["| system | llama.cpp binary |", "|---|---|", ...binaries.map(([system, binary]) => `| ${system} | ${binary} |`), ""];
  return [head, rule, ...rows, "", ...binaryRows, ...prompts, "", ...memory, "", ...ratios].join("\n");
}

/** Aggregate tokens/s by concurrency, one line per system. */
export function svgChart(report: BenchReport): string {
  const width = 640;
  const height = 360;
  const pad = { left: 60, right: 150, top: 30, bottom: 50 };
  const systems = [...new Set(report.levels.map((l) => l.system))];
  const levels = report.config.concurrency;
  const maxY = Math.max(1, ...report.levels.map((l) => (Number.isFinite(l.aggregateTps) ? l.aggregateTps : 0))) * 1.1;
  const x = (i: number): number => pad.left + (levels.length === 1 ? 0 : (i * (width - pad.left - pad.right)) / (levels.length - 1));
  const y = (v: number): number => height - pad.bottom - (v / maxY) * (height - pad.top - pad.bottom);
  const colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2 - 60}" y="18" font-size="14">Aggregate output tokens/s</text>`,
    `<line x1="${pad.left}" y1="${height - pad.bottom}" x2="${width - pad.right}" y2="${height - pad.bottom}" stroke="black"/>`,
    `<line x1="${pad.left}" y1="${pad.top}" x2="${pad.left}" y2="${height - pad.bottom}" stroke="black"/>`,
    `<text x="${(width - pad.right) / 2}" y="${height - 12}">concurrent streams</text>`,
  ];
  for (let t = 0; t <= 4; t++) {
    const v = (maxY * t) / 4;
    parts.push(`<text x="${pad.left - 8}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(0)}</text>`);
    parts.push(`<line x1="${pad.left}" y1="${y(v)}" x2="${width - pad.right}" y2="${y(v)}" stroke="#ddd"/>`);
  }
  levels.forEach((c, i) => parts.push(`<text x="${x(i)}" y="${height - pad.bottom + 18}" text-anchor="middle">${c}</text>`));
  systems.forEach((system, s) => {
    const colour = colours[s % colours.length] ?? "black";
    const points = levels
      .map((c, i) => {
        const level = report.levels.find((l) => l.system === system && l.concurrency === c);
        return level === undefined || !Number.isFinite(level.aggregateTps) ? null : `${x(i)},${y(level.aggregateTps)}`;
      })
      .filter((p): p is string => p !== null);
    parts.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${points.join(" ")}"/>`);
    for (const p of points) {
      const [px, py] = p.split(",");
      parts.push(`<circle cx="${px}" cy="${py}" r="3" fill="${colour}"/>`);
    }
    parts.push(`<rect x="${width - pad.right + 15}" y="${pad.top + s * 20}" width="12" height="12" fill="${colour}"/>`);
    parts.push(`<text x="${width - pad.right + 32}" y="${pad.top + s * 20 + 10}">${system}</text>`);
  });
  parts.push("</svg>");
  return parts.join("\n");
}

export function writeReport(report: BenchReport, dir: string): { json: string; markdown: string; svg: string } {
  fs.mkdirSync(dir, { recursive: true });
  const stamp = report.date.replace(/[:.]/g, "-");
  const json = path.join(dir, `bench-${stamp}.json`);
  const svg = path.join(dir, `bench-${stamp}.svg`);
  const markdown = path.join(dir, `bench-${stamp}.md`);
  fs.writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  fs.writeFileSync(svg, svgChart(report));
  const md = [
    `# chatport benchmark, ${report.date}`,
    "",
    `Machine: ${report.machine.cpus} CPUs (${report.machine.model}), ${report.machine.threads} threads for every system.`,
    `Model: \`${path.basename(report.config.modelPath)}\`; prompt ≈${report.config.promptTokens} tokens, ${report.config.maxTokens} output tokens per stream (EOS ignored); long prompt ≈${report.config.longPromptTokens} tokens.`,
    ...((report.config.staggerMs ?? 0) > 0 ? [`Streams of a level started ${report.config.staggerMs} ms apart (HTTP systems).`] : []),
    ...(Object.keys(report.config.chatportEnv ?? {}).length > 0
      ? [`chatport settings: ${Object.entries(report.config.chatportEnv ?? {}).map(([k, v]) => `\`${k}=${v}\``).join(", ")}.`]
      : []),
    "",
    `![aggregate tokens/s](${path.basename(svg)})`,
    "",
    table(report),
    "",
  ].join("\n");
  fs.writeFileSync(markdown, md);
  return { json, markdown, svg };
}
