/**
 * The Anthropic Messages API on upstream models, translated to chat
 * completions and back: a fake upstream that speaks only chat completions
 * (what it is sent is checked field by field) and a chatport upstream (a
 * real model behind the gateway), through the official `@anthropic-ai/sdk`.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import { fakePromptTokens, startFakeUpstream, type FakeUpstream } from "../src/upstream/fake-upstream.js";
import { assertEventOrder, parseNamedEvents, type StreamEvent } from "./helpers/anthropic-stream.js";
import { tinyModelPath } from "./helpers/models.js";
import { postJson, startServer, tempDbPath, type RunningServer } from "./helpers/server.js";

const upstreamKey = "sk-anthropic-upstream-key";
const fakeKey = "sk-anthropic-fake-key";
const gatewayKey = "sk-anthropic-gateway-key";
let upstream: RunningServer;
let fake: FakeUpstream;
let gateway: RunningServer;
let client: Anthropic;

const rootOf = (s: RunningServer): string => s.baseURL.replace(/\/v1$/, "");

before(async () => {
  upstream = await startServer({ models: { tiny: await tinyModelPath() }, args: ["--threads", "1", "--parallel", "2", "--ctx", "2048"], apiKey: upstreamKey });
  fake = await startFakeUpstream({ apiKey: fakeKey, models: ["fake-model"] });
  const dbPath = tempDbPath();
  const configFile = path.join(path.dirname(dbPath), "config.json");
  const timeouts = { connectMs: 1000, firstByteMs: 3000, idleMs: 30_000 };
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      providers: [
        { id: "chatport-up", baseUrl: upstream.baseURL, apiKeyEnv: "UP_KEY", healthCheckMs: 0 },
        { id: "fake", baseUrl: fake.url, apiKeyEnv: "FAKE_KEY", healthCheckMs: 0, timeouts },
        { id: "fake-narrow", baseUrl: fake.url, apiKeyEnv: "FAKE_KEY", healthCheckMs: 0, timeouts, maxConcurrent: 1 },
      ],
      upstreamModels: [
        { id: "remote-tiny", deployments: [{ provider: "chatport-up", model: "tiny" }], contextLength: 2048 },
        { id: "fake", deployments: [{ provider: "fake", model: "fake-model" }], retries: 0, acceptsMedia: true },
        { id: "narrow", deployments: [{ provider: "fake-narrow", model: "fake-model" }], retries: 0 },
      ],
    }),
  );
  gateway = await startServer({ models: {}, args: ["--config", configFile, "--db-path", dbPath], apiKey: gatewayKey, env: { UP_KEY: upstreamKey, FAKE_KEY: fakeKey } });
  client = new Anthropic({ baseURL: rootOf(gateway), apiKey: gatewayKey, maxRetries: 0, timeout: 60_000 });
});

after(async () => {
  await gateway?.stop();
  await Promise.all([upstream?.stop(), fake?.close()]);
});

const lastChatBody = (): Record<string, unknown> => {
  const recorded = fake.requests.filter((r) => r.path === "/v1/chat/completions").at(-1);
  assert.ok(recorded?.body, "the fake upstream got a chat completion");
  return recorded.body;
};

const weather: Anthropic.Tool = { name: "get_weather", description: "Weather", input_schema: { type: "object", properties: { input: { type: "string" } }, required: ["input"] } };

describe("Messages API on a fake upstream (chat completions only)", () => {
  test("system and messages become chat messages; the answer and the upstream's usage come back as a message", async () => {
    const res = await client.messages.create({ model: "fake", max_tokens: 3, system: "Be brief.", messages: [{ role: "user", content: "alpha beta gamma" }], stop_sequences: ["zz"], metadata: { user_id: "u-1" } });
    assert.deepEqual(res.content, [{ type: "text", text: "alpha beta gamma", citations: null }]);
    assert.equal(res.model, "fake");
    assert.equal(res.stop_reason, "end_turn");
    const body = lastChatBody();
    assert.deepEqual(body.messages, [
      { role: "system", content: "Be brief." },
      { role: "user", content: "alpha beta gamma" },
    ]);
    assert.equal(body.model, "fake-model");
    assert.equal(body.max_completion_tokens, 3);
    assert.deepEqual(body.stop, ["zz"]);
    assert.equal(body.user, "u-1");
    assert.equal(res.usage.input_tokens, 3 + 2 + (3 + 3), "the upstream's own count: 3 per message + its words");
    assert.equal(res.usage.output_tokens, 3);
  });

  test("tool_choice any/tool/none and disable_parallel_tool_use translate; a call comes back as tool_use", async () => {
    const any = await client.messages.create({ model: "fake", max_tokens: 20, messages: [{ role: "user", content: "lookup" }], tools: [weather], tool_choice: { type: "any", disable_parallel_tool_use: true } });
    let body = lastChatBody();
    assert.equal(body.tool_choice, "required");
    assert.equal(body.parallel_tool_calls, false);
    assert.deepEqual(body.tools, [{ type: "function", function: { name: "get_weather", description: "Weather", parameters: weather.input_schema, strict: false } }]);
    assert.equal(any.stop_reason, "tool_use");
    const call = any.content[0];
    assert.ok(call?.type === "tool_use");
    assert.match(call.id, /^toolu_/);
    assert.equal(call.name, "get_weather");
    assert.deepEqual(call.input, { input: "lookup" });

    await client.messages.create({ model: "fake", max_tokens: 2, messages: [{ role: "user", content: "x" }], tools: [weather], tool_choice: { type: "tool", name: "get_weather" } });
    body = lastChatBody();
    assert.deepEqual(body.tool_choice, { type: "function", function: { name: "get_weather" } });
    assert.equal(body.parallel_tool_calls, undefined);
    const none = await client.messages.create({ model: "fake", max_tokens: 2, messages: [{ role: "user", content: "x" }], tools: [weather], tool_choice: { type: "none" } });
    assert.equal(lastChatBody().tool_choice, "none");
    assert.equal(none.content[0]?.type, "text");

    // The round trip: tool_use → an assistant tool call, tool_result (is_error) → a tool message.
    await client.messages.create({
      model: "fake",
      max_tokens: 2,
      tools: [weather],
      messages: [
        { role: "user", content: "lookup" },
        { role: "assistant", content: [{ type: "text", text: "Let me check." }, { type: "tool_use", id: call.id, name: call.name, input: call.input }] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: call.id, content: "no such city", is_error: true }, { type: "text", text: "and?" }] },
      ],
    });
    assert.deepEqual((lastChatBody().messages as unknown[]).slice(1), [
      { role: "assistant", content: "Let me check.", tool_calls: [{ id: call.id, type: "function", function: { name: "get_weather", arguments: JSON.stringify(call.input) } }] },
      { role: "tool", tool_call_id: call.id, content: "Error: no such city" },
      { role: "user", content: "and?" },
    ]);
  });

  test("streamed: events in order; a tool call streams as input_json_delta", async () => {
    const stream = client.messages.stream({ model: "fake", max_tokens: 20, messages: [{ role: "user", content: "lookup" }], tools: [weather], tool_choice: { type: "any" } });
    const events: StreamEvent[] = [];
    for await (const event of stream) events.push(event as unknown as StreamEvent);
    assertEventOrder(events);
    assert.ok(events.some((e) => e.delta?.type === "input_json_delta"));
    const final = await stream.finalMessage();
    assert.equal(final.stop_reason, "tool_use");
    assert.deepEqual((final.content[0] as Anthropic.ToolUseBlock).input, { input: "lookup" });
    assert.equal(lastChatBody().stream, true);
    assert.deepEqual(lastChatBody().stream_options, { include_usage: true });
  });

  test("thinking: the upstream is asked for reasoning; its reasoning comes back as a thinking block", async () => {
    const res = await client.messages.create({ model: "fake", max_tokens: 5, thinking: { type: "enabled", budget_tokens: 2048 }, messages: [{ role: "user", content: "why" }] });
    assert.equal(lastChatBody().reasoning_effort, "low");
    assert.deepEqual(
      res.content.map((b) => b.type),
      ["thinking", "text"],
    );
    assert.equal((res.content[0] as Anthropic.ThinkingBlock).thinking, "think0 think1");
  });

  test("an image goes to an upstream that takes media as an image_url part", async () => {
    await client.messages.create({
      model: "fake",
      max_tokens: 2,
      messages: [{ role: "user", content: [{ type: "text", text: "what is this" }, { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } }] }],
    });
    assert.deepEqual(lastChatBody().messages, [
      {
        role: "user",
        content: [
          { type: "text", text: "what is this" },
          { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } },
        ],
      },
    ]);
  });

  test("countTokens: an estimate from above, nothing sent upstream", async () => {
    const before = fake.requests.length;
    const messages: Anthropic.MessageParam[] = [{ role: "user", content: "one two three four" }];
    const counted = await client.messages.countTokens({ model: "fake", messages });
    assert.equal(fake.requests.length, before);
    assert.ok(counted.input_tokens >= fakePromptTokens({ messages }), `${counted.input_tokens} bounds the upstream's count`);
  });

  test("errors: an upstream refusal, a failure mid-stream (event: error), overload as 529", async () => {
    fake.queue.push({ kind: "status", status: 400, body: { error: { message: "bad thing", type: "invalid_request_error", param: null, code: null } } });
    await assert.rejects(client.messages.create({ model: "fake", max_tokens: 2, messages: [{ role: "user", content: "x" }] }), (err: unknown) => {
      assert.ok(err instanceof Anthropic.BadRequestError, String(err));
      assert.equal((err.error as { type: string }).type, "error");
      return true;
    });

    fake.queue.push({ kind: "error-event", afterChunks: 2 });
    const res = await postJson(rootOf(gateway), "/v1/messages", { model: "fake", max_tokens: 5, stream: true, messages: [{ role: "user", content: "one two three four five" }] }, { "x-api-key": gatewayKey });
    assert.equal(res.status, 200);
    const events = parseNamedEvents(await res.text());
    assert.equal(events[0]?.type, "message_start");
    const last = events.at(-1) as unknown as { type: string; error: { type: string; message: string } };
    assert.equal(last.type, "error");
    assert.equal(last.error.type, "api_error");
    assert.ok(!events.some((e) => e.type === "message_stop"), "a failed stream never stops as a success");

    // One request holds the narrow provider's only connection, a second waits: a third is refused, 529.
    fake.queue.push({ kind: "stall", afterChunks: 1 }, { kind: "stall", afterChunks: 1 });
    const holders = [new AbortController(), new AbortController()];
    const hold = (controller: AbortController): Promise<unknown> =>
      fetch(`${rootOf(gateway)}/v1/messages`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": gatewayKey },
        body: JSON.stringify({ model: "narrow", max_tokens: 5, stream: true, messages: [{ role: "user", content: "a b c" }] }),
        signal: controller.signal,
      }).catch(() => null);
    const held = holders.map(hold);
    try {
      for (let i = 0; i < 100; i++) {
        const health = (await (await fetch(`${rootOf(gateway)}/health`)).json()) as { models: Array<{ id: string; active: number; waiting: number }> };
        const narrow = health.models.find((m) => m.id === "narrow");
        if (narrow !== undefined && narrow.active + narrow.waiting >= 2) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await assert.rejects(client.messages.create({ model: "narrow", max_tokens: 2, messages: [{ role: "user", content: "x" }] }), (err: unknown) => {
        assert.ok(err instanceof Anthropic.APIError, String(err));
        assert.equal(err.status, 529);
        assert.equal((err.error as { error: { type: string } }).error.type, "overloaded_error");
        return true;
      });
    } finally {
      for (const controller of holders) controller.abort();
      await Promise.all(held);
    }
  });
});

describe("Messages API on a chatport upstream", () => {
  test("create, stream and a forced tool call through a real model behind the gateway", async () => {
    const res = await client.messages.create({ model: "remote-tiny", max_tokens: 6, system: "Be brief.", messages: [{ role: "user", content: "Hello" }] });
    assert.equal(res.content[0]?.type, "text");
    assert.ok(res.usage.input_tokens > 0 && res.usage.output_tokens >= 1 && res.usage.output_tokens <= 6);

    const stream = client.messages.stream({ model: "remote-tiny", max_tokens: 6, messages: [{ role: "user", content: "Hello" }] });
    const events: StreamEvent[] = [];
    for await (const event of stream) events.push(event as unknown as StreamEvent);
    assertEventOrder(events);
    const final = await stream.finalMessage();
    assert.ok(final.usage.output_tokens >= 1);

    const tool: Anthropic.Tool = { name: "get_time", input_schema: { type: "object", properties: { zone: { enum: ["UTC", "CET"] } }, required: ["zone"], additionalProperties: false } };
    const called = await client.messages.create({ model: "remote-tiny", max_tokens: 200, messages: [{ role: "user", content: "time?" }], tools: [tool], tool_choice: { type: "tool", name: "get_time", disable_parallel_tool_use: true } });
    assert.equal(called.stop_reason, "tool_use");
    const block = called.content[0];
    assert.ok(block?.type === "tool_use");
    assert.equal(block.name, "get_time");
    assert.ok(["UTC", "CET"].includes(String((block.input as { zone?: unknown }).zone)));
  });
});
