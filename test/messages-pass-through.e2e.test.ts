/**
 * The Anthropic Messages API passed through to upstreams that serve it (a
 * provider's `apis: ["messages"]`): the official `@anthropic-ai/sdk` through
 * a gateway process to the fake upstream's `/v1/messages`. The upstream gets
 * the client's Messages body (model renamed, max_tokens as capped) with
 * `x-api-key` and `anthropic-version`; its message or named events come back
 * as ours (text, thinking, tool_use, stop reasons, usage with the cache read),
 * metered in the ledger and held to a key's token window; failover to a
 * chat-only deployment translates instead; an error event mid-stream ends our
 * stream in `event: error`; an upstream error's echo of the key is scrubbed.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import SqliteDatabase from "better-sqlite3";
import { startFakeUpstream, type FakeUpstream, type RecordedRequest } from "../src/upstream/fake-upstream.js";
import { fakeMessagesInputTokens } from "../src/upstream/fake-messages.js";
import { assertEventOrder, parseNamedEvents, type StreamEvent } from "./helpers/anthropic-stream.js";
import { createKey, postJson, startServer, tempDbPath, type RunningServer } from "./helpers/server.js";

const fakeKey = "sk-messages-pass-through-fake-key";
const adminKey = "sk-messages-pass-through-admin-key";
const timeouts = { connectMs: 1000, firstByteMs: 3000, idleMs: 3000 };
let fake: FakeUpstream;
let gateway: RunningServer;
let gatewayDb: string;
let client: Anthropic;

interface LedgerRecord {
  id: string;
  key_id: string | null;
  status: string;
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
const rootOf = (s: RunningServer): string => s.baseURL.replace(/\/v1$/, "");

before(async () => {
  fake = await startFakeUpstream({ apiKey: fakeKey, models: ["fake-model"] });
  gatewayDb = tempDbPath();
  const configFile = path.join(path.dirname(gatewayDb), "config.json");
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      providers: [
        { id: "fake-messages", baseUrl: fake.url, apiKeyEnv: "FAKE_KEY", healthCheckMs: 0, timeouts, apis: ["messages"] },
        { id: "fake-chat", baseUrl: fake.url, apiKeyEnv: "FAKE_KEY", healthCheckMs: 0, timeouts },
      ],
      upstreamModels: [
        { id: "fake", deployments: [{ provider: "fake-messages", model: "fake-model" }], retries: 0 },
        {
          id: "mixed",
          deployments: [
            { provider: "fake-messages", model: "fake-model", priority: 0 },
            { provider: "fake-chat", model: "fake-model", priority: 1 },
          ],
          retries: 1,
        },
      ],
    }),
  );
  gateway = await startServer({ models: {}, args: ["--config", configFile, "--db-path", gatewayDb], adminKey, env: { FAKE_KEY: fakeKey } });
  client = new Anthropic({ baseURL: rootOf(gateway), apiKey: adminKey, maxRetries: 0, timeout: 60_000 });
});

after(async () => {
  await gateway?.stop();
  await fake?.close();
});

const lastRequest = (): RecordedRequest => {
  const recorded = fake.requests.at(-1);
  assert.ok(recorded?.body, "the fake upstream got a request");
  return recorded;
};

/** What the upstream was sent, asserting it went to its Messages endpoint. */
const lastMessagesBody = (): Record<string, unknown> => {
  const recorded = lastRequest();
  assert.equal(recorded.path, "/v1/messages", "the upstream was asked in the Messages API, not chat completions");
  return recorded.body!;
};

const weather: Anthropic.Tool = { name: "get_weather", description: "Weather", input_schema: { type: "object", properties: { input: { type: "string" } }, required: ["input"] } };

describe("Messages API passed through to a fake Messages upstream", () => {
  test("create: the body goes to /v1/messages as sent (model renamed) with Anthropic's headers; content, stop reason and usage come back and are metered", async () => {
    const res = await client.messages.create({
      model: "fake",
      max_tokens: 3,
      system: [{ type: "text", text: "Be brief.", cache_control: { type: "ephemeral" } }],
      messages: [{ role: "user", content: "alpha beta gamma" }],
      metadata: { user_id: "u-1" },
    });
    assert.deepEqual(res.content, [{ type: "text", text: "alpha beta gamma", citations: null }]);
    assert.equal(res.model, "fake");
    assert.match(res.id, /^msg_/);
    const recorded = lastRequest();
    const body = lastMessagesBody();
    assert.equal(body.model, "fake-model");
    assert.equal(body.max_tokens, 3);
    assert.deepEqual(body.system, [{ type: "text", text: "Be brief.", cache_control: { type: "ephemeral" } }], "the client's blocks, cache_control kept");
    assert.deepEqual(body.messages, [{ role: "user", content: "alpha beta gamma" }]);
    assert.deepEqual(body.metadata, { user_id: "u-1" });
    assert.equal(recorded.headers["x-api-key"], fakeKey);
    assert.equal(recorded.headers.authorization, `Bearer ${fakeKey}`);
    assert.equal(recorded.headers["anthropic-version"], "2023-06-01");
    // The reply filled max_tokens: the upstream said so.
    assert.equal(res.stop_reason, "max_tokens");
    // The upstream's counts: system 3+2 (read from its cache), user 3+3.
    assert.deepEqual(
      { input: res.usage.input_tokens, cacheRead: res.usage.cache_read_input_tokens, output: res.usage.output_tokens },
      { input: 6, cacheRead: 5, output: 3 },
    );
    const row = ledgerRow(res.id);
    assert.ok(row, "one ledger row, keyed by the message id");
    assert.deepEqual(
      { status: row.status, prompt: row.prompt_tokens, cached: row.cached_tokens, completion: row.completion_tokens, estimated: row.usage_estimated },
      { status: "ok", prompt: 11, cached: 5, completion: 3, estimated: 0 },
    );

    const short = await client.messages.create({ model: "fake", max_tokens: 100, messages: [{ role: "user", content: "one two" }] });
    assert.equal(short.stop_reason, "end_turn");
    assert.equal(short.usage.output_tokens, 8, "the fake's whole reply");
  });

  test("stream with thinking: the upstream's named events become ours, in order; thought, text and usage in the final message and the ledger", async () => {
    const stream = client.messages.stream({ model: "fake", max_tokens: 5, thinking: { type: "enabled", budget_tokens: 1024 }, messages: [{ role: "user", content: "one two three" }] });
    const events: StreamEvent[] = [];
    for await (const event of stream) events.push(event as unknown as StreamEvent);
    assertEventOrder(events);
    const final = await stream.finalMessage();
    assert.equal(lastMessagesBody().stream, true);
    assert.deepEqual(lastMessagesBody().thinking, { type: "enabled", budget_tokens: 1024 });
    assert.deepEqual(
      final.content.map((b) => b.type),
      ["thinking", "text"],
    );
    const [thought, text] = final.content;
    assert.ok(thought?.type === "thinking" && text?.type === "text");
    assert.equal(thought.thinking, "think0 think1");
    assert.equal(text.text, "one two three");
    assert.equal(final.stop_reason, "max_tokens");
    assert.deepEqual({ input: final.usage.input_tokens, output: final.usage.output_tokens, cacheRead: final.usage.cache_read_input_tokens }, { input: 6, output: 5, cacheRead: 0 });
    const row = ledgerRow(final.id);
    assert.ok(row);
    assert.deepEqual(
      { status: row.status, prompt: row.prompt_tokens, completion: row.completion_tokens, reasoning: row.reasoning_tokens, estimated: row.usage_estimated },
      { status: "ok", prompt: 6, completion: 5, reasoning: 2, estimated: 0 },
    );
  });

  test("tool_use round trip: the upstream's call comes back as tool_use (streamed and not); the next turn reaches it as the client wrote it", async () => {
    const called = await client.messages.create({ model: "fake", max_tokens: 20, messages: [{ role: "user", content: "lookup" }], tools: [weather], tool_choice: { type: "any" } });
    assert.deepEqual(lastMessagesBody().tool_choice, { type: "any" });
    assert.deepEqual(lastMessagesBody().tools, [weather]);
    assert.equal(called.stop_reason, "tool_use");
    const call = called.content[0];
    assert.ok(call?.type === "tool_use");
    assert.match(call.id, /^toolu_/);
    assert.equal(call.name, "get_weather");
    assert.deepEqual(call.input, { input: "lookup" });

    const stream = client.messages.stream({ model: "fake", max_tokens: 20, messages: [{ role: "user", content: "where" }], tools: [weather], tool_choice: { type: "tool", name: "get_weather" } });
    const events: StreamEvent[] = [];
    for await (const event of stream) events.push(event as unknown as StreamEvent);
    assertEventOrder(events);
    const streamed = await stream.finalMessage();
    assert.equal(streamed.stop_reason, "tool_use");
    const streamedCall = streamed.content[0];
    assert.ok(streamedCall?.type === "tool_use");
    assert.deepEqual(streamedCall.input, { input: "where" });
    assert.ok(events.some((e) => e.delta?.type === "input_json_delta"), "the arguments streamed");

    const messages: Anthropic.MessageParam[] = [
      { role: "user", content: "lookup" },
      { role: "assistant", content: [{ type: "tool_use", id: call.id, name: call.name, input: call.input }] },
      { role: "user", content: [{ type: "tool_result", tool_use_id: call.id, content: "sunny today", is_error: false }] },
    ];
    const answer = await client.messages.create({ model: "fake", max_tokens: 2, tools: [weather], tool_choice: { type: "none" }, messages });
    assert.deepEqual(lastMessagesBody().messages, messages, "the conversation as the client wrote it, tool ids and all");
    assert.equal(answer.stop_reason, "max_tokens");
    assert.deepEqual(answer.content, [{ type: "text", text: "lookup lookup", citations: null }]);
  });

  test("a key's token window caps max_tokens upstream, and a prompt beyond it is refused in Anthropic's shape", async () => {
    const capped = await createKey(gateway, adminKey, { name: "tpm-capped", tpm: 120 });
    const limited = new Anthropic({ baseURL: rootOf(gateway), apiKey: capped.secret, maxRetries: 0 });
    const res = await limited.messages.create({ model: "fake", max_tokens: 5000, messages: [{ role: "user", content: "alpha beta" }] });
    const sent = lastMessagesBody().max_tokens;
    assert.equal(typeof sent, "number");
    assert.ok((sent as number) > 0 && (sent as number) < 120, `max_tokens ${String(sent)} within the window`);
    assert.equal(ledgerRow(res.id)?.key_id, capped.id);
    const before = fake.requests.length;
    await assert.rejects(limited.messages.create({ model: "fake", max_tokens: 5, messages: [{ role: "user", content: "word ".repeat(400) }] }), (err: unknown) => {
      assert.ok(err instanceof Anthropic.RateLimitError, String(err));
      assert.equal((err.error as { error: { type: string } }).error.type, "rate_limit_error");
      return true;
    });
    assert.equal(fake.requests.length, before, "refused before the upstream");
  });

  test("failover: a Messages deployment failing before the first byte hands the request to a chat-only one, translated", async () => {
    fake.queue.push({ kind: "status", status: 500 });
    const before = fake.requests.length;
    const res = await client.messages.create({ model: "mixed", max_tokens: 2, messages: [{ role: "user", content: "red green" }] });
    assert.deepEqual(res.content, [{ type: "text", text: "red green", citations: null }]);
    assert.deepEqual(
      fake.requests.slice(before).map((r) => r.path),
      ["/v1/messages", "/v1/chat/completions"],
    );
    assert.equal(ledgerOf(gatewayDb).filter((row) => row.id === res.id).length, 1, "one row for the request, whatever the attempts");
  });

  test("an upstream error event mid-stream: our deltas so far, then event: error, and a row that says error", async () => {
    fake.queue.push({ kind: "error-event", afterChunks: 2 });
    const res = await postJson(rootOf(gateway), "/v1/messages", { model: "fake", max_tokens: 5, stream: true, messages: [{ role: "user", content: "one two three four five" }] }, { "x-api-key": adminKey });
    assert.equal(res.status, 200);
    const events = parseNamedEvents(await res.text());
    assert.equal(events[0]?.type, "message_start");
    assert.equal(events.filter((e) => e.delta?.type === "text_delta").length, 2);
    const last = events.at(-1) as unknown as { type: string; error: { type: string; message: string } };
    assert.equal(last.type, "error");
    assert.ok(!events.some((e) => e.type === "message_stop"), "a failed stream never stops as a success");
    const id = (events[0] as unknown as { message: { id: string } }).message.id;
    assert.equal(ledgerRow(id)?.status, "error");
  });

  test("countTokens: the Messages upstream counts the body as sent (model renamed, Anthropic's headers); when it cannot, the gateway's estimate answers", async () => {
    const body = { model: "fake", system: "Be brief.", messages: [{ role: "user" as const, content: "one two three four" }], tools: [weather] };
    const before = fake.requests.length;
    const counted = await client.messages.countTokens(body);
    const sent = fake.requests.slice(before);
    assert.deepEqual(
      sent.map((r) => r.path),
      ["/v1/messages/count_tokens"],
    );
    assert.deepEqual(sent[0]?.body, { ...body, model: "fake-model" });
    assert.equal(sent[0]?.headers["x-api-key"], fakeKey);
    assert.ok(typeof sent[0]?.headers["anthropic-version"] === "string");
    assert.equal(counted.input_tokens, fakeMessagesInputTokens({ ...body }), "the upstream's own count");

    // An upstream refusal (its key in the body): the estimate from above, nothing of the provider's answer.
    fake.queue.push({ kind: "status", status: 500, body: { error: { message: `down for ${fakeKey}` } } });
    const estimated = await client.messages.countTokens(body);
    assert.ok(estimated.input_tokens >= counted.input_tokens, `${estimated.input_tokens} bounds the upstream's count from above`);
    assert.equal(JSON.stringify(estimated), JSON.stringify({ input_tokens: estimated.input_tokens }));
    // A chat-only deployment has no count: "mixed" asks only its Messages one.
    const mixedBefore = fake.requests.length;
    await client.messages.countTokens({ ...body, model: "mixed" });
    assert.deepEqual(
      fake.requests.slice(mixedBefore).map((r) => r.path),
      ["/v1/messages/count_tokens"],
    );
  });

  test("an upstream refusal in Anthropic's shape comes back as the same status, the provider's key scrubbed", async () => {
    fake.queue.push({ kind: "status", status: 400, body: { type: "error", error: { type: "invalid_request_error", message: `bad request for key ${fakeKey}` } } });
    await assert.rejects(client.messages.create({ model: "fake", max_tokens: 2, messages: [{ role: "user", content: "x" }] }), (err: unknown) => {
      assert.ok(err instanceof Anthropic.BadRequestError, String(err));
      const text = JSON.stringify(err.error);
      assert.ok(text.includes("bad request for key"), text);
      assert.ok(!text.includes(fakeKey), `the provider's key is scrubbed: ${text}`);
      return true;
    });
  });
});
