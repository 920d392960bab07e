/**
 * The floor of the gateway benchmark: the least a Node.js gateway built on
 * chatport's own stack (fastify + undici) does per request, with nothing
 * else — no auth, no limits, no metering, no ledger, no metrics, no logs, no
 * retries. It parses the client's JSON, renames the model, forwards it over an
 * undici keep-alive pool, and sends the upstream's JSON back with the model
 * renamed; a stream is piped through byte for byte.
 *
 * Measured beside chatport in the same run, it shows how much of chatport's
 * added latency and CPU is its own work and how much is what any gateway on
 * this stack and this machine pays (`chatport bench gateway`, the
 * `bare-proxy` system). It is a benchmark instrument, never served to users.
 *
 * Entry point: `node dist/bench/bare-proxy.js --upstream URL --upstream-key K
 * --model-map GATEWAY=UPSTREAM[,…]` prints `bare proxy listening on URL`.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import Fastify from "fastify";
import { Agent, request } from "undici";
import { serveAsBenchChild } from "./bench-child.js";

export interface BareProxyOptions {
  /** The upstream's base URL, ending in `/v1`. */
  upstream: string;
  upstreamKey: string;
  /** Gateway model name → upstream model name. */
  models: Readonly<Record<string, string>>;
  port?: number;
}

export interface BareProxy {
  url: string;
  close(): Promise<void>;
}

export async function startBareProxy(options: BareProxyOptions): Promise<BareProxy> {
  const agent = new Agent({ connections: 256, keepAliveTimeout: 60_000 });
  const app = Fastify({ logger: false, bodyLimit: 4 * 1024 * 1024 });
  const target = `${options.upstream.replace(/\/+$/, "")}/chat/completions`;
  const headers = { "content-type": "application/json", authorization: `Bearer ${options.upstreamKey}` };

  app.post("/v1/chat/completions", async (req, reply) => {
    const body = req.body as Record<string, unknown>;
    const name = typeof body.model === "string" ? body.model : "";
    const upstreamModel = options.models[name];
    if (upstreamModel === undefined) return reply.code(404).send({ error: { message: `unknown model ${name}`, type: "invalid_request_error" } });
    const answer = await request(target, { method: "POST", dispatcher: agent, headers, body: JSON.stringify({ ...body, model: upstreamModel }) });
    if (body.stream === true) {
      reply.code(answer.statusCode).header("content-type", String(answer.headers["content-type"] ?? "text/event-stream"));
      return reply.send(answer.body);
    }
    const json = (await answer.body.json()) as Record<string, unknown>;
    json.model = name;
    return reply.code(answer.statusCode).send(json);
  });
  app.get("/health", async () => ({ status: "ok" }));

  await app.listen({ host: "127.0.0.1", port: options.port ?? 0 });
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    close: async () => {
      await app.close();
      await agent.close();
    },
  };
}

function flag(argv: readonly string[], name: string): string | null {
  const at = argv.indexOf(name);
  return at >= 0 ? (argv[at + 1] ?? null) : null;
}

async function main(argv: readonly string[]): Promise<void> {
  const upstream = flag(argv, "--upstream");
  if (upstream === null) throw new Error("--upstream URL is required");
  const models: Record<string, string> = {};
  for (const pair of (flag(argv, "--model-map") ?? "").split(",").filter((p) => p !== "")) {
    const [from, to] = pair.split("=");
    if (from === undefined || to === undefined) throw new Error(`--model-map: ${pair} is not GATEWAY=UPSTREAM`);
    models[from] = to;
  }
  const proxy = await startBareProxy({ upstream, upstreamKey: flag(argv, "--upstream-key") ?? "", models });
  serveAsBenchChild("bare proxy", proxy.url, () => proxy.close());
}

const invoked = process.argv[1] === undefined ? null : path.resolve(process.argv[1]);
if (invoked === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`bare proxy: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
