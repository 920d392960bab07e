/**
 * /metrics after a known set of requests (local and upstream, streamed and
 * not, refused), parsed as Prometheus text and checked against what the
 * clients were told; the admin views the dashboard polls; request ids.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import { startFakeUpstream, type FakeUpstream } from "../src/upstream/fake-upstream.js";
import { tinyModelPath } from "./helpers/models.js";
import { parseMetrics, sum } from "./helpers/prometheus.js";
import { postJson, startServer, type RunningServer } from "./helpers/server.js";

const adminKey = "admin-metrics-0123456789";

let server: RunningServer;
let fake: FakeUpstream;
let client: OpenAI;

before(async () => {
  fake = await startFakeUpstream({ models: ["m"] });
  server = await startServer({
    models: { tiny: await tinyModelPath() },
    args: ["--threads", "1", "--parallel", "2", "--ctx", "256", "--upstream", `remote=${fake.url}#m`],
    adminKey,
  });
  client = new OpenAI({ baseURL: server.baseURL, apiKey: adminKey, maxRetries: 0 });
});
after(async () => {
  await server?.stop();
  await fake?.close();
});

describe("metrics", () => {
  test("counters and histograms match a known set of requests", async () => {
    const told = { tiny: { prompt: 0, completion: 0 }, remote: { prompt: 0, completion: 0 } };
    for (const model of ["tiny", "remote"] as const) {
      for (let i = 0; i < 3; i++) {
        const res = await client.chat.completions.create({ model, messages: [{ role: "user", content: `count ${i}` }], max_tokens: 4 });
        told[model].prompt += res.usage?.prompt_tokens ?? NaN;
        told[model].completion += res.usage?.completion_tokens ?? NaN;
      }
      const stream = await client.chat.completions.create({ model, messages: [{ role: "user", content: "stream" }], max_tokens: 5, stream: true, stream_options: { include_usage: true } });
      for await (const chunk of stream) {
        if (chunk.usage) {
          told[model].prompt += chunk.usage.prompt_tokens;
          told[model].completion += chunk.usage.completion_tokens;
        }
      }
    }
    // One refused before reaching a model (400), one too long for the context (reaches the model, refused there).
    assert.equal((await postJson(server.baseURL, "/chat/completions", { model: "tiny", messages: [] }, { authorization: `Bearer ${adminKey}` })).status, 400);
    const long = await postJson(server.baseURL, "/chat/completions", { model: "tiny", messages: [{ role: "user", content: "word ".repeat(600) }] }, { authorization: `Bearer ${adminKey}` });
    assert.equal(long.status, 400);

    const res = await fetch(server.baseURL.replace("/v1", "/metrics"));
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
    const { samples, types } = parseMetrics(await res.text());

    for (const model of ["tiny", "remote"] as const) {
      assert.equal(sum(samples, "chatport_chat_requests_total", { model, status: "ok", code: "200", key: "none" }), 4, model);
      assert.equal(sum(samples, "chatport_prompt_tokens_total", { model }), told[model].prompt, `${model} prompt tokens`);
      assert.equal(sum(samples, "chatport_completion_tokens_total", { model }), told[model].completion, `${model} completion tokens`);
      assert.equal(sum(samples, "chatport_time_to_first_token_seconds_count", { model }), 4);
      assert.ok(sum(samples, "chatport_inter_token_latency_seconds_count", { model }) > 0);
      assert.equal(sum(samples, "chatport_request_duration_seconds_count", { model }), model === "tiny" ? 5 : 4, "every request that reached the model, the refused one too");
    }
    assert.equal(sum(samples, "chatport_chat_requests_total", { model: "tiny", status: "error", code: "400" }), 1, "the too-long prompt reached the model");
    // Every API's counter has the chat completions as api="chat", with the same labels besides.
    for (const s of samples.filter((x) => x.name === "chatport_chat_requests_total")) {
      assert.equal(sum(samples, "chatport_requests_total", { ...s.labels, api: "chat" }), s.value, JSON.stringify(s.labels));
    }
    assert.equal(sum(samples, "chatport_http_requests_total", { route: "/v1/chat/completions", code: "400" }), 2);
    assert.equal(sum(samples, "chatport_upstream_attempt_duration_seconds_count", { provider: "upstream:remote", model: "m", verdict: "success" }), 4);
    assert.equal(sum(samples, "chatport_upstream_breaker_state", { provider: "upstream:remote", model: "m" }), 0);
    assert.equal(sum(samples, "chatport_upstream_healthy", { provider: "upstream:remote" }), 1);
    assert.ok(samples.some((s) => s.name === "chatport_queue_depth" && s.labels.model === "tiny"));
    assert.ok(samples.some((s) => s.name === "chatport_capacity" && s.labels.model === "tiny" && s.value === 2));
    const kv = sum(samples, "chatport_kv_cache_usage_ratio", { model: "tiny" });
    assert.ok(kv > 0 && kv <= 1, `KV cache use ${kv}: the finished requests' prefixes stay cached`);
    assert.equal(types.get("chatport_chat_requests_total"), "counter");
    assert.equal(types.get("chatport_requests_total"), "counter");
    assert.equal(types.get("chatport_time_to_first_token_seconds"), "histogram");
    assert.equal(types.get("chatport_queue_depth"), "gauge");
    // No unbounded labels: nothing carries request ids or prompt text.
    assert.ok(samples.every((s) => Object.values(s.labels).every((v) => !/count \d|word word/.test(v))));
    console.log(`# /metrics: ${samples.length} samples; tiny ${told.tiny.prompt}+${told.tiny.completion} tokens, remote ${told.remote.prompt}+${told.remote.completion}`);
  });

  test("admin views: models with load and deployments, live stats", async () => {
    const headers = { authorization: `Bearer ${adminKey}` };
    const models = (await (await fetch(server.baseURL.replace("/v1", "/admin/models"), { headers })).json()) as {
      data: Array<{
        id: string;
        kind: string;
        context_length: number;
        load: { capacity: number };
        kv_cache: { size: number; sequences: number; context_per_sequence: number; type: string; bytes: number; bytes_per_sequence: number } | null;
        deployments: Array<{ breaker: string; healthy: boolean }>;
      }>;
    };
    const tiny = models.data.find((m) => m.id === "tiny");
    const remote = models.data.find((m) => m.id === "remote");
    assert.equal(tiny?.kind, "local");
    assert.equal(tiny?.context_length, 256);
    assert.equal(tiny?.load.capacity, 2);
    // The tiny model: 2 layers × 2 KV heads × (16 + 16) values × 2 bytes (f16) per cell; 256 cells per sequence, 2 sequences.
    assert.deepEqual(tiny?.kv_cache && { ...tiny.kv_cache, used: undefined }, {
      used: undefined, size: 512, sequences: 2, context_per_sequence: 256, type: "f16", bytes: 512 * 256, bytes_per_sequence: 256 * 256,
    });
    assert.equal(remote?.kv_cache, null);
    assert.equal(remote?.kind, "upstream");
    assert.deepEqual(remote?.deployments.map((d) => [d.breaker, d.healthy]), [["closed", true]]);
    const stats = (await (await fetch(server.baseURL.replace("/v1", "/admin/stats"), { headers })).json()) as { requests_total: number; uptime_s: number };
    assert.ok(stats.requests_total >= 9);
    assert.equal((await fetch(server.baseURL.replace("/v1", "/admin/stats"))).status, 401);
  });

  test("chatport_requests_total counts each API under its own `api`; chatport_chat_requests_total only chat completions", async () => {
    const headers = { authorization: `Bearer ${adminKey}` };
    const scrape = async (): Promise<Record<string, number>> => {
      const { samples } = parseMetrics(await (await fetch(server.baseURL.replace("/v1", "/metrics"))).text());
      const apis = ["chat", "responses", "messages", "completions", "embeddings"].map((api) => [api, sum(samples, "chatport_requests_total", { api, model: "remote", status: "ok", code: "200", key: "none" })]);
      return { ...Object.fromEntries(apis), chatCounter: sum(samples, "chatport_chat_requests_total", { model: "remote" }) };
    };
    const before = await scrape();
    await client.responses.create({ model: "remote", input: "one two", max_output_tokens: 2, store: false });
    assert.equal((await postJson(server.baseURL, "/messages", { model: "remote", max_tokens: 2, messages: [{ role: "user", content: "one two" }] }, { "x-api-key": adminKey })).status, 200);
    assert.equal((await postJson(server.baseURL, "/messages", { model: "remote", max_tokens: 2, stream: true, messages: [{ role: "user", content: "one" }] }, headers)).status, 200);
    await client.completions.create({ model: "remote", prompt: "one two", max_tokens: 2 });
    await client.embeddings.create({ model: "remote", input: ["one", "two"] });
    await client.chat.completions.create({ model: "remote", messages: [{ role: "user", content: "one" }], max_tokens: 2 });
    const after = await scrape();
    assert.deepEqual(
      Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)])),
      { chat: 1, responses: 1, messages: 2, completions: 1, embeddings: 1, chatCounter: 1 },
    );
  });

  test("x-request-id is honoured and echoed on every response", async () => {
    const res = await fetch(server.baseURL + "/models", { headers: { authorization: `Bearer ${adminKey}`, "x-request-id": "trace-abc-123" } });
    assert.equal(res.headers.get("x-request-id"), "trace-abc-123");
    const generated = await fetch(server.baseURL + "/models", { headers: { authorization: `Bearer ${adminKey}` } });
    assert.match(generated.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
    const start = Date.now();
    while (!server.jsonLogs().some((l) => l.reqId === "trace-abc-123")) {
      assert.ok(Date.now() - start < 2000, "the request id is in the structured logs");
      await new Promise((r) => setTimeout(r, 20));
    }
  });
});
