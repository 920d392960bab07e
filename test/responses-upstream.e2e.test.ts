/**
 * The Responses API on upstream models, through translation to chat
 * completions and back: a fake upstream that speaks only chat completions,
 * and a chatport upstream. The gateway stores the conversation; the upstream
 * sees chat requests only.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import { startFakeUpstream, type FakeUpstream } from "../src/upstream/fake-upstream.js";
import { tinyModelPath } from "./helpers/models.js";
import { assertMatchesSchema } from "./helpers/openapi.js";
import { startServer, tempDbPath, type RunningServer } from "./helpers/server.js";

const upstreamKey = "sk-responses-upstream-key";
const fakeKey = "sk-responses-fake-key";
let upstream: RunningServer;
let fake: FakeUpstream;
let gateway: RunningServer;
let client: OpenAI;

before(async () => {
  upstream = await startServer({ models: { tiny: await tinyModelPath() }, args: ["--threads", "1", "--parallel", "2", "--ctx", "2048"], apiKey: upstreamKey });
  fake = await startFakeUpstream({ apiKey: fakeKey, models: ["fake-model"] });
  const dbPath = tempDbPath();
  const configFile = path.join(path.dirname(dbPath), "config.json");
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      providers: [
        { id: "chatport-up", baseUrl: upstream.baseURL, apiKeyEnv: "UP_KEY", healthCheckMs: 0 },
        { id: "fake", baseUrl: fake.url, apiKeyEnv: "FAKE_KEY", healthCheckMs: 0, timeouts: { connectMs: 1000, firstByteMs: 3000, idleMs: 3000 } },
      ],
      upstreamModels: [
        { id: "remote-tiny", deployments: [{ provider: "chatport-up", model: "tiny" }], contextLength: 2048 },
        { id: "fake", deployments: [{ provider: "fake", model: "fake-model" }], retries: 0 },
      ],
    }),
  );
  gateway = await startServer({ models: {}, args: ["--config", configFile, "--db-path", dbPath], env: { UP_KEY: upstreamKey, FAKE_KEY: fakeKey } });
  client = gateway.client;
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

describe("Responses API on upstream models (translated to chat completions)", () => {
  test("a fake upstream: instructions and input become chat messages; its answer and usage come back as a response", async () => {
    const res = await client.responses.create({ model: "fake", instructions: "Be brief.", input: "alpha beta gamma", max_output_tokens: 3, store: false });
    assertMatchesSchema("Response", res);
    assert.equal(res.output_text, "alpha beta gamma");
    const body = lastChatBody();
    assert.deepEqual(body.messages, [
      { role: "system", content: "Be brief." },
      { role: "user", content: "alpha beta gamma" },
    ]);
    assert.equal(body.model, "fake-model");
    assert.equal(body.max_completion_tokens, 3);
    assert.equal(res.usage?.output_tokens, 3);
    assert.equal(res.usage?.input_tokens, 3 + 2 + (3 + 3), "the upstream's own prompt count: 3 per message + its words");
  });

  test("streaming from a fake upstream: typed events that validate; a function call round trip", async () => {
    const stream = client.responses.stream({
      model: "fake",
      input: "lookup",
      tools: [{ type: "function", name: "search", parameters: { type: "object", properties: { input: { type: "string" } } }, strict: false }],
      store: false,
    });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    for (const event of events) assertMatchesSchema("ResponseStreamEvent", event);
    const final = await stream.finalResponse();
    const call = final.output.find((item) => item.type === "function_call");
    assert.ok(call?.type === "function_call");
    assert.equal(call.name, "search");
    assert.deepEqual(JSON.parse(call.arguments), { input: "lookup" });

    await client.responses.create({
      model: "fake",
      input: [
        { role: "user", content: "lookup" },
        { type: "function_call", call_id: call.call_id, name: call.name, arguments: call.arguments },
        { type: "function_call_output", call_id: call.call_id, output: "found it" },
      ],
      max_output_tokens: 2,
      store: false,
    });
    const body = lastChatBody();
    assert.deepEqual((body.messages as unknown[]).slice(1), [
      { role: "assistant", content: null, tool_calls: [{ id: call.call_id, type: "function", function: { name: "search", arguments: call.arguments } }] },
      { role: "tool", tool_call_id: call.call_id, content: "found it" },
    ]);
  });

  test("an upstream failure mid-stream: an error event, then response.failed", async () => {
    fake.queue.push({ kind: "error-event", afterChunks: 2 });
    const res = await fetch(`${gateway.baseURL}/responses`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "fake", input: "one two three four five", max_output_tokens: 5, stream: true, store: false }),
    });
    assert.equal(res.status, 200);
    const text = await res.text();
    const events = text
      .split("\n\n")
      .filter((block) => block.trim() !== "")
      .map((block) => {
        const [eventLine, dataLine] = block.split("\n");
        assert.match(eventLine ?? "", /^event: /);
        const data = JSON.parse((dataLine ?? "").replace(/^data: /, "")) as { type: string };
        assert.equal(eventLine?.slice("event: ".length), data.type, "the SSE event name is the event's type");
        return data;
      });
    for (const event of events) assertMatchesSchema("ResponseStreamEvent", event);
    assert.deepEqual(
      events.slice(-2).map((e) => e.type),
      ["error", "response.failed"],
    );
    assert.equal(events.some((e) => e.type === "response.completed"), false);
  });

  test("a chatport upstream: a stored conversation continued with previous_response_id", async () => {
    const first = await client.responses.create({ model: "remote-tiny", input: "hello upstream", max_output_tokens: 3 });
    assertMatchesSchema("Response", first);
    const second = await client.responses.create({ model: "remote-tiny", input: "and more", max_output_tokens: 3, previous_response_id: first.id });
    assert.ok((second.usage?.input_tokens ?? 0) > (first.usage?.input_tokens ?? 0) + (first.usage?.output_tokens ?? 0));
    assert.equal((await client.responses.retrieve(second.id)).previous_response_id, first.id);
  });
});
