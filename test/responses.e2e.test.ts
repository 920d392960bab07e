/**
 * POST /v1/responses end to end through the official `openai` SDK
 * (`client.responses.create` / `.stream`) against a real server process:
 * plain text, typed streaming events in order with sequence numbers (each
 * validated against our schema, and the official OpenAPI document's where
 * present), a function-calling round trip, text.format json_schema,
 * reasoning items, errors in OpenAI's shape, and the same key limits and
 * ledger as chat completions.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Ajv } from "ajv";
import OpenAI from "openai";
import { tinyModelPath } from "./helpers/models.js";
import { freshFetch } from "./helpers/fresh-connections.js";
import { assertMatchesSchema } from "./helpers/openapi.js";
import { postJson, startServer, type RunningServer, createKey as createManagedKey } from "./helpers/server.js";

const adminKey = "sk-admin-responses-tests";
let server: RunningServer;
let client: OpenAI;
let keyId: string;

const createKey = (body: Record<string, unknown>): Promise<{ id: string; secret: string }> => createManagedKey(server, adminKey, body);

async function requestsOf(key: string): Promise<number> {
  const res = await freshFetch(server.baseURL.replace("/v1", `/admin/usage?key=${key}`), { headers: { authorization: `Bearer ${adminKey}` } });
  const body = (await res.json()) as { data: Array<{ requests: number }> };
  return body.data[0]?.requests ?? 0;
}

before(async () => {
  server = await startServer({
    models: { tiny: await tinyModelPath(), thinker: await tinyModelPath(1, "thinking") },
    args: ["--threads", "1", "--parallel", "2", "--ctx", "2048"],
    adminKey,
  });
  const key = await createKey({ name: "responses" });
  keyId = key.id;
  client = new OpenAI({ baseURL: server.baseURL, apiKey: key.secret, maxRetries: 0, timeout: 120_000, fetch: freshFetch });
});
after(async () => server?.stop());

const weather = {
  type: "object",
  properties: { city: { enum: ["Paris", "Oslo"] }, unit: { enum: ["C", "F"] } },
  required: ["city", "unit"],
  additionalProperties: false,
};
const tools: OpenAI.Responses.FunctionTool[] = [{ type: "function", name: "get_weather", description: "Weather now", parameters: weather, strict: true }];

describe("POST /v1/responses", () => {
  test("plain text: a response object with a message, usage details, one ledger row", async () => {
    const before = await requestsOf(keyId);
    const res = await client.responses.create({ model: "tiny", input: "Hello there", max_output_tokens: 8, store: false });
    assertMatchesSchema("Response", res);
    assert.match(res.id, /^resp_/);
    assert.equal(res.object, "response");
    assert.ok(res.status === "completed" || res.status === "incomplete", String(res.status));
    if (res.status === "incomplete") assert.deepEqual(res.incomplete_details, { reason: "max_output_tokens" });
    const message = res.output.find((item) => item.type === "message");
    assert.ok(message !== undefined && message.type === "message");
    assert.equal(message.content[0]?.type, "output_text");
    assert.equal(res.output_text, message.content.map((c) => (c.type === "output_text" ? c.text : "")).join(""));
    assert.ok((res.usage?.input_tokens ?? 0) > 0);
    assert.ok((res.usage?.output_tokens ?? 0) >= 1 && (res.usage?.output_tokens ?? 0) <= 8);
    assert.equal(res.usage?.input_tokens_details.cached_tokens !== undefined, true);
    assert.equal(res.usage?.output_tokens_details.reasoning_tokens, 0);
    assert.equal(res.usage?.total_tokens, (res.usage?.input_tokens ?? 0) + (res.usage?.output_tokens ?? 0));
    assert.equal(await requestsOf(keyId), before + 1);
  });

  test("instructions and a multi-turn input reach the model (the prompt grows with them)", async () => {
    const short = await client.responses.create({ model: "tiny", input: "Hi", max_output_tokens: 1, store: false });
    const long = await client.responses.create({
      model: "tiny",
      instructions: "You are terse.",
      input: [
        { role: "user", content: "Hi" },
        { role: "assistant", content: "Hello." },
        { role: "user", content: [{ type: "input_text", text: "And again?" }] },
      ],
      max_output_tokens: 1,
      store: false,
    });
    assert.ok((long.usage?.input_tokens ?? 0) > (short.usage?.input_tokens ?? 0) + 5);
    assert.equal(long.instructions, "You are terse.");
  });

  test("streaming: typed events in order, consecutive sequence numbers, each matching the schema", async () => {
    const stream = client.responses.stream({ model: "tiny", input: "Tell me something", max_output_tokens: 12, store: false });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    const final = await stream.finalResponse();
    for (const event of events) assertMatchesSchema("ResponseStreamEvent", event);
    assert.deepEqual(
      events.map((e) => e.sequence_number),
      events.map((_, i) => i),
    );
    const types = events.map((e) => e.type);
    assert.deepEqual(types.slice(0, 4), ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]);
    assert.ok(types.at(-1) === "response.completed" || types.at(-1) === "response.incomplete", String(types.at(-1)));
    assert.deepEqual(types.slice(-4, -1), ["response.output_text.done", "response.content_part.done", "response.output_item.done"]);
    const text = events.flatMap((e) => (e.type === "response.output_text.delta" ? [e.delta] : [])).join("");
    assert.ok(text.length > 0);
    assert.equal(final.output_text, text);
    const done = events.find((e) => e.type === "response.output_text.done");
    assert.equal(done?.type === "response.output_text.done" ? done.text : null, text);
    const last = events.at(-1);
    assert.ok(last !== undefined && (last.type === "response.completed" || last.type === "response.incomplete"));
    assert.ok((last.response.usage?.output_tokens ?? 0) >= 1);
    assertMatchesSchema("Response", final);
  });

  test("function calling round trip: a function_call item, then function_call_output continues", async () => {
    const first = await client.responses.create({ model: "tiny", input: "Weather in Paris?", tools, tool_choice: "required", max_output_tokens: 200, store: false });
    assertMatchesSchema("Response", first);
    const call = first.output.find((item) => item.type === "function_call");
    assert.ok(call !== undefined && call.type === "function_call", JSON.stringify(first.output));
    assert.equal(call.name, "get_weather");
    assert.match(call.id ?? "", /^fc_/);
    assert.ok(new Ajv({ strict: false }).validate(weather, JSON.parse(call.arguments)), call.arguments);

    const second = await client.responses.create({
      model: "tiny",
      input: [
        { role: "user", content: "Weather in Paris?" },
        { type: "function_call", call_id: call.call_id, name: call.name, arguments: call.arguments },
        { type: "function_call_output", call_id: call.call_id, output: '{"temperature": 21}' },
      ],
      tools,
      tool_choice: "none",
      max_output_tokens: 6,
      store: false,
    });
    assertMatchesSchema("Response", second);
    assert.equal(second.output.some((item) => item.type === "function_call"), false);
    assert.ok(second.output.some((item) => item.type === "message"));
    const without = await client.responses.create({ model: "tiny", input: "Weather in Paris?", tools, tool_choice: "none", max_output_tokens: 1, store: false });
    assert.ok((second.usage?.input_tokens ?? 0) > (without.usage?.input_tokens ?? 0) + 10, "the call and its output are in the prompt");
  });

  test("streamed function call: arguments deltas add up to the done event's arguments", async () => {
    const stream = client.responses.stream({ model: "tiny", input: "Weather in Oslo?", tools, tool_choice: { type: "function", name: "get_weather" }, max_output_tokens: 200, store: false });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    for (const event of events) assertMatchesSchema("ResponseStreamEvent", event);
    const deltas = events.flatMap((e) => (e.type === "response.function_call_arguments.delta" ? [e.delta] : [])).join("");
    const done = events.find((e) => e.type === "response.function_call_arguments.done");
    assert.ok(done?.type === "response.function_call_arguments.done");
    assert.equal(done.arguments, deltas);
    const final = await stream.finalResponse();
    const call = final.output.find((item) => item.type === "function_call");
    assert.ok(call?.type === "function_call");
    assert.equal(call.arguments, deltas);
  });

  test("text.format json_schema: the output is JSON that validates", async () => {
    const schema = { type: "object", properties: { ok: { type: "boolean" }, colour: { enum: ["red", "green", "blue"] } }, required: ["ok", "colour"], additionalProperties: false };
    const res = await client.responses.create({
      model: "tiny",
      input: "A colour please",
      text: { format: { type: "json_schema", name: "pick", schema, strict: true } },
      max_output_tokens: 200,
      store: false,
    });
    assert.equal(res.status, "completed");
    assert.ok(new Ajv({ strict: false }).validate(schema, JSON.parse(res.output_text)), res.output_text);
    assert.deepEqual(res.text?.format, { type: "json_schema", name: "pick", schema, strict: true });
  });

  test("reasoning: the thought is a reasoning item, counted in output_tokens_details", async () => {
    const res = await client.responses.create({ model: "thinker", input: "Why?", reasoning: { effort: "high" }, max_output_tokens: 16, store: false });
    assertMatchesSchema("Response", res);
    const reasoning = res.output.find((item) => item.type === "reasoning");
    assert.ok(reasoning?.type === "reasoning", JSON.stringify(res.output));
    assert.ok((reasoning.content?.[0]?.text ?? "").length > 0);
    assert.ok((res.usage?.output_tokens_details.reasoning_tokens ?? 0) > 0);
    // Streamed: reasoning_text deltas add up to the item's text.
    const stream = client.responses.stream({ model: "thinker", input: "Why?", reasoning: { effort: "high" }, max_output_tokens: 16, store: false });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    for (const event of events) assertMatchesSchema("ResponseStreamEvent", event);
    const thought = events.flatMap((e) => (e.type === "response.reasoning_text.delta" ? [e.delta] : [])).join("");
    const item = (await stream.finalResponse()).output.find((o) => o.type === "reasoning");
    assert.equal(item?.type === "reasoning" ? item.content?.[0]?.text : null, thought);
  });

  test("errors in OpenAI's shape: unknown model 404, bad input 400 naming the Responses param", async () => {
    const cases: Array<[Record<string, unknown>, number, string | null]> = [
      [{ model: "nope", input: "x" }, 404, "model"],
      [{ model: "tiny" }, 400, "input"],
      [{ model: "tiny", input: [{ type: "message", role: "robot", content: "x" }] }, 400, "input[0].role"],
      [{ model: "tiny", input: "x", tools: [{ type: "web_search" }] }, 400, "tools[0].type"],
      [{ model: "tiny", input: "x", text: { format: { type: "json_schema", name: "s", schema: { type: "array", items: { type: "integer" }, uniqueItems: true, minItems: 2 } } } }, 400, "text.format.schema"],
      [{ model: "tiny", input: "x", max_output_tokens: 0 }, 400, "max_output_tokens"],
    ];
    for (const [body, status, param] of cases) {
      const res = await postJson(server.baseURL, "/responses", body, { authorization: `Bearer ${adminKey}` });
      const text = await res.text();
      assert.equal(res.status, status, text);
      const parsed = JSON.parse(text) as { error: { param: string | null } };
      assertMatchesSchema("ErrorResponse", parsed);
      assert.equal(parsed.error.param, param, text);
    }
    await assert.rejects(client.responses.create({ model: "nope", input: "x" }), (err: unknown) => err instanceof OpenAI.NotFoundError);
  });

  test("a key's model list and limits apply as for chat", async () => {
    const limited = await createKey({ name: "only-thinker", models: ["thinker"], rpm: 1 });
    const other = new OpenAI({ baseURL: server.baseURL, apiKey: limited.secret, maxRetries: 0 });
    await assert.rejects(other.responses.create({ model: "tiny", input: "x", store: false }), (err: unknown) => err instanceof OpenAI.PermissionDeniedError);
    await other.responses.create({ model: "thinker", input: "x", max_output_tokens: 1, store: false });
    await assert.rejects(other.responses.create({ model: "thinker", input: "x", max_output_tokens: 1, store: false }), (err: unknown) => err instanceof OpenAI.RateLimitError);
  });
});
