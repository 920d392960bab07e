/**
 * The Responses API passed through to upstreams that serve it (a provider's
 * `apis: ["responses"]`): the official `openai` SDK's responses.create /
 * stream / previous_response_id through a gateway process to a fake
 * Responses upstream and to a chatport upstream. The upstream gets
 * `/v1/responses` (not chat), the stored conversation inlined, `store:
 * false`; its usage (cached and reasoning tokens included) reaches the
 * response and the gateway's ledger row; failover to a chat-only deployment
 * translates instead. The Vercel AI SDK's default provider through it too.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, streamText, tool } from "ai";
import SqliteDatabase from "better-sqlite3";
import OpenAI from "openai";
import { z } from "zod";
import { startFakeUpstream, type FakeUpstream, type RecordedRequest } from "../src/upstream/fake-upstream.js";
import { freshFetch } from "./helpers/fresh-connections.js";
import { tinyModelPath } from "./helpers/models.js";
import { assertMatchesSchema } from "./helpers/openapi.js";
import { parseMetrics, sum } from "./helpers/prometheus.js";
import { postJson, startServer, tempDbPath, type RunningServer } from "./helpers/server.js";

const upstreamKey = "sk-pass-through-upstream-key";
const fakeKey = "sk-pass-through-fake-key";
const adminKey = "sk-pass-through-admin-key";
const timeouts = { connectMs: 1000, firstByteMs: 3000, idleMs: 3000 };
let upstream: RunningServer;
let upstreamDb: string;
let fake: FakeUpstream;
let gateway: RunningServer;
let gatewayDb: string;
let client: OpenAI;

interface LedgerRecord {
  id: string;
  status: string;
  http_status: number;
  prompt_tokens: number;
  cached_tokens: number;
  completion_tokens: number;
  reasoning_tokens: number;
  usage_estimated: number;
}

function ledgerOf(dbPath: string): LedgerRecord[] {
  const db = new SqliteDatabase(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare("select * from ledger order by created_at, rowid").all() as LedgerRecord[];
  } finally {
    db.close();
  }
}

const ledgerRow = (id: string): LedgerRecord | undefined => ledgerOf(gatewayDb).find((row) => row.id === id);

before(async () => {
  upstreamDb = tempDbPath();
  upstream = await startServer({ models: { tiny: await tinyModelPath() }, args: ["--threads", "1", "--parallel", "2", "--ctx", "2048", "--db-path", upstreamDb], apiKey: upstreamKey });
  fake = await startFakeUpstream({ apiKey: fakeKey, models: ["fake-model"] });
  gatewayDb = tempDbPath();
  const configFile = path.join(path.dirname(gatewayDb), "config.json");
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      providers: [
        { id: "chatport-up", baseUrl: upstream.baseURL, apiKeyEnv: "UP_KEY", healthCheckMs: 0, apis: ["responses"] },
        { id: "fake-responses", baseUrl: fake.url, apiKeyEnv: "FAKE_KEY", healthCheckMs: 0, timeouts, apis: ["responses"] },
        { id: "fake-chat", baseUrl: fake.url, apiKeyEnv: "FAKE_KEY", healthCheckMs: 0, timeouts },
      ],
      upstreamModels: [
        { id: "remote-tiny", deployments: [{ provider: "chatport-up", model: "tiny" }], contextLength: 2048 },
        { id: "fake", deployments: [{ provider: "fake-responses", model: "fake-model" }], retries: 0 },
        {
          id: "mixed",
          deployments: [
            { provider: "fake-responses", model: "fake-model", priority: 0 },
            { provider: "fake-chat", model: "fake-model", priority: 1 },
          ],
          retries: 1,
        },
      ],
    }),
  );
  gateway = await startServer({ models: {}, args: ["--config", configFile, "--db-path", gatewayDb], adminKey, env: { UP_KEY: upstreamKey, FAKE_KEY: fakeKey } });
  // The admin key is unlimited (and keyless in the ledger), as the dashboard's playground uses it.
  client = new OpenAI({ baseURL: gateway.baseURL, apiKey: adminKey, maxRetries: 0, timeout: 120_000, fetch: freshFetch });
});

after(async () => {
  await gateway?.stop();
  await Promise.all([upstream?.stop(), fake?.close()]);
});

const lastRequest = (): RecordedRequest => {
  const recorded = fake.requests.at(-1);
  assert.ok(recorded?.body, "the fake upstream got a request");
  return recorded;
};

/** What the upstream was sent, asserting it went to its Responses endpoint. */
const lastResponsesBody = (): Record<string, unknown> => {
  const recorded = lastRequest();
  assert.equal(recorded.path, "/v1/responses", "the upstream was asked in the Responses API, not chat completions");
  return recorded.body!;
};

describe("Responses API passed through to a fake Responses upstream", () => {
  test("create: the body goes to /v1/responses as sent (model renamed, store false); output, status and usage come back and are metered", async () => {
    const res = await client.responses.create({ model: "fake", instructions: "Be brief.", input: "alpha beta gamma", max_output_tokens: 3, metadata: { topic: "x" }, store: false });
    assertMatchesSchema("Response", res);
    assert.equal(res.output_text, "alpha beta gamma");
    const body = lastResponsesBody();
    assert.equal(body.model, "fake-model");
    assert.equal(body.input, "alpha beta gamma");
    assert.equal(body.instructions, "Be brief.");
    assert.equal(body.max_output_tokens, 3);
    assert.equal(body.store, false);
    assert.deepEqual(body.metadata, { topic: "x" });
    assert.equal("previous_response_id" in body, false);
    // The fake cut the reply at max_output_tokens: incomplete, as the upstream said.
    assert.equal(res.status, "incomplete");
    assert.equal(res.incomplete_details?.reason, "max_output_tokens");
    // The upstream's own counts: system 3+2, user 3+3; the system message reported as cached.
    assert.equal(res.usage?.input_tokens, 11);
    assert.equal(res.usage?.input_tokens_details.cached_tokens, 5);
    assert.equal(res.usage?.output_tokens, 3);
    const row = ledgerRow(res.id);
    assert.ok(row, "one ledger row, keyed by the response id");
    assert.deepEqual(
      { status: row.status, prompt: row.prompt_tokens, cached: row.cached_tokens, completion: row.completion_tokens, estimated: row.usage_estimated },
      { status: "ok", prompt: 11, cached: 5, completion: 3, estimated: 0 },
    );
  });

  test("stream: the upstream's typed events become ours (each matching the schema); reasoning and its token count pass through", async () => {
    const stream = client.responses.stream({ model: "fake", input: "one two three", reasoning: { effort: "low" }, max_output_tokens: 5, store: false });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    for (const event of events) assertMatchesSchema("ResponseStreamEvent", event);
    assert.deepEqual(
      events.map((e) => e.sequence_number),
      events.map((_, i) => i),
    );
    const final = await stream.finalResponse();
    const body = lastResponsesBody();
    assert.equal(body.stream, true);
    assert.deepEqual(body.reasoning, { effort: "low" });
    const reasoning = final.output.find((item) => item.type === "reasoning");
    assert.ok(reasoning?.type === "reasoning");
    assert.equal(reasoning.content?.map((c) => c.text).join(""), "think0 think1");
    assert.equal(final.output_text, "one two three");
    assert.equal(events.filter((e) => e.type === "response.output_text.delta").length, 3, "one delta per upstream delta");
    assert.equal(final.usage?.output_tokens_details.reasoning_tokens, 2);
    assert.equal(final.usage?.output_tokens, 5);
    const row = ledgerRow(final.id);
    assert.equal(row?.reasoning_tokens, 2);
    assert.equal(row?.completion_tokens, 5);
  });

  test("a function call, answered with previous_response_id: the stored conversation is inlined as input items, without our ids", async () => {
    const tools: OpenAI.Responses.FunctionTool[] = [{ type: "function", name: "search", parameters: { type: "object", properties: { input: { type: "string" } } }, strict: false }];
    const stream = client.responses.stream({ model: "fake", input: "lookup", tools });
    for await (const event of stream) assertMatchesSchema("ResponseStreamEvent", event);
    const first = await stream.finalResponse();
    const call = first.output.find((item) => item.type === "function_call");
    assert.ok(call?.type === "function_call");
    assert.equal(call.name, "search");
    assert.equal(call.call_id, "call_fake_0", "the upstream's call id");
    assert.deepEqual(JSON.parse(call.arguments), { input: "lookup" });

    const second = await client.responses.create({
      model: "fake",
      previous_response_id: first.id,
      input: [{ type: "function_call_output", call_id: call.call_id, output: "found it" }],
      max_output_tokens: 2,
    });
    const body = lastResponsesBody();
    assert.equal("previous_response_id" in body, false);
    assert.equal(body.store, false);
    assert.deepEqual(body.input, [
      { type: "message", role: "user", content: [{ type: "input_text", text: "lookup" }], status: "completed" },
      { type: "function_call", call_id: "call_fake_0", name: "search", arguments: call.arguments, status: "completed" },
      { type: "function_call_output", call_id: "call_fake_0", output: "found it" },
    ]);
    assert.equal(second.previous_response_id, first.id);
    assert.equal((await client.responses.retrieve(second.id)).output_text, second.output_text, "stored by the gateway");
  });

  test("metrics count a passed-through response as any other: prompt, cached and completion tokens of the model", async () => {
    const scrape = async (): Promise<Record<string, number>> => {
      const { samples } = parseMetrics(await (await freshFetch(gateway.baseURL.replace("/v1", "/metrics"))).text());
      const of = (name: string): number => sum(samples, name, { model: "fake" });
      return {
        requests: sum(samples, "chatport_requests_total", { api: "responses", model: "fake" }),
        chat: of("chatport_chat_requests_total"),
        prompt: of("chatport_prompt_tokens_total"),
        cached: of("chatport_cached_prompt_tokens_total"),
        completion: of("chatport_completion_tokens_total"),
      };
    };
    const before = await scrape();
    const res = await client.responses.create({ model: "fake", instructions: "Be brief.", input: "alpha beta", max_output_tokens: 2, store: false });
    const after = await scrape();
    assert.deepEqual(
      Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)])),
      { requests: 1, chat: 0, prompt: res.usage?.input_tokens, cached: res.usage?.input_tokens_details.cached_tokens, completion: 2 },
    );
    assert.equal(res.usage?.input_tokens_details.cached_tokens, 5, "the upstream's cached count");
  });

  test("a key's token window caps the completion: the upstream gets the cap as max_output_tokens", async () => {
    const created = await postJson(gateway.baseURL.replace("/v1", "/admin"), "/keys", { name: "tpm-capped", tpm: 120 }, { authorization: `Bearer ${adminKey}` });
    assert.equal(created.status, 201);
    const { secret } = (await created.json()) as { secret: string };
    const capped = new OpenAI({ baseURL: gateway.baseURL, apiKey: secret, maxRetries: 0 });
    const res = await capped.responses.create({ model: "fake", input: "alpha beta", max_output_tokens: 5000, store: false });
    const sent = lastResponsesBody().max_output_tokens;
    assert.equal(typeof sent, "number");
    assert.ok((sent as number) > 0 && (sent as number) < 120, `max_output_tokens ${String(sent)} within the window`);
    assert.equal(res.usage?.output_tokens, sent, "the fake wrote as many tokens as it was allowed");
    assert.equal(res.status, "incomplete");
  });

  test("failover: a Responses deployment failing before the first byte hands the request to a chat-only one, translated", async () => {
    fake.queue.push({ kind: "status", status: 500 });
    const before = fake.requests.length;
    const res = await client.responses.create({ model: "mixed", input: "red green", max_output_tokens: 2, store: false });
    assert.equal(res.output_text, "red green");
    assert.deepEqual(
      fake.requests.slice(before).map((r) => r.path),
      ["/v1/responses", "/v1/chat/completions"],
    );
    assert.equal(ledgerOf(gatewayDb).filter((row) => row.id === res.id).length, 1, "one row for the request, whatever the attempts");
  });

  test("an upstream error event mid-stream: our error event, response.failed, and a row that says error", async () => {
    fake.queue.push({ kind: "error-event", afterChunks: 2 });
    const res = await postJson(gateway.baseURL, "/responses", { model: "fake", input: "one two three four five", max_output_tokens: 5, stream: true, store: false }, { authorization: `Bearer ${adminKey}` });
    assert.equal(res.status, 200);
    const events = (await res.text())
      .split("\n\n")
      .filter((block) => block.trim() !== "")
      .map((block) => JSON.parse(block.split("\n")[1]!.replace(/^data: /, "")) as { type: string; response?: { id: string } });
    for (const event of events) assertMatchesSchema("ResponseStreamEvent", event);
    assert.equal(events.filter((e) => e.type === "response.output_text.delta").length, 2);
    assert.deepEqual(
      events.slice(-2).map((e) => e.type),
      ["error", "response.failed"],
    );
    const id = events.at(-1)?.response?.id ?? "";
    assert.equal(ledgerRow(id)?.status, "error");
  });
});

describe("the Vercel AI SDK's default provider through the pass-through", () => {
  test("generateText, streamText and a required tool call against the fake Responses upstream", async () => {
    const model = createOpenAI({ baseURL: gateway.baseURL, apiKey: adminKey, fetch: freshFetch })("fake");
    const generated = await generateText({ model, prompt: "red green blue", maxOutputTokens: 3, maxRetries: 0 });
    assert.equal(lastResponsesBody().max_output_tokens, 3);
    assert.equal(generated.text, "red green blue");
    assert.equal(generated.finishReason, "length");
    assert.deepEqual([generated.usage.inputTokens, generated.usage.outputTokens], [6, 3]);

    const stream = streamText({ model, prompt: "one two", maxOutputTokens: 2, maxRetries: 0 });
    let streamed = "";
    for await (const part of stream.textStream) streamed += part;
    assert.equal(lastResponsesBody().stream, true);
    assert.equal(streamed, "one two");
    assert.equal((await stream.usage).outputTokens, 2);

    const called = await generateText({
      model,
      prompt: "lookup",
      tools: { search: tool({ description: "Search", inputSchema: z.object({ input: z.string() }) }) },
      toolChoice: "required",
      maxRetries: 0,
    });
    assert.equal(lastResponsesBody().tool_choice, "required");
    assert.deepEqual(
      called.toolCalls.map((c) => [c.toolName, c.input]),
      [["search", { input: "lookup" }]],
    );
  });
});

describe("Responses API passed through to a chatport upstream", () => {
  test("three turns with previous_response_id: the upstream answers the Responses API itself, stores nothing, and its usage is ours", async () => {
    const before = ledgerOf(upstreamDb).length;
    const turns: OpenAI.Responses.Response[] = [];
    for (const [i, text] of ["hello upstream", "tell me more", "and again"].entries()) {
      const params = { model: "remote-tiny", input: text, max_output_tokens: 3, ...(i > 0 ? { previous_response_id: turns[i - 1]!.id } : {}) };
      if (i === 1) {
        const stream = client.responses.stream(params);
        for await (const event of stream) assertMatchesSchema("ResponseStreamEvent", event);
        turns.push(await stream.finalResponse());
      } else {
        turns.push(await client.responses.create(params));
      }
    }
    for (const turn of turns) assertMatchesSchema("Response", turn);
    const upstreamRows = ledgerOf(upstreamDb).slice(before);
    assert.equal(upstreamRows.length, 3);
    for (const [i, row] of upstreamRows.entries()) {
      assert.match(row.id, /^resp_/, "the upstream served /v1/responses (a chat completion's row would be chatcmpl-…)");
      const turn = turns[i]!;
      const ours = ledgerRow(turn.id);
      assert.deepEqual(
        [ours?.prompt_tokens, ours?.cached_tokens, ours?.completion_tokens, ours?.usage_estimated],
        [row.prompt_tokens, row.cached_tokens, row.completion_tokens, 0],
        "the gateway meters the upstream's own counts",
      );
      assert.equal(turn.usage?.input_tokens, row.prompt_tokens);
      assert.equal(turn.usage?.input_tokens_details.cached_tokens, row.cached_tokens);
      if (i > 0) {
        const previous = turns[i - 1]!;
        assert.ok((turn.usage?.input_tokens ?? 0) > (previous.usage?.input_tokens ?? 0) + (previous.usage?.output_tokens ?? 0), "the conversation was inlined");
        assert.ok((turn.usage?.input_tokens_details.cached_tokens ?? 0) > 0, "the upstream served the inlined conversation from its KV cache");
      }
    }
    const db = new SqliteDatabase(upstreamDb, { readonly: true, fileMustExist: true });
    try {
      assert.equal((db.prepare("select count(*) as n from responses").get() as { n: number }).n, 0, "the upstream was sent store: false");
    } finally {
      db.close();
    }
    assert.equal((await client.responses.retrieve(turns[2]!.id)).previous_response_id, turns[1]!.id);
  });
});
