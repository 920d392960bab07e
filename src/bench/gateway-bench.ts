/**
 * `chatport bench gateway`: what chatport costs in front of an upstream.
 *
 * A fast fake upstream ({@link startFakeUpstream}) runs in its own process,
 * two `chatport serve` processes route the model `bench` to it (one open, one
 * requiring a managed API key, so auth + metering show), and the load
 * generator in this process calls the upstream directly and through each
 * gateway over undici keep-alive pools, in the same run. Every phase
 * alternates the systems in short slices (rotating the order each round) so
 * that machine noise hits them alike:
 *
 * - open loop: a fixed request rate (default 500/s) of non-streaming requests,
 *   sent on schedule whatever is outstanding; added latency = a gateway's
 *   latency percentile − the direct percentile;
 * - closed loop: C concurrent clients back to back, requests/s (max throughput);
 * - streaming: S concurrent clients streaming N-chunk completions with no
 *   delay between chunks, content chunks/s and time to first content chunk.
 *   The upstream is then a CPU-bound loop of writes: this measures what the
 *   gateway costs per chunk, and on a small machine the gateway's CPU comes
 *   out of the same cores the upstream and the client use;
 * - paced streaming: the same, with the upstream waiting a little between
 *   chunks (default 1 ms: 1,000 tokens/s per stream, faster than any model
 *   server), so the upstream's pace sets the throughput as it does in
 *   production, and the gateway must keep up with it.
 *
 * CPU of this process (process.cpuUsage), of the children (/proc/PID/stat)
 * and of the whole machine (/proc/stat) is recorded per slice, so a reader can
 * see when the cores are saturated.
 *
 * This file is also the entry point of the upstream child:
 * `node dist/bench/gateway-bench.js --serve-fake-upstream [--api-key K]`
 * prints `fake upstream listening on URL`.
 */
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Pool } from "undici";
import { startFakeUpstream } from "../upstream/fake-upstream.js";
import { launchBenchChild, serveAsBenchChild } from "./bench-child.js";
import { cliPath, freePort, launch, startChatport, type ServerProcess } from "./server-process.js";
import { percentile, sum } from "./stats.js";

const here = path.dirname(fileURLToPath(import.meta.url));
/** This module, built: the upstream child runs from dist/ with plain node (also when the caller runs from source). */
const childScript = path.resolve(here, here.endsWith(path.join("src", "bench")) ? "../../dist/bench/gateway-bench.js" : "gateway-bench.js");

export const SYSTEMS = ["direct", "bare-proxy", "chatport", "chatport+key", "portkey"] as const;
export type SystemName = (typeof SYSTEMS)[number];
export const PHASES = ["open-loop", "closed-loop", "streaming", "paced-streaming"] as const;
export type PhaseName = (typeof PHASES)[number];

export interface GatewayBenchOptions {
  /** Open-loop requests/s (non-streaming). */
  rate: number;
  /** Seconds of measurement per system and phase. */
  durationS: number;
  /** Systems alternate every this many seconds. */
  sliceS: number;
  /** Seconds of unrecorded load per system before measuring. */
  warmupS: number;
  /** Closed-loop clients. */
  concurrency: number;
  /** Streaming clients. */
  streamConcurrency: number;
  /** Content chunks (tokens) per stream. */
  streamTokens: number;
  /** Completion tokens per non-streaming request. */
  maxTokens: number;
  /** The upstream waits this long between stream chunks (0: as fast as it can, a CPU-bound upstream). */
  streamChunkDelayMs: number;
  /** Paced streaming: the upstream waits this long between stream chunks. */
  pacedChunkDelayMs: number;
  /** Also measure a gateway that requires a managed key (auth + per-key metering). */
  keyGateway: boolean;
  /** Also measure Portkey's open-source gateway (`@portkey-ai/gateway`) as a peer, on the same upstream and load. */
  portkey: boolean;
  /** Also measure the floor: a bare fastify + undici proxy with none of a gateway's work (bare-proxy.ts). */
  bareProxy: boolean;
  /** Write V8 CPU profiles of the gateways here (slows them: the numbers are then not comparable). */
  profileDir: string | null;
  /** The gateways' log level: `warn` logs nothing per request, `info` its one line per request (to a pipe the harness reads). */
  logLevel: "warn" | "info";
  /** The phases to run (default all). */
  phases: PhaseName[];
  progress: (line: string) => void;
}

export const defaultGatewayBenchOptions: Omit<GatewayBenchOptions, "progress"> = {
  rate: 500,
  durationS: 10,
  sliceS: 1,
  warmupS: 2,
  concurrency: 32,
  streamConcurrency: 16,
  streamTokens: 64,
  maxTokens: 16,
  streamChunkDelayMs: 0,
  pacedChunkDelayMs: 1,
  keyGateway: true,
  portkey: true,
  bareProxy: true,
  profileDir: null,
  logLevel: "warn",
  phases: [...PHASES],
};

export interface OpenLoopResult {
  system: SystemName;
  /** Requests/s asked for. */
  rate: number;
  seconds: number;
  sent: number;
  completed: number;
  errors: number;
  /** Completed requests/s over the measured slices. */
  achievedRps: number;
  /** Latency from sending the request to the end of the response body, ms. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
  /** p99 of (send time − scheduled time): how far the load generator fell behind its schedule. */
  sendLagP99: number;
}

export interface AddedLatency {
  system: SystemName;
  p50: number;
  p90: number;
  p99: number;
  mean: number;
}

export interface ClosedLoopResult {
  system: SystemName;
  concurrency: number;
  seconds: number;
  completed: number;
  errors: number;
  rps: number;
  p50: number;
  p99: number;
}

export interface StreamResult {
  system: SystemName;
  concurrency: number;
  streamTokens: number;
  seconds: number;
  streams: number;
  errors: number;
  /** Content chunks (one token each) received per second, all streams together. */
  tokensPerSec: number;
  /** SSE events (role, content, finish, usage, [DONE]) per second. */
  eventsPerSec: number;
  streamsPerSec: number;
  /** Time to the first content chunk, ms. */
  ttfcP50: number;
  ttfcP99: number;
  /** Whole stream, ms. */
  streamP50: number;
}

export interface CpuResult {
  phase: string;
  system: SystemName;
  seconds: number;
  /** % of one core (100 = one core busy). Null where /proc is not available. */
  loadgenPct: number;
  upstreamPct: number | null;
  chatportPct: number | null;
  chatportKeyPct: number | null;
  portkeyPct: number | null;
  bareProxyPct: number | null;
  /** % of the whole machine (100 = every core busy). */
  machineBusyPct: number | null;
  /** What processes other than these used, % of the whole machine (other work on the box skews the numbers). */
  othersPct: number | null;
  /** Worst per-slice p99 event-loop delay of the load generator (beyond the monitor's own timer), ms. */
  loadgenLoopDelayP99: number;
}

export interface TargetCheck {
  name: string;
  target: string;
  value: number;
  met: boolean;
}

export interface ProfileSummary {
  system: SystemName;
  file: string;
  /** Sampled ms that were not idle. */
  busyMs: number;
  /** By self time, the busiest functions. */
  topSelf: Array<{ fn: string; where: string; selfMs: number; pct: number }>;
  /** Inclusive time of chatport's own functions (in dist/ or src/). */
  topInclusive: Array<{ fn: string; where: string; totalMs: number; pct: number }>;
  /** Self time by where the code lives (node internals, fastify, undici, chatport, GC…). */
  byArea: Array<{ area: string; selfMs: number; pct: number }>;
}

export interface GatewayBenchReport {
  date: string;
  machine: { cpus: number; model: string; node: string };
  config: Omit<GatewayBenchOptions, "progress" | "profileDir"> & { profiled: boolean; upstreamModel: string; gatewayModel: string };
  openLoop: OpenLoopResult[];
  added: AddedLatency[];
  closedLoop: ClosedLoopResult[];
  streaming: StreamResult[];
  pacedStreaming: StreamResult[];
  cpu: CpuResult[];
  /** Open loop: CPU each system's serving process spent per completed request (direct: the upstream's own). */
  cpuPerRequest: Array<{ system: SystemName; cpuUs: number }>;
  /** chatport's added latency minus the bare proxy's (ms): what chatport's own work adds above the floor of its stack. Null without the bare proxy. */
  aboveFloor: { p50: number; p99: number } | null;
  targets: TargetCheck[];
  ratios: Record<string, number>;
  /** The first few error messages, if any request failed. */
  errorSamples: string[];
  /** What could not be measured and why (a peer whose streaming fails is measured without it). */
  notes: string[];
  profiles?: ProfileSummary[];
}

// ---------------------------------------------------------------------------
// The load generator

interface Target {
  system: SystemName;
  pool: Pool;
  path: string;
  headers: Record<string, string>;
  jsonBody: string;
  streamBody: string;
  /** The same stream from the paced upstream model. */
  pacedStreamBody: string;
  /** False for a peer whose streams failed the sanity check: it sits out the streaming phases. */
  streams: boolean;
}

const STREAMING_PHASES: readonly PhaseName[] = ["streaming", "paced-streaming"];

interface RequestOutcome {
  ok: boolean;
  ms: number;
  error?: string;
}

interface StreamOutcome {
  ok: boolean;
  ms: number;
  ttfcMs: number;
  tokens: number;
  events: number;
  error?: string;
}

const CONTENT = /"content":"[^"]/;
const CONTENT_ALL = /"content":"[^"]/g;

async function oneRequest(target: Target): Promise<RequestOutcome> {
  const start = performance.now();
  try {
    const res = await target.pool.request({ path: target.path, method: "POST", headers: target.headers, body: target.jsonBody });
    const text = await res.body.text();
    const ms = performance.now() - start;
    if (res.statusCode !== 200) return { ok: false, ms, error: `${target.system}: HTTP ${res.statusCode}: ${text.slice(0, 300)}` };
    return { ok: true, ms };
  } catch (err) {
    return { ok: false, ms: performance.now() - start, error: `${target.system}: ${err instanceof Error ? err.message : String(err)}` };
  }
}

async function oneStream(target: Target, body: string): Promise<StreamOutcome> {
  const start = performance.now();
  let ttfcMs = Number.NaN;
  try {
    const res = await target.pool.request({ path: target.path, method: "POST", headers: target.headers, body });
    res.body.setEncoding("utf8");
    let text = "";
    for await (const chunk of res.body) {
      text += chunk as string;
      if (Number.isNaN(ttfcMs) && CONTENT.test(text)) ttfcMs = performance.now() - start;
    }
    const ms = performance.now() - start;
    if (res.statusCode !== 200) return { ok: false, ms, ttfcMs, tokens: 0, events: 0, error: `${target.system}: HTTP ${res.statusCode}: ${text.slice(0, 300)}` };
    const tokens = text.match(CONTENT_ALL)?.length ?? 0;
    const events = text.split("\n\n").length - 1;
    if (!text.includes("data: [DONE]")) return { ok: false, ms, ttfcMs, tokens, events, error: `${target.system}: the stream ended without [DONE]` };
    return { ok: true, ms, ttfcMs, tokens, events };
  } catch (err) {
    return { ok: false, ms: performance.now() - start, ttfcMs, tokens: 0, events: 0, error: `${target.system}: ${err instanceof Error ? err.message : String(err)}` };
  }
}

class Samples {
  latencies: number[] = [];
  lags: number[] = [];
  ttfc: number[] = [];
  sent = 0;
  completed = 0;
  errors = 0;
  tokens = 0;
  events = 0;
  wallMs = 0;
}

const errorSamples: string[] = [];
function noteError(error: string | undefined): void {
  if (error !== undefined && errorSamples.length < 10) errorSamples.push(error);
}

/** Fixed-rate requests for `ms`, sent on schedule however many are outstanding (no coordinated omission). */
async function openLoopSlice(target: Target, rate: number, ms: number, into: Samples): Promise<void> {
  const interval = 1000 / rate;
  const total = Math.max(1, Math.round((rate * ms) / 1000));
  const start = performance.now();
  let sent = 0;
  let outstanding = 0;
  let drained: (() => void) | null = null;
  const fire = (scheduled: number): void => {
    into.lags.push(performance.now() - scheduled);
    into.sent += 1;
    outstanding += 1;
    void oneRequest(target).then((r) => {
      outstanding -= 1;
      if (r.ok) {
        into.completed += 1;
        into.latencies.push(r.ms);
      } else {
        into.errors += 1;
        noteError(r.error);
      }
      if (outstanding === 0 && drained !== null) drained();
    });
  };
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      while (sent < total && start + sent * interval <= now) fire(start + interval * sent++);
      if (sent >= total) resolve();
      else setTimeout(tick, Math.max(0, start + sent * interval - performance.now()));
    };
    tick();
  });
  into.wallMs += performance.now() - start;
  if (outstanding > 0) await new Promise<void>((resolve) => (drained = resolve));
}

/**
 * `concurrency` clients, each sending its next request when the last one
 * finished, for `ms`; `record` adds what a successful outcome measured.
 */
async function clientLoop<T extends RequestOutcome>(
  concurrency: number,
  ms: number,
  into: Samples,
  send: () => Promise<T>,
  record: (outcome: T) => void,
): Promise<void> {
  const start = performance.now();
  const end = start + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const r = await send();
        into.sent += 1;
        if (r.ok) {
          into.completed += 1;
          into.latencies.push(r.ms);
          record(r);
        } else {
          into.errors += 1;
          noteError(r.error);
        }
      }
    }),
  );
  into.wallMs += performance.now() - start;
}

const closedLoopSlice = (target: Target, concurrency: number, ms: number, into: Samples): Promise<void> =>
  clientLoop(concurrency, ms, into, () => oneRequest(target), () => undefined);

const streamSlice = (target: Target, body: string, concurrency: number, ms: number, into: Samples): Promise<void> =>
  clientLoop(concurrency, ms, into, () => oneStream(target, body), (r) => {
    if (!Number.isNaN(r.ttfcMs)) into.ttfc.push(r.ttfcMs);
    into.tokens += r.tokens;
    into.events += r.events;
  });

// ---------------------------------------------------------------------------
// CPU accounting

/** Clock ticks per second of /proc/PID/stat (USER_HZ: 100 on every Linux we run on). */
const USER_HZ = 100;

function procTicks(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may contain spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}

function machineTicks(): { busy: number; total: number } | null {
  try {
    const line = fs.readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    const total = sum(v.slice(0, 8));
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

const METERED_PROCESSES = ["upstream", "chatport", "chatportKey", "portkey", "bareProxy"] as const;
type MeteredProcess = (typeof METERED_PROCESSES)[number];

interface Snapshot {
  at: number;
  loadgen: NodeJS.CpuUsage;
  children: Record<MeteredProcess, number | null>;
  machine: { busy: number; total: number } | null;
}

/** The event-loop delay monitor's timer, ms: its samples are the time between ticks, so this is subtracted. */
const LOOP_RESOLUTION_MS = 2;

class CpuMeter {
  private readonly pids: Record<MeteredProcess, number | undefined>;
  private readonly loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  private readonly totals = new Map<string, { phase: string; system: SystemName; ms: number; loadgenUs: number; children: Record<string, number | null>; busy: number; total: number; machine: boolean; loopP99: number }>();

  constructor(pids: Record<MeteredProcess, number | undefined>) {
    this.pids = pids;
    this.loop.enable();
  }

  snapshot(): Snapshot {
    this.loop.reset();
    return {
      at: performance.now(),
      loadgen: process.cpuUsage(),
      children: {
        upstream: procTicks(this.pids.upstream),
        chatport: procTicks(this.pids.chatport),
        chatportKey: procTicks(this.pids.chatportKey),
        portkey: procTicks(this.pids.portkey),
        bareProxy: procTicks(this.pids.bareProxy),
      },
      machine: machineTicks(),
    };
  }

  add(phase: string, system: SystemName, before: Snapshot): void {
    const loopP99 = Math.max(0, this.loop.percentile(99) / 1e6 - LOOP_RESOLUTION_MS);
    const after = this.snapshot();
    const key = `${phase}|${system}`;
    const entry = this.totals.get(key) ?? { phase, system, ms: 0, loadgenUs: 0, children: { upstream: 0, chatport: 0, chatportKey: 0, portkey: 0, bareProxy: 0 }, busy: 0, total: 0, machine: true, loopP99: 0 };
    entry.ms += after.at - before.at;
    const used = process.cpuUsage(before.loadgen);
    entry.loadgenUs += used.user + used.system;
    for (const name of METERED_PROCESSES) {
      const a = after.children[name];
      const b = before.children[name];
      const acc = entry.children[name];
      entry.children[name] = a === null || b === null || acc === null || acc === undefined ? null : acc + (a - b);
    }
    if (after.machine === null || before.machine === null) entry.machine = false;
    else {
      entry.busy += after.machine.busy - before.machine.busy;
      entry.total += after.machine.total - before.machine.total;
    }
    entry.loopP99 = Math.max(entry.loopP99, loopP99);
    this.totals.set(key, entry);
  }

  results(): CpuResult[] {
    return [...this.totals.values()].map((e) => {
      const pct = (ticks: number | null | undefined): number | null => (ticks === null || ticks === undefined ? null : (ticks * (1000 / USER_HZ) * 100) / e.ms);
      return {
        phase: e.phase,
        system: e.system,
        seconds: e.ms / 1000,
        loadgenPct: (e.loadgenUs / 1000 / e.ms) * 100,
        upstreamPct: pct(e.children.upstream),
        chatportPct: this.pids.chatport === undefined ? null : pct(e.children.chatport),
        chatportKeyPct: this.pids.chatportKey === undefined ? null : pct(e.children.chatportKey),
        portkeyPct: this.pids.portkey === undefined ? null : pct(e.children.portkey),
        bareProxyPct: this.pids.bareProxy === undefined ? null : pct(e.children.bareProxy),
        machineBusyPct: e.machine && e.total > 0 ? (e.busy / e.total) * 100 : null,
        othersPct:
          e.machine && e.total > 0
            ? Math.max(0, ((e.busy - (e.loadgenUs / 1e6) * USER_HZ - sum(Object.values(e.children).map((t) => t ?? 0))) / e.total) * 100)
            : null,
        loadgenLoopDelayP99: e.loopP99,
      };
    });
  }

  close(): void {
    this.loop.disable();
  }
}

// ---------------------------------------------------------------------------
// Processes

const UPSTREAM_MODEL = "fake-model";
const GATEWAY_MODEL = "bench";
/** The fake upstream paces its chunks for this model name (--paced-delay-ms). */
const PACED_UPSTREAM_MODEL = "fake-model-paced";
const PACED_GATEWAY_MODEL = "bench-paced";
const UPSTREAM_KEY = "sk-bench-upstream";

/** The fake upstream in its own process. */
async function startUpstreamChild(chunkDelayMs: number, pacedDelayMs: number): Promise<ServerProcess> {
  const args = ["--serve-fake-upstream", "--api-key", UPSTREAM_KEY, "--chunk-delay-ms", String(chunkDelayMs), "--paced-delay-ms", String(pacedDelayMs)];
  return launchBenchChild(childScript, args, "fake upstream");
}

async function startGateway(upstreamURL: string, dbPath: string, logLevel: GatewayBenchOptions["logLevel"], profile: { dir: string; name: string } | null): Promise<ServerProcess> {
  const args = [
    "--db-path", dbPath,
    "--upstream", `${GATEWAY_MODEL}=${upstreamURL}#${UPSTREAM_MODEL}`,
    "--upstream", `${PACED_GATEWAY_MODEL}=${upstreamURL}#${PACED_UPSTREAM_MODEL}`,
  ];
  const env = { CHATPORT_LOG_LEVEL: logLevel, CHATPORT_UPSTREAM_API_KEY: UPSTREAM_KEY };
  if (profile === null) return startChatport(args, env);
  // startChatport with node flags: the same command line, after --cpu-prof.
  const port = await freePort();
  const baseURL = `http://127.0.0.1:${port}/v1`;
  return launch(
    process.execPath,
    ["--cpu-prof", "--cpu-prof-dir", profile.dir, "--cpu-prof-name", profile.name, cliPath, "serve", "--host", "127.0.0.1", "--port", String(port), ...args],
    { env, baseURL: () => baseURL, healthPath: "/health" },
  );
}

/** The floor (bare-proxy.ts) in its own process, routing the bench's two gateway models to the upstream. */
async function startBareProxyChild(upstreamURL: string): Promise<ServerProcess> {
  const models = `${GATEWAY_MODEL}=${UPSTREAM_MODEL},${PACED_GATEWAY_MODEL}=${PACED_UPSTREAM_MODEL}`;
  return launchBenchChild(path.join(path.dirname(childScript), "bare-proxy.js"), ["--upstream", upstreamURL, "--upstream-key", UPSTREAM_KEY, "--model-map", models], "bare proxy");
}

/** Portkey's open-source gateway (the npm package's Node server) on a free loopback port, ready once `/` answers. */
async function startPortkey(): Promise<ServerProcess> {
  let packageJson: string;
  try {
    packageJson = createRequire(import.meta.url).resolve("@portkey-ai/gateway/package.json");
  } catch {
    throw new Error("@portkey-ai/gateway is not installed (a devDependency: `npm install`); or pass --no-portkey");
  }
  const script = path.join(path.dirname(packageJson), "build", "start-server.js");
  const port = await freePort();
  const baseURL = `http://127.0.0.1:${port}/v1`;
  return launch(process.execPath, [script, `--port=${port}`, "--headless"], { baseURL: () => baseURL, healthPath: "/", timeoutMs: 60_000 });
}

async function createManagedKey(dbPath: string): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [cliPath, "keys", "create", "--name", "bench", "--json", "--db-path", dbPath]);
  const parsed: unknown = JSON.parse(stdout);
  const secret = typeof parsed === "object" && parsed !== null ? (parsed as { secret?: unknown }).secret : undefined;
  if (typeof secret !== "string") throw new Error(`chatport keys create printed no secret: ${stdout}`);
  return secret;
}

function makeTarget(
  system: SystemName,
  baseURL: string,
  models: { plain: string; paced: string },
  bearer: string | null,
  options: GatewayBenchOptions,
  connections: number,
  extraHeaders: Record<string, string> = {},
): Target {
  const url = new URL(baseURL);
  const messages = [{ role: "user", content: "Say something short about gateways and latency." }];
  const headers: Record<string, string> = { "content-type": "application/json", ...extraHeaders };
  if (bearer !== null) headers.authorization = `Bearer ${bearer}`;
  const stream = (model: string): string =>
    JSON.stringify({ model, messages, max_tokens: options.streamTokens, stream: true, stream_options: { include_usage: true } });
  const model = models.plain;
  return {
    system,
    pool: new Pool(url.origin, { connections, pipelining: 1, keepAliveTimeout: 60_000, headersTimeout: 60_000, bodyTimeout: 60_000 }),
    path: `${url.pathname.replace(/\/+$/, "")}/chat/completions`,
    headers,
    jsonBody: JSON.stringify({ model, messages, max_tokens: options.maxTokens }),
    streamBody: stream(model),
    pacedStreamBody: stream(models.paced),
    streams: true,
  };
}

/** One request and one stream per system, checked, so a misconfiguration fails before the measurements. */
/** `attempt`, tried up to `times` times half a second apart; the last failure is thrown. */
async function retried(attempt: () => Promise<void>, times: number): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (i >= times) throw err;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

async function sanityCheck(target: Target, options: GatewayBenchOptions, streams = true): Promise<void> {
  const res = await target.pool.request({ path: target.path, method: "POST", headers: target.headers, body: target.jsonBody });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${target.system}: HTTP ${res.statusCode}: ${text}`);
  const body = JSON.parse(text) as { choices?: Array<{ message?: { content?: unknown } }> };
  const content = body.choices?.[0]?.message?.content;
  if (typeof content !== "string" || content === "") throw new Error(`${target.system}: no content in ${text}`);
  for (const body of streams ? [target.streamBody, target.pacedStreamBody] : []) {
    const stream = await oneStream(target, body);
    if (!stream.ok) throw new Error(stream.error);
    if (stream.tokens !== options.streamTokens) throw new Error(`${target.system}: a stream carried ${stream.tokens} content chunks, expected ${options.streamTokens}`);
  }
}

// ---------------------------------------------------------------------------
// Profiles

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: CpuProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function areaOf(url: string, fn: string): string {
  if (url === "") return fn.startsWith("(") ? fn : "(native / builtins)";
  if (url.startsWith("node:")) return "node core";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg?.[1] !== undefined) return pkg[1];
  const ours = /\/(?:dist|src)\/(.+)$/.exec(url);
  if (ours?.[1] !== undefined) return `chatport ${path.dirname(ours[1])}`;
  return url;
}

function shortUrl(url: string): string {
  const pkg = /node_modules\/(.+)$/.exec(url);
  if (pkg?.[1] !== undefined) return pkg[1];
  const ours = /\/((?:dist|src)\/.+)$/.exec(url);
  if (ours?.[1] !== undefined) return ours[1];
  return url;
}

/** Self time per function and area, and inclusive time of chatport's own functions, from a V8 .cpuprofile. */
export function summariseCpuProfile(file: string, system: SystemName, top = 25): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map<number, CpuProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const keyOf = (node: CpuProfileNode): string => `${node.callFrame.functionName || "(anonymous)"}\u0000${shortUrl(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const areas = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    // A sample's time is the delta to the next sample.
    const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    if (node === undefined || node.callFrame.functionName === "(idle)") return;
    busy += ms;
    const key = keyOf(node);
    self.set(key, (self.get(key) ?? 0) + ms);
    const area = areaOf(node.callFrame.url, node.callFrame.functionName);
    areas.set(area, (areas.get(area) ?? 0) + ms);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (n === undefined) break;
      if (!/\/(?:dist|src)\//.test(n.callFrame.url) || n.callFrame.url.includes("node_modules")) continue;
      const k = keyOf(n);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + ms);
    }
  });
  const split = (key: string): { fn: string; where: string } => {
    const [fn = "", where = ""] = key.split("\u0000");
    return { fn, where };
  };
  const pct = (ms: number): number => (busy > 0 ? (ms * 100) / busy : 0);
  return {
    system,
    file,
    busyMs: busy,
    topSelf: [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, ms]) => ({ ...split(k), selfMs: ms, pct: pct(ms) })),
    topInclusive: [...inclusive.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, ms]) => ({ ...split(k), totalMs: ms, pct: pct(ms) })),
    byArea: [...areas.entries()].sort((a, b) => b[1] - a[1]).map(([area, ms]) => ({ area, selfMs: ms, pct: pct(ms) })),
  };
}

// ---------------------------------------------------------------------------
// The run

interface Phase {
  name: PhaseName;
  label: string;
  run: (target: Target, ms: number, into: Samples) => Promise<void>;
}

function summary(samples: Samples): string {
  return `p50 ${fmt(percentile(samples.latencies, 50), 2)} ms`;
}

export async function runGatewayBench(options: GatewayBenchOptions): Promise<GatewayBenchReport> {
  const { progress } = options;
  errorSamples.length = 0;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "chatport-gateway-bench-"));
  const servers: ServerProcess[] = [];
  const targets: Target[] = [];
  let meter: CpuMeter | null = null;
  const profiles: Array<{ system: SystemName; file: string }> = [];
  let report: GatewayBenchReport;
  try {
    progress("starting the fake upstream (its own process)");
    const upstream = await startUpstreamChild(options.streamChunkDelayMs, options.pacedChunkDelayMs);
    servers.push(upstream);
    const profileFor = (system: SystemName, name: string): { dir: string; name: string } | null => {
      if (options.profileDir === null) return null;
      fs.mkdirSync(options.profileDir, { recursive: true });
      const file = `${name}-${process.pid}.cpuprofile`;
      profiles.push({ system, file: path.join(options.profileDir, file) });
      return { dir: options.profileDir, name: file };
    };
    progress(`starting chatport (open, no keys) → ${upstream.baseURL}`);
    const open = await startGateway(upstream.baseURL, path.join(dir, "open.sqlite"), options.logLevel, profileFor("chatport", "chatport-open"));
    servers.push(open);
    let keyed: ServerProcess | null = null;
    let secret: string | null = null;
    if (options.keyGateway) {
      progress("starting chatport with a managed API key (auth + per-key metering)");
      const keyedDb = path.join(dir, "keyed.sqlite");
      secret = await createManagedKey(keyedDb);
      keyed = await startGateway(upstream.baseURL, keyedDb, options.logLevel, profileFor("chatport+key", "chatport-key"));
      servers.push(keyed);
    }

    let bareProxy: ServerProcess | null = null;
    if (options.bareProxy) {
      progress(`starting the bare proxy (fastify + undici, no gateway work: the floor) → ${upstream.baseURL}`);
      bareProxy = await startBareProxyChild(upstream.baseURL);
      servers.push(bareProxy);
    }

    let portkey: ServerProcess | null = null;
    if (options.portkey) {
      progress(`starting Portkey's gateway (@portkey-ai/gateway) → ${upstream.baseURL}`);
      portkey = await startPortkey();
      servers.push(portkey);
    }

    const connections = Math.max(64, options.concurrency, options.streamConcurrency) * 2;
    const upstreamModels = { plain: UPSTREAM_MODEL, paced: PACED_UPSTREAM_MODEL };
    const gatewayModels = { plain: GATEWAY_MODEL, paced: PACED_GATEWAY_MODEL };
    targets.push(makeTarget("direct", upstream.baseURL, upstreamModels, UPSTREAM_KEY, options, connections));
    if (bareProxy !== null) targets.push(makeTarget("bare-proxy", bareProxy.baseURL, gatewayModels, null, options, connections));
    targets.push(makeTarget("chatport", open.baseURL, gatewayModels, null, options, connections));
    if (keyed !== null && secret !== null) targets.push(makeTarget("chatport+key", keyed.baseURL, gatewayModels, secret, options, connections));
    if (portkey !== null) {
      // Portkey forwards to the upstream named in its headers, with the client's key and model.
      const route = { "x-portkey-provider": "openai", "x-portkey-custom-host": upstream.baseURL };
      targets.push(makeTarget("portkey", portkey.baseURL, upstreamModels, UPSTREAM_KEY, options, connections, route));
    }
    const notes: string[] = [];
    for (const target of targets) {
      if (target.system !== "portkey") {
        await sanityCheck(target, options);
        continue;
      }
      // A peer that cannot stream here is still measured on the other phases; the report says why.
      // Portkey 1.15.2 now and then answers its first requests after start with a 500: asked again.
      try {
        await retried(() => sanityCheck(target, options), 3);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (!options.phases.some((p) => STREAMING_PHASES.includes(p))) throw err;
        await retried(() => sanityCheck(target, { ...options, phases: options.phases.filter((p) => !STREAMING_PHASES.includes(p)) }, false), 3);
        target.streams = false;
        notes.push(`${target.system} sat out the streaming phases: its streams failed (${message.slice(0, 200)})`);
        progress(notes.at(-1) ?? "");
      }
    }

    const allPhases: Phase[] = [
      { name: "open-loop", label: `open loop ${options.rate} req/s`, run: (t, ms, into) => openLoopSlice(t, options.rate, ms, into) },
      { name: "closed-loop", label: `closed loop ×${options.concurrency}`, run: (t, ms, into) => closedLoopSlice(t, options.concurrency, ms, into) },
      { name: "streaming", label: `streaming ×${options.streamConcurrency}, ${options.streamTokens} chunks${options.streamChunkDelayMs > 0 ? ` ${options.streamChunkDelayMs} ms apart` : ""}`, run: (t, ms, into) => streamSlice(t, t.streamBody, options.streamConcurrency, ms, into) },
      {
        name: "paced-streaming",
        label: `paced streaming ×${options.streamConcurrency}, ${options.streamTokens} chunks ${options.pacedChunkDelayMs} ms apart`,
        run: (t, ms, into) => streamSlice(t, t.pacedStreamBody, options.streamConcurrency, ms, into),
      },
    ];

    const phases = allPhases.filter((p) => options.phases.includes(p.name));

    if (options.warmupS > 0) {
      progress(`warming up: ${options.warmupS} s per system`);
      // Each phase's kind of load, lighter, unrecorded.
      const ms = (options.warmupS * 1000) / phases.length;
      for (const target of targets) {
        const streams = target.streams;
        if (options.phases.includes("open-loop")) await openLoopSlice(target, options.rate, ms, new Samples());
        if (options.phases.includes("closed-loop")) await closedLoopSlice(target, Math.min(8, options.concurrency), ms, new Samples());
        if (streams && options.phases.includes("streaming")) await streamSlice(target, target.streamBody, Math.min(4, options.streamConcurrency), ms, new Samples());
        if (streams && options.phases.includes("paced-streaming")) await streamSlice(target, target.pacedStreamBody, options.streamConcurrency, ms, new Samples());
      }
    }

    meter = new CpuMeter({ upstream: upstream.child.pid, chatport: open.child.pid, chatportKey: keyed?.child.pid, portkey: portkey?.child.pid, bareProxy: bareProxy?.child.pid });
    const results = new Map<string, Samples>();
    const rounds = Math.max(1, Math.round(options.durationS / options.sliceS));
    const sliceMs = (options.durationS * 1000) / rounds;
    for (const phase of phases) {
      const measured = targets.filter((t) => t.streams || !STREAMING_PHASES.includes(phase.name));
      for (const t of measured) results.set(`${phase.name}|${t.system}`, new Samples());
      for (let round = 0; round < rounds; round++) {
        for (let i = 0; i < measured.length; i++) {
          const target = measured[(round + i) % measured.length] as Target;
          const into = results.get(`${phase.name}|${target.system}`) as Samples;
          const before = meter.snapshot();
          await phase.run(target, sliceMs, into);
          meter.add(phase.name, target.system, before);
        }
        const line = measured.map((t) => {
          const s = results.get(`${phase.name}|${t.system}`) as Samples;
          return `${t.system} ${phase.name.endsWith("streaming") ? `${fmt((s.tokens * 1000) / s.wallMs, 0)} tok/s` : phase.name === "closed-loop" ? `${fmt((s.completed * 1000) / s.wallMs, 0)} req/s` : summary(s)}${s.errors > 0 ? ` (${s.errors} errors)` : ""}`;
        });
        progress(`${phase.label}: round ${round + 1}/${rounds} — ${line.join(", ")}`);
      }
    }

    const systems = targets.map((t) => t.system);
    /** Per system, the samples of a phase that ran. */
    const each = <T>(phase: PhaseName, f: (system: SystemName, s: Samples) => T): T[] =>
      options.phases.includes(phase)
        ? systems.flatMap((system) => {
            const samples = results.get(`${phase}|${system}`);
            return samples === undefined ? [] : [f(system, samples)];
          })
        : [];
    const openLoop: OpenLoopResult[] = each("open-loop", (system, s) => ({
      system,
      rate: options.rate,
      seconds: s.wallMs / 1000,
      sent: s.sent,
      completed: s.completed,
      errors: s.errors,
      achievedRps: (s.completed * 1000) / s.wallMs,
      p50: percentile(s.latencies, 50),
      p90: percentile(s.latencies, 90),
      p99: percentile(s.latencies, 99),
      max: s.latencies.length === 0 ? Number.NaN : s.latencies.reduce((a, b) => Math.max(a, b)),
      mean: sum(s.latencies) / s.latencies.length,
      sendLagP99: percentile(s.lags, 99),
    }));
    const closedLoop: ClosedLoopResult[] = each("closed-loop", (system, s) => ({
      system,
      concurrency: options.concurrency,
      seconds: s.wallMs / 1000,
      completed: s.completed,
      errors: s.errors,
      rps: (s.completed * 1000) / s.wallMs,
      p50: percentile(s.latencies, 50),
      p99: percentile(s.latencies, 99),
    }));
    const streamResult = (system: SystemName, s: Samples): StreamResult => ({
      system,
      concurrency: options.streamConcurrency,
      streamTokens: options.streamTokens,
      seconds: s.wallMs / 1000,
      streams: s.completed,
      errors: s.errors,
      tokensPerSec: (s.tokens * 1000) / s.wallMs,
      eventsPerSec: (s.events * 1000) / s.wallMs,
      streamsPerSec: (s.completed * 1000) / s.wallMs,
      ttfcP50: percentile(s.ttfc, 50),
      ttfcP99: percentile(s.ttfc, 99),
      streamP50: percentile(s.latencies, 50),
    });
    const streaming = each("streaming", streamResult);
    const pacedStreaming = each("paced-streaming", streamResult);

    const added: AddedLatency[] = [];
    const ratios: Record<string, number> = {};
    const targetChecks: TargetCheck[] = [];
    const direct = openLoop.find((r) => r.system === "direct");
    const directClosed = closedLoop.find((r) => r.system === "direct");
    // Both streaming phases report the same ratios and target; only the label differs.
    const streamPhases = [
      { rows: streaming, prefix: "stream", upstream: "flat-out upstream (CPU-bound, shares the cores)" },
      { rows: pacedStreaming, prefix: "paced stream", upstream: `upstream ${options.pacedChunkDelayMs} ms/chunk` },
    ];
    for (const system of systems.filter((s) => s !== "direct")) {
      const o = openLoop.find((r) => r.system === system);
      if (o !== undefined && direct !== undefined) {
        const a = { system, p50: o.p50 - direct.p50, p90: o.p90 - direct.p90, p99: o.p99 - direct.p99, mean: o.mean - direct.mean };
        added.push(a);
        ratios[`${system}/direct p50 latency @${options.rate} req/s`] = o.p50 / direct.p50;
        ratios[`${system}/direct p99 latency @${options.rate} req/s`] = o.p99 / direct.p99;
        if (system !== "bare-proxy") {
          targetChecks.push({ name: `${system}: p50 added latency @${options.rate} req/s`, target: "< 1 ms", value: a.p50, met: a.p50 < 1 });
          targetChecks.push({ name: `${system}: p99 added latency @${options.rate} req/s`, target: "< 5 ms", value: a.p99, met: a.p99 < 5 });
        }
      }
      const c = closedLoop.find((r) => r.system === system);
      if (c !== undefined && directClosed !== undefined) ratios[`${system}/direct max req/s @${options.concurrency}`] = c.rps / directClosed.rps;
      for (const { rows, prefix, upstream } of streamPhases) {
        const r = rows.find((x) => x.system === system);
        const d = rows.find((x) => x.system === "direct");
        if (r === undefined || d === undefined) continue;
        const ratio = r.tokensPerSec / d.tokensPerSec;
        ratios[`${system}/direct ${prefix} tokens/s @${options.streamConcurrency}`] = ratio;
        ratios[`${system}/direct ${prefix} TTFC p50 @${options.streamConcurrency}`] = r.ttfcP50 / d.ttfcP50;
        if (system !== "bare-proxy") targetChecks.push({ name: `${system}: streaming tokens/s vs direct, ${upstream}`, target: "≥ 0.90", value: ratio, met: ratio >= 0.9 });
      }
    }
    // Against the peer gateway, in the same run: chatport's added latency below Portkey's, its stream throughput at least Portkey's.
    const peer = added.find((a) => a.system === "portkey");
    const ours = added.find((a) => a.system === "chatport");
    if (peer !== undefined && ours !== undefined) {
      for (const q of ["p50", "p99"] as const) {
        targetChecks.push({ name: `chatport − portkey: ${q} added latency @${options.rate} req/s (ms)`, target: "< 0", value: ours[q] - peer[q], met: ours[q] < peer[q] });
      }
    }
    for (const { rows, prefix } of streamPhases) {
      const r = rows.find((x) => x.system === "chatport");
      const pk = rows.find((x) => x.system === "portkey");
      if (r !== undefined && pk !== undefined) ratios[`chatport/portkey ${prefix} tokens/s @${options.streamConcurrency}`] = r.tokensPerSec / pk.tokensPerSec;
    }

    const cpu = meter.results();
    // The floor in the same run: how much of chatport's added latency is its own work.
    const floor = added.find((a) => a.system === "bare-proxy");
    const aboveFloor = floor !== undefined && ours !== undefined ? { p50: ours.p50 - floor.p50, p99: ours.p99 - floor.p99 } : null;

    report = {
      date: new Date().toISOString(),
      machine: { cpus: os.availableParallelism(), model: os.cpus()[0]?.model ?? "unknown", node: process.version },
      config: {
        rate: options.rate,
        durationS: options.durationS,
        sliceS: sliceMs / 1000,
        warmupS: options.warmupS,
        concurrency: options.concurrency,
        streamConcurrency: options.streamConcurrency,
        streamTokens: options.streamTokens,
        maxTokens: options.maxTokens,
        streamChunkDelayMs: options.streamChunkDelayMs,
        pacedChunkDelayMs: options.pacedChunkDelayMs,
        keyGateway: options.keyGateway,
        portkey: options.portkey,
        bareProxy: options.bareProxy,
        logLevel: options.logLevel,
        phases: options.phases,
        profiled: options.profileDir !== null,
        upstreamModel: UPSTREAM_MODEL,
        gatewayModel: GATEWAY_MODEL,
      },
      openLoop,
      added,
      closedLoop,
      streaming,
      pacedStreaming,
      cpu,
      cpuPerRequest: openLoopCpuPerRequest(openLoop, cpu),
      aboveFloor,
      targets: targetChecks,
      ratios,
      errorSamples: [...errorSamples],
      notes,
    };
  } finally {
    meter?.close();
    await Promise.all(targets.map((t) => t.pool.close()));
    // Gateways first (the upstream last), so their shutdown is clean.
    for (const server of [...servers].reverse()) await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // The gateways wrote their profiles as they exited.
  const written = profiles.filter((p) => fs.existsSync(p.file));
  for (const p of written) progress(`CPU profile of ${p.system}: ${p.file}`);
  if (written.length > 0) report.profiles = written.map((p) => summariseCpuProfile(p.file, p.system));
  return report;
}

/** µs of CPU per completed open-loop request, from the serving process measured while each system ran. */
function openLoopCpuPerRequest(openLoop: readonly OpenLoopResult[], cpu: readonly CpuResult[]): Array<{ system: SystemName; cpuUs: number }> {
  const own: Record<SystemName, (r: CpuResult) => number | null> = {
    direct: (r) => r.upstreamPct,
    "bare-proxy": (r) => r.bareProxyPct,
    chatport: (r) => r.chatportPct,
    "chatport+key": (r) => r.chatportKeyPct,
    portkey: (r) => r.portkeyPct,
  };
  return openLoop.flatMap((o) => {
    const row = cpu.find((r) => r.phase === "open-loop" && r.system === o.system);
    const pct = row === undefined ? null : own[o.system](row);
    return pct === null || o.achievedRps <= 0 ? [] : [{ system: o.system, cpuUs: ((pct / 100) * 1e6) / o.achievedRps }];
  });
}

// ---------------------------------------------------------------------------
// Reports

const fmt = (n: number | null | undefined, digits = 1): string => (n === null || n === undefined || !Number.isFinite(n) ? "–" : n.toFixed(digits));

export function gatewayTable(report: GatewayBenchReport): string {
  const c = report.config;
  const open = [
    `Open loop, ${c.rate} req/s non-streaming (${c.maxTokens} tokens each), latency from send to last byte, ms:`,
    "",
    "| system | sent | achieved req/s | errors | p50 | p90 | p99 | max | mean | send lag p99 |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...report.openLoop.map(
      (r) => `| ${r.system} | ${r.sent} | ${fmt(r.achievedRps, 0)} | ${r.errors} | ${fmt(r.p50, 3)} | ${fmt(r.p90, 3)} | ${fmt(r.p99, 3)} | ${fmt(r.max, 1)} | ${fmt(r.mean, 3)} | ${fmt(r.sendLagP99, 2)} |`,
    ),
  ];
  const added = [
    "Added latency (gateway − direct, same percentile), ms:",
    "",
    "| system | p50 | p90 | p99 | mean |",
    "|---|---:|---:|---:|---:|",
    ...report.added.map((r) => `| ${r.system} | ${fmt(r.p50, 3)} | ${fmt(r.p90, 3)} | ${fmt(r.p99, 3)} | ${fmt(r.mean, 3)} |`),
  ];
  const closed = [
    `Closed loop, ${c.concurrency} concurrent clients, non-streaming (max throughput):`,
    "",
    "| system | requests | errors | req/s | p50 ms | p99 ms |",
    "|---|---:|---:|---:|---:|---:|",
    ...report.closedLoop.map((r) => `| ${r.system} | ${r.completed} | ${r.errors} | ${fmt(r.rps, 0)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} |`),
  ];
  const streamTable = (title: string, rows: StreamResult[]): string[] => [
    title,
    "",
    "| system | streams | errors | chunks/s | events/s | streams/s | TTFC p50 ms | TTFC p99 ms | stream p50 ms |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows.map(
      (r) =>
        `| ${r.system} | ${r.streams} | ${r.errors} | ${fmt(r.tokensPerSec, 0)} | ${fmt(r.eventsPerSec, 0)} | ${fmt(r.streamsPerSec, 1)} | ${fmt(r.ttfcP50, 2)} | ${fmt(r.ttfcP99, 2)} | ${fmt(r.streamP50, 2)} |`,
    ),
  ];
  const streams = streamTable(
    `Streaming, ${c.streamConcurrency} concurrent streams of ${c.streamTokens} chunks, ${c.streamChunkDelayMs > 0 ? `the upstream waiting ${c.streamChunkDelayMs} ms between chunks` : "no delay between chunks (a CPU-bound upstream: what the gateway costs per chunk)"}:`,
    report.streaming,
  );
  const paced = streamTable(
    `Paced streaming, ${c.streamConcurrency} concurrent streams of ${c.streamTokens} chunks, the upstream waiting ${c.pacedChunkDelayMs} ms between chunks (the upstream sets the pace, as a model server does):`,
    report.pacedStreaming,
  );
  const cpu = [
    "CPU while each system was measured (% of one core; machine: % of all cores):",
    "",
    "| phase | system | load generator | upstream | bare proxy | chatport | chatport+key | portkey | machine | other processes (of machine) | loadgen loop delay p99 ms |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...report.cpu.map(
      (r) =>
        `| ${r.phase} | ${r.system} | ${fmt(r.loadgenPct, 0)} | ${fmt(r.upstreamPct, 0)} | ${fmt(r.bareProxyPct, 0)} | ${fmt(r.chatportPct, 0)} | ${fmt(r.chatportKeyPct, 0)} | ${fmt(r.portkeyPct, 0)} | ${fmt(r.machineBusyPct, 0)} | ${fmt(r.othersPct, 0)} | ${fmt(r.loadgenLoopDelayP99, 1)} |`,
    ),
  ];
  const targets = [
    "Targets (reported, not asserted):",
    "",
    "| target | goal | measured | met |",
    "|---|---|---:|---|",
    ...report.targets.map((t) => `| ${t.name} | ${t.target} | ${fmt(t.value, 3)} | ${t.met ? "yes" : "**no**"} |`),
  ];
  const perRequest = [
    `CPU per request, open loop at ${c.rate} req/s (the serving process's own; direct: the upstream's), µs:`,
    "",
    "| system | CPU µs / request |",
    "|---|---:|",
    ...report.cpuPerRequest.map((r) => `| ${r.system} | ${fmt(r.cpuUs, 0)} |`),
    ...(report.aboveFloor === null
      ? []
      : ["", `chatport's own share (added latency above the bare proxy's, same run): p50 ${fmt(report.aboveFloor.p50, 3)} ms, p99 ${fmt(report.aboveFloor.p99, 3)} ms.`]),
  ];
  const ratios = ["| ratio | value |", "|---|---:|", ...Object.entries(report.ratios).map(([k, v]) => `| ${k} | ${fmt(v, 2)} |`)];
  const sections = [
    report.openLoop.length > 0 ? open : [],
    report.added.length > 0 ? added : [],
    report.closedLoop.length > 0 ? closed : [],
    report.streaming.length > 0 ? streams : [],
    report.pacedStreaming.length > 0 ? paced : [],
    cpu,
    report.cpuPerRequest.length > 0 ? perRequest : [],
    report.targets.length > 0 ? targets : [],
    Object.keys(report.ratios).length > 0 ? ratios : [],
  ];
  return sections
    .filter((lines) => lines.length > 0)
    .map((lines) => lines.join("\n"))
    .join("\n\n");
}

function profileMarkdown(p: ProfileSummary): string {
  return [
    `### CPU profile: ${p.system} (${fmt(p.busyMs / 1000, 1)} s busy)`,
    "",
    "| area | self ms | % |",
    "|---|---:|---:|",
    ...p.byArea.slice(0, 15).map((a) => `| ${a.area} | ${fmt(a.selfMs, 0)} | ${fmt(a.pct, 1)} |`),
    "",
    "| function (self time) | where | self ms | % |",
    "|---|---|---:|---:|",
    ...p.topSelf.map((f) => `| ${f.fn} | ${f.where} | ${fmt(f.selfMs, 0)} | ${fmt(f.pct, 1)} |`),
    "",
    "| chatport function (inclusive) | where | total ms | % |",
    "|---|---|---:|---:|",
    ...p.topInclusive.map((f) => `| ${f.fn} | ${f.where} | ${fmt(f.totalMs, 0)} | ${fmt(f.pct, 1)} |`),
  ].join("\n");
}

/** A warning when other processes took a real share of the machine while it measured. */
function noisyNote(report: GatewayBenchReport): string[] {
  const others = report.cpu.map((c) => c.othersPct).filter((v): v is number => v !== null);
  const worst = others.length === 0 ? 0 : Math.max(...others);
  if (worst < 10) return [];
  const mean = sum(others) / others.length;
  return [
    "",
    `**Other processes on this machine used ${fmt(mean, 0)}% of it on average (up to ${fmt(worst, 0)}%) while it measured** (see the CPU table): latencies and throughputs are skewed by that contention.`,
  ];
}

export function writeGatewayReport(report: GatewayBenchReport, dir: string): { json: string; markdown: string } {
  fs.mkdirSync(dir, { recursive: true });
  const stamp = report.date.replace(/[:.]/g, "-");
  const json = path.join(dir, `gateway-${stamp}.json`);
  const markdown = path.join(dir, `gateway-${stamp}.md`);
  fs.writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  const c = report.config;
  const md = [
    `# chatport gateway benchmark, ${report.date}`,
    "",
    `Machine: ${report.machine.cpus} CPUs (${report.machine.model}), Node ${report.machine.node}.`,
    `A fake OpenAI-compatible upstream (node:http, its own process) called directly and through \`chatport serve\` (its own process, log level ${c.logLevel}, SQLite ledger): "chatport" is open (no keys), "chatport+key" requires a managed API key (auth, per-key counters). ` +
      `Load generator: undici keep-alive pools in a third process. Each phase measures every system for ${c.durationS} s in ${fmt(c.sliceS, 2)} s slices, alternating (order rotated every round), after ${c.warmupS} s of warm-up per system.` +
      (c.profiled ? " **The gateways ran under --cpu-prof: these numbers include the profiler's overhead.**" : ""),
    ...noisyNote(report),
    "",
    gatewayTable(report),
    "",
    ...(report.notes.length > 0 ? ["Notes:", "", ...report.notes.map((n) => `- ${n}`), ""] : []),
    ...(report.errorSamples.length > 0 ? ["Errors seen (first few):", "", ...report.errorSamples.map((e) => `- ${e}`), ""] : []),
    ...(report.profiles ?? []).flatMap((p) => [profileMarkdown(p), ""]),
  ].join("\n");
  fs.writeFileSync(markdown, md);
  return { json, markdown };
}

export function profileTable(p: ProfileSummary): string {
  return profileMarkdown(p);
}

// ---------------------------------------------------------------------------
// The upstream child: `node dist/bench/gateway-bench.js --serve-fake-upstream [--api-key K]`

async function serveFakeUpstreamChild(argv: readonly string[]): Promise<void> {
  const value = (flag: string): string | null => {
    const at = argv.indexOf(flag);
    return at >= 0 ? (argv[at + 1] ?? null) : null;
  };
  const chunkDelayMs = Number(value("--chunk-delay-ms") ?? 0);
  const pacedDelayMs = Number(value("--paced-delay-ms") ?? 1);
  const upstream = await startFakeUpstream({
    apiKey: value("--api-key"),
    models: [UPSTREAM_MODEL, PACED_UPSTREAM_MODEL],
    defaultTokens: 16,
    fault: (request) => {
      const delayMs = request.body?.model === PACED_UPSTREAM_MODEL ? pacedDelayMs : chunkDelayMs;
      return delayMs > 0 ? { kind: "ok", chunkDelayMs: delayMs } : { kind: "ok" };
    },
  });
  // It records every request for tests; a benchmark sends hundreds of thousands.
  setInterval(() => upstream.requests.splice(0), 1000).unref();
  serveAsBenchChild("fake upstream", upstream.url, () => upstream.close());
}

const invoked = process.argv[1] === undefined ? null : path.resolve(process.argv[1]);
if (invoked === fileURLToPath(import.meta.url) && process.argv.includes("--serve-fake-upstream")) {
  serveFakeUpstreamChild(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`fake upstream: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
