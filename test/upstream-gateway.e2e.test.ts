/**
 * chatport as a gateway in front of upstreams, end to end with the official
 * SDK: a second `chatport serve` process (the real engine) and two fake
 * upstreams the test controls sit behind one gateway that also serves a local
 * model. Pass-through of streams and fields, failover, metering from the
 * upstream's usage, disconnects, fallbacks, aliases, keys and limits.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import { startFakeUpstream, type FakeFault, type FakeUpstream, type RecordedRequest } from "../src/upstream/fake-upstream.js";
import { openStore } from "../src/store/open-store.js";
import { settingDefault } from "../src/settings.js";
import type { Store } from "../src/store/types.js";
import { tinyModelPath } from "./helpers/models.js";
import { assertMatchesSchema } from "./helpers/openapi.js";
import { postJson, startServer, tempDbPath, type RunningServer } from "./helpers/server.js";

const upstreamKey = "sk-upstream-chatport-secret-1";
const fakeKey = "sk-fake-provider-secret-2";
const adminKey = "admin-upstream-tests-0123456789";

let upstream: RunningServer;
let f1: FakeUpstream;
let f2: FakeUpstream;
let gateway: RunningServer;
let store: Store;
let client: OpenAI;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** f1's behaviour: `fault`, except that its short-context model refuses every prompt as too long, the way vLLM does. */
function withShortModel(fault: FakeFault): (req: RecordedRequest) => FakeFault {
  return (req) =>
    req.body?.model === "short-model"
      ? {
          kind: "status",
          status: 400,
          body: { error: { message: "This model's maximum context length is 16 tokens.", type: "invalid_request_error", param: "messages", code: "context_length_exceeded" } },
        }
      : fault;
}

before(async () => {
  const tiny = await tinyModelPath();
  upstream = await startServer({ models: { tiny }, args: ["--threads", "1", "--parallel", "2", "--ctx", "512"], apiKey: upstreamKey });
  f1 = await startFakeUpstream({ apiKey: fakeKey, models: ["fake-model", "short-model"] });
  f2 = await startFakeUpstream({ apiKey: fakeKey, models: ["fake-model"] });
  f1.fault = withShortModel({ kind: "ok" });

  const dbPath = tempDbPath();
  const configFile = path.join(path.dirname(dbPath), "config.json");
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      models: [{ id: "tiny", source: tiny }],
      providers: [
        { id: "chatport-up", baseUrl: upstream.baseURL, apiKeyEnv: "UP_KEY", healthCheckMs: 0 },
        { id: "f1", baseUrl: f1.url, apiKeyEnv: "FAKE_KEY", healthCheckMs: 0, timeouts: { connectMs: 1000, firstByteMs: 3000, idleMs: 3000 } },
        { id: "f2", baseUrl: f2.url, apiKeyEnv: "FAKE_KEY", healthCheckMs: 0, timeouts: { connectMs: 1000, firstByteMs: 3000, idleMs: 3000 } },
        { id: "wrong-key", baseUrl: f2.url, apiKeyEnv: "WRONG_KEY", healthCheckMs: 0 },
      ],
      upstreamModels: [
        { id: "remote-tiny", deployments: [{ provider: "chatport-up", model: "tiny" }], contextLength: 512, prices: { input: 2, output: 8 } },
        {
          id: "fake",
          deployments: [
            { provider: "f1", model: "fake-model" },
            { provider: "f2", model: "fake-model" },
          ],
          strategy: "weighted",
          retries: 2,
        },
        { id: "short", deployments: [{ provider: "f1", model: "short-model" }], contextLength: 16 },
        { id: "misconfigured", deployments: [{ provider: "wrong-key", model: "fake-model" }], retries: 0 },
        { id: "vision", deployments: [{ provider: "f2", model: "vision-model" }], acceptsMedia: true },
      ],
      aliases: { "gpt-4": "remote-tiny" },
      fallbacks: { short: ["fake"] },
    }),
  );
  gateway = await startServer({
    models: {},
    args: ["--config", configFile, "--threads", "1", "--parallel", "2", "--ctx", "512", "--db-path", dbPath],
    adminKey,
    env: { UP_KEY: upstreamKey, FAKE_KEY: fakeKey, WRONG_KEY: "sk-wrong-provider-key-3" },
  });
  store = await openStore({ sqlitePath: dbPath, sqliteSync: settingDefault("sqliteSync") });
  const key = await createKey({ name: "tests" });
  client = new OpenAI({ baseURL: gateway.baseURL, apiKey: key.secret, maxRetries: 0, timeout: 60_000 });
});

after(async () => {
  await gateway?.stop();
  await store?.close();
  await Promise.all([upstream?.stop(), f1?.close(), f2?.close()]);
});

async function createKey(body: Record<string, unknown>): Promise<{ id: string; secret: string }> {
  const res = await fetch(gateway.baseURL.replace("/v1", "/admin/keys"), {
    method: "POST",
    headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 201);
  return (await res.json()) as { id: string; secret: string };
}

/** The ledger row of one completion id. */
async function ledgerRows(model: string): Promise<number> {
  return (await store.ledger.usage({ model }))[0]?.requests ?? 0;
}

describe("routing to upstreams", () => {
  test("/v1/models lists local models, upstream models and aliases together", async () => {
    const ids = (await client.models.list()).data.map((m) => m.id).sort();
    assert.deepEqual(ids, ["fake", "gpt-4", "misconfigured", "remote-tiny", "short", "tiny", "vision"]);
  });

  test("the real engine behind the gateway: same tokens and usage as calling it directly, streamed and not", async () => {
    const params = { messages: [{ role: "user" as const, content: "Hello there" }], max_tokens: 12, temperature: 0, seed: 3 };
    const direct = await upstream.client.chat.completions.create({ model: "tiny", ...params });
    const viaGateway = await client.chat.completions.create({ model: "remote-tiny", ...params });
    assertMatchesSchema("CreateChatCompletionResponse", viaGateway);
    assert.equal(viaGateway.model, "remote-tiny");
    assert.equal(viaGateway.choices[0]?.message.content, direct.choices[0]?.message.content);
    assert.equal(viaGateway.choices[0]?.finish_reason, direct.choices[0]?.finish_reason);
    // (cached_tokens may differ: the second request finds its prompt in the upstream's KV cache.)
    for (const k of ["prompt_tokens", "completion_tokens", "total_tokens"] as const) assert.equal(viaGateway.usage?.[k], direct.usage?.[k], k);

    let text = "";
    let usage: OpenAI.CompletionUsage | undefined;
    const stream = await client.chat.completions.create({ model: "gpt-4", ...params, stream: true, stream_options: { include_usage: true } });
    for await (const chunk of stream) {
      assertMatchesSchema("CreateChatCompletionStreamResponse", chunk);
      text += chunk.choices[0]?.delta.content ?? "";
      usage = chunk.usage ?? usage;
    }
    assert.equal(text, direct.choices[0]?.message.content, "through an alias, streamed");
    assert.equal(usage?.completion_tokens, direct.usage?.completion_tokens);
  });

  test("tool calls made by the upstream's grammar pass through field for field", async () => {
    const tools: OpenAI.ChatCompletionTool[] = [
      { type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } },
    ];
    const params = { messages: [{ role: "user" as const, content: "weather?" }], tools, tool_choice: "required" as const, max_tokens: 200, temperature: 0 };
    const direct = await upstream.client.chat.completions.create({ model: "tiny", ...params });
    const res = await client.chat.completions.create({ model: "remote-tiny", ...params });
    assertMatchesSchema("CreateChatCompletionResponse", res);
    const call = res.choices[0]?.message.tool_calls?.[0];
    assert.ok(call !== undefined && call.type === "function", JSON.stringify(res.choices[0]));
    assert.equal(call.function.name, "get_weather");
    const directCall = direct.choices[0]?.message.tool_calls?.[0];
    assert.ok(directCall?.type === "function");
    assert.equal(call.function.arguments, directCall.function.arguments);
    assert.equal(res.choices[0]?.finish_reason, direct.choices[0]?.finish_reason);
  });

  test("metering: the ledger row carries the upstream's usage and the model's price", async () => {
    const before = await store.ledger.usage({ model: "remote-tiny" });
    const res = await client.chat.completions.create({ model: "remote-tiny", messages: [{ role: "user", content: "count me" }], max_tokens: 5 });
    const after = await store.ledger.usage({ model: "remote-tiny" });
    const delta = (k: "promptTokens" | "completionTokens" | "requests" | "cost"): number => (after[0]?.[k] ?? 0) - (before[0]?.[k] ?? 0);
    assert.equal(delta("requests"), 1);
    assert.equal(delta("promptTokens"), res.usage?.prompt_tokens);
    assert.equal(delta("completionTokens"), res.usage?.completion_tokens);
    const expectedCost = ((res.usage?.prompt_tokens ?? 0) * 2 + (res.usage?.completion_tokens ?? 0) * 8) / 1e6;
    assert.ok(Math.abs(delta("cost") - expectedCost) < 1e-12, `cost ${delta("cost")} vs ${expectedCost}`);
  });

  test("streams pass through as they arrive, with usage asked upstream and withheld from a client that did not ask", async () => {
    f1.fault = withShortModel({ kind: "ok", chunkDelayMs: 60 });
    f2.fault = { kind: "ok", chunkDelayMs: 60 };
    try {
      const arrivals: number[] = [];
      let sawUsage = false;
      const stream = await client.chat.completions.create({ model: "fake", messages: [{ role: "user", content: "one two three" }], max_tokens: 8, stream: true });
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta.content) arrivals.push(performance.now());
        if (chunk.usage) sawUsage = true;
      }
      assert.equal(arrivals.length, 8);
      const spread = arrivals[arrivals.length - 1]! - arrivals[0]!;
      console.log(`# pass-through: 8 chunks 60 ms apart upstream arrived over ${spread.toFixed(0)} ms`);
      assert.ok(spread > 0.6 * 7 * 60, "chunks were not buffered");
      assert.equal(sawUsage, false, "no usage chunk for a client that did not ask");
      const sent = [...f1.requests, ...f2.requests].filter((r) => r.body?.stream === true).at(-1);
      assert.deepEqual(sent?.body?.stream_options, { include_usage: true }, "the gateway asks the upstream for usage");
      assert.equal(sent?.headers.authorization, `Bearer ${fakeKey}`, "the provider key goes upstream");
    } finally {
      f1.fault = withShortModel({ kind: "ok" });
      f2.fault = { kind: "ok" };
    }
  });

  test("a dead deployment: retried on the other one, billed once", async () => {
    await f1.stop();
    try {
      const before = await ledgerRows("fake");
      const servedBefore = f2.requests.length;
      for (let i = 0; i < 6; i++) {
        const res = await client.chat.completions.create({ model: "fake", messages: [{ role: "user", content: `failover ${i}` }], max_tokens: 3 });
        assert.equal(res.choices[0]?.finish_reason, "stop");
      }
      assert.equal(f2.requests.length - servedBefore, 6, "every request was served by the live deployment");
      assert.equal((await ledgerRows("fake")) - before, 6, "one ledger row per client request, whatever the retries");
    } finally {
      await f1.start();
    }
  });

  test("a 500 then success: the client never sees the failure", async () => {
    f1.queue.push({ kind: "status", status: 500 });
    f2.queue.push({ kind: "status", status: 500 });
    const res = await client.chat.completions.create({ model: "fake", messages: [{ role: "user", content: "flaky" }], max_tokens: 2 });
    assert.equal(res.choices.length, 1);
  });

  test("a client disconnect cancels the upstream request", async () => {
    f1.fault = withShortModel({ kind: "ok", chunkDelayMs: 100 });
    f2.fault = { kind: "ok", chunkDelayMs: 100 };
    try {
      const abortedBefore = f1.aborted + f2.aborted;
      const controller = new AbortController();
      const stream = await client.chat.completions.create(
        { model: "fake", messages: [{ role: "user", content: "long answer please" }], max_tokens: 100, stream: true },
        { signal: controller.signal },
      );
      let seen = 0;
      try {
        for await (const chunk of stream) if (chunk.choices[0]?.delta.content && ++seen === 2) controller.abort();
      } catch {
        // the SDK may surface the abort as an error
      }
      assert.equal(seen, 2);
      const start = Date.now();
      while (f1.aborted + f2.aborted === abortedBefore) {
        assert.ok(Date.now() - start < 2000, "the upstream saw the request abandoned");
        await sleep(20);
      }
    } finally {
      f1.fault = withShortModel({ kind: "ok" });
      f2.fault = { kind: "ok" };
    }
  });

  test("a prompt too long for a model falls back to the next model in its chain", async () => {
    const res = await client.chat.completions.create({ model: "short", messages: [{ role: "user", content: "a prompt that is far too long" }], max_tokens: 3 });
    assert.equal(res.model, "fake", "the response names the model that served");
    assert.ok((res.choices[0]?.message.content ?? "").length > 0);
  });

  test("upstream errors keep OpenAI's shape; provider keys never leak", async () => {
    const res = await postJson(gateway.baseURL, "/chat/completions", { model: "misconfigured", messages: [{ role: "user", content: "hi" }] }, {
      authorization: `Bearer ${client.apiKey}`,
    });
    assert.equal(res.status, 502);
    const text = await res.text();
    assertMatchesSchema("ErrorResponse", JSON.parse(text));
    assert.doesNotMatch(text, /sk-wrong-provider-key|sk-fake-provider|sk-upstream-chatport/);
    const logs = gateway.logs.join("\n");
    assert.doesNotMatch(logs, /sk-wrong-provider-key|sk-fake-provider-secret|sk-upstream-chatport-secret/);
  });

  test("image parts pass through to a multimodal upstream; a text-only local model refuses them", async () => {
    const content: OpenAI.ChatCompletionContentPart[] = [
      { type: "text", text: "what is in this picture" },
      { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=", detail: "low" } },
    ];
    const res = await client.chat.completions.create({ model: "vision", messages: [{ role: "user", content }], max_tokens: 3, temperature: 0.2, top_p: 0.9 });
    assert.equal(res.choices.length, 1);
    const sent = f2.requests.filter((r) => r.body?.model === "vision-model").at(-1);
    assert.deepEqual((sent?.body?.messages as Array<{ content: unknown }>)[0]?.content, content, "content parts reach the upstream unchanged");
    assert.equal(sent?.body?.temperature, 0.2);
    assert.equal(sent?.body?.top_p, 0.9);
    await assert.rejects(
      client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content }], max_tokens: 3 }),
      (err: unknown) => err instanceof OpenAI.BadRequestError && /text only/.test(err.message),
    );
  });

  test("keys and limits apply to upstream models as to local ones", async () => {
    const key = await createKey({ name: "remote-only", models: ["gpt-4"], rpm: 2 });
    const limited = new OpenAI({ baseURL: gateway.baseURL, apiKey: key.secret, maxRetries: 0 });
    const ask = (model: string): Promise<OpenAI.ChatCompletion> => limited.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 2 });
    await ask("gpt-4");
    await assert.rejects(ask("fake"), OpenAI.PermissionDeniedError);
    await ask("gpt-4");
    await assert.rejects(ask("gpt-4"), OpenAI.RateLimitError);
  });
});
