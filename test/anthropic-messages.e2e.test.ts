/**
 * The Anthropic Messages API on local models, through the official
 * `@anthropic-ai/sdk` against a real server process: plain and system
 * prompts, tools under each tool_choice (any/tool grammar-constrained), a
 * tool round trip, streaming (event order, final message), thinking,
 * countTokens, typed errors in Anthropic's shape, usage, the ledger row and
 * a key's limit.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import { Template } from "@huggingface/jinja";
import Database from "better-sqlite3";
import { readGgufFileInfo, type LlamaModel } from "node-llama-cpp";
import { assertEventOrder, parseNamedEvents, type StreamEvent } from "./helpers/anthropic-stream.js";
import { tinyModelPath } from "./helpers/models.js";
import { createKey, postJson, startServer, tempDbPath, type RunningServer } from "./helpers/server.js";
import { chatml, countTokens, loadVocab } from "./helpers/tokenizer.js";

const adminKey = "admin-secret-anthropic-tests-0123";
let server: RunningServer;
let dbPath: string;
let secret: string;
let client: Anthropic;
let vocab: LlamaModel;
let thinkingVocab: LlamaModel;
let thinkingTemplate: Template;

/** The SDK's base URL is the server root: it posts to `/v1/messages`. */
const rootOf = (s: RunningServer): string => s.baseURL.replace(/\/v1$/, "");
const anthropic = (apiKey: string): Anthropic => new Anthropic({ baseURL: rootOf(server), apiKey, maxRetries: 0, timeout: 120_000 });

/** Sampling fields the SDK's types no longer list, which the API still takes. */
type Params = Anthropic.MessageCreateParamsNonStreaming & { temperature?: number; top_p?: number; top_k?: number };

const weatherTool: Anthropic.Tool = {
  name: "get_weather",
  description: "The weather in a city",
  input_schema: { type: "object", properties: { city: { type: "string", enum: ["Paris", "Oslo", "Lima"] }, unit: { enum: ["C", "F"] } }, required: ["city", "unit"], additionalProperties: false },
};
const timeTool: Anthropic.Tool = {
  name: "get_time",
  input_schema: { type: "object", properties: { zone: { enum: ["UTC", "CET"] } }, required: ["zone"], additionalProperties: false },
};
const tools = [weatherTool, timeTool];
const ask: Anthropic.MessageParam[] = [{ role: "user", content: "What is the weather in Paris?" }];

function assertValidCall(block: Anthropic.ContentBlock): void {
  assert.equal(block.type, "tool_use");
  if (block.type !== "tool_use") return;
  assert.match(block.id, /^toolu_[A-Za-z0-9]+$/);
  const input = block.input as Record<string, unknown>;
  if (block.name === "get_weather") {
    assert.deepEqual(Object.keys(input).sort(), ["city", "unit"]);
    assert.ok(["Paris", "Oslo", "Lima"].includes(String(input.city)) && ["C", "F"].includes(String(input.unit)), JSON.stringify(input));
  } else {
    assert.equal(block.name, "get_time");
    assert.deepEqual(Object.keys(input), ["zone"]);
    assert.ok(["UTC", "CET"].includes(String(input.zone)));
  }
}

before(async () => {
  const thinking = await tinyModelPath(1, "thinking");
  const tiny = await tinyModelPath();
  vocab = await loadVocab(tiny);
  thinkingVocab = await loadVocab(thinking);
  thinkingTemplate = new Template(String((await readGgufFileInfo(thinking)).metadata.tokenizer?.chat_template));
  dbPath = tempDbPath();
  server = await startServer({
    models: { tiny, thinker: thinking },
    args: ["--threads", "1", "--parallel", "2", "--ctx", "2048", "--db-path", dbPath],
    adminKey,
  });
  secret = (await createKey(server, adminKey, { name: "anthropic" })).secret;
  client = anthropic(secret);
});
after(async () => server?.stop());

describe("messages.create", () => {
  test("plain: a message with a text block, usage that adds up to the rendered prompt", async () => {
    const res = await client.messages.create({ model: "tiny", max_tokens: 12, messages: [{ role: "user", content: "Why is the sky blue?" }] });
    assert.match(res.id, /^msg_[A-Za-z0-9]+$/);
    assert.equal(res.type, "message");
    assert.equal(res.role, "assistant");
    assert.equal(res.model, "tiny");
    assert.equal(res.content.length, 1);
    assert.equal(res.content[0]?.type, "text");
    assert.ok(res.stop_reason === "end_turn" || res.stop_reason === "max_tokens", String(res.stop_reason));
    assert.equal(res.stop_sequence, null);
    const prompt = countTokens(vocab, chatml([{ role: "user", content: "Why is the sky blue?" }]));
    assert.equal(res.usage.input_tokens + (res.usage.cache_read_input_tokens ?? 0), prompt, "input + cache read = the prompt");
    assert.equal(res.usage.cache_creation_input_tokens, 0);
    assert.ok(res.usage.output_tokens >= 1 && res.usage.output_tokens <= 12);
  });

  test("a system prompt (string or text blocks) is the template's system message", async () => {
    const messages = [{ role: "user" as const, content: "Hello there" }];
    const prompt = countTokens(vocab, chatml([{ role: "system", content: "Be brief." }, ...messages]));
    const res = await client.messages.create({ model: "tiny", max_tokens: 4, system: "Be brief.", messages });
    assert.equal(res.usage.input_tokens + (res.usage.cache_read_input_tokens ?? 0), prompt);
    const blocks = await client.messages.countTokens({ model: "tiny", system: [{ type: "text", text: "Be brief." }], messages });
    assert.equal(blocks.input_tokens, prompt);
  });

  test("stop_sequences: a stop the model reaches is stop_reason stop_sequence, naming it, never emitted", async () => {
    const base = { model: "tiny", max_tokens: 60, temperature: 0, messages: [{ role: "user" as const, content: "Why is the sky blue?" }] };
    const free = await client.messages.create(base as Params);
    const text = free.content[0]?.type === "text" ? free.content[0].text : "";
    const stop = text.slice(6, 8);
    assert.equal(stop.length, 2, `greedy text long enough: ${JSON.stringify(text)}`);
    const cut = await client.messages.create({ ...base, stop_sequences: ["zzzq", stop] } as Params);
    assert.equal(cut.stop_reason, "stop_sequence");
    assert.equal(cut.stop_sequence, stop);
    assert.equal(cut.content[0]?.type === "text" ? cut.content[0].text : null, text.slice(0, text.indexOf(stop)));
  });
});

test("output_config.format: the text is the schema's JSON (grammar-enforced)", async () => {
  const schema = { type: "object", properties: { answer: { enum: ["yes", "no"] }, score: { type: "integer", minimum: 1, maximum: 5 } }, required: ["answer", "score"], additionalProperties: false };
  const res = await client.messages.create({ model: "tiny", max_tokens: 100, messages: ask, output_config: { format: { type: "json_schema", schema } } });
  assert.equal(res.stop_reason, "end_turn");
  const text = res.content[0]?.type === "text" ? res.content[0].text : "";
  const value = JSON.parse(text) as { answer: string; score: number };
  assert.deepEqual(Object.keys(value).sort(), ["answer", "score"]);
  assert.ok(["yes", "no"].includes(value.answer) && Number.isInteger(value.score) && value.score >= 1 && value.score <= 5, text);
});

describe("tools", () => {
  test("tool_choice any: grammar-constrained calls that name a tool and validate; one with disable_parallel_tool_use", async () => {
    const res = await client.messages.create({ model: "tiny", max_tokens: 200, messages: ask, tools, tool_choice: { type: "any", disable_parallel_tool_use: true } });
    assert.equal(res.stop_reason, "tool_use");
    assert.equal(res.content.length, 1);
    assertValidCall(res.content[0]!);
    const parallel = await client.messages.create({ model: "tiny", max_tokens: 300, messages: ask, tools, tool_choice: { type: "any" } });
    const calls = parallel.content.filter((b) => b.type === "tool_use");
    assert.ok(calls.length >= 1);
    assert.equal(parallel.content.filter((b) => b.type === "text").length, 0, "no text beside forced calls");
    if (parallel.stop_reason === "tool_use") for (const call of calls) assertValidCall(call);
    else assert.equal(parallel.stop_reason, "max_tokens");
  });

  test("tool_choice tool: the named tool, once", async () => {
    const res = await client.messages.create({ model: "tiny", max_tokens: 200, messages: ask, tools, tool_choice: { type: "tool", name: "get_time", disable_parallel_tool_use: true } });
    assert.equal(res.stop_reason, "tool_use");
    assert.equal(res.content.length, 1);
    assert.equal(res.content[0]?.type === "tool_use" ? res.content[0].name : null, "get_time");
    assertValidCall(res.content[0]!);
  });

  test("tool_choice none leaves the tools out of the prompt; auto puts them in", async () => {
    const plain = await client.messages.countTokens({ model: "tiny", messages: ask });
    const none = await client.messages.countTokens({ model: "tiny", messages: ask, tools, tool_choice: { type: "none" } });
    const auto = await client.messages.countTokens({ model: "tiny", messages: ask, tools, tool_choice: { type: "auto" } });
    assert.equal(none.input_tokens, plain.input_tokens);
    assert.ok(auto.input_tokens > plain.input_tokens + 50, "tool definitions rendered");
    const res = await client.messages.create({ model: "tiny", max_tokens: 10, messages: ask, tools, tool_choice: { type: "none" } });
    assert.equal(res.content.filter((b) => b.type === "tool_use").length, 0);
    assert.notEqual(res.stop_reason, "tool_use");
    const answered = await client.messages.create({ model: "tiny", max_tokens: 30, messages: ask, tools });
    assert.equal(answered.usage.input_tokens + (answered.usage.cache_read_input_tokens ?? 0), auto.input_tokens);
    for (const block of answered.content) if (block.type === "tool_use") assert.ok(["get_weather", "get_time"].includes(block.name));
  });

  test("a tool round trip: tool_use in the assistant turn, tool_result (and is_error) in the user turn", async () => {
    const first = await client.messages.create({ model: "tiny", max_tokens: 200, messages: ask, tools, tool_choice: { type: "tool", name: "get_weather", disable_parallel_tool_use: true } });
    const call = first.content[0];
    assert.ok(call?.type === "tool_use");
    const history: Anthropic.MessageParam[] = [
      ...ask,
      { role: "assistant", content: first.content as Anthropic.ContentBlockParam[] },
      { role: "user", content: [{ type: "tool_result", tool_use_id: call.id, content: [{ type: "text", text: "18 degrees and sunny" }] }] },
    ];
    const second = await client.messages.create({ model: "tiny", max_tokens: 8, messages: history, tools });
    assert.ok(second.stop_reason !== null);
    const counted = await client.messages.countTokens({ model: "tiny", messages: history, tools });
    assert.equal(second.usage.input_tokens + (second.usage.cache_read_input_tokens ?? 0), counted.input_tokens);
    const failed = await client.messages.countTokens({
      model: "tiny",
      messages: [...history.slice(0, 2), { role: "user", content: [{ type: "tool_result", tool_use_id: call.id, content: "18 degrees and sunny", is_error: true }] }],
      tools,
    });
    assert.ok(failed.input_tokens > counted.input_tokens, "an error result is marked in the prompt");
    // A tool_use block in a user turn is the client's 400, naming the block.
    await assert.rejects(
      client.messages.create({ model: "tiny", max_tokens: 4, messages: [...ask, { role: "user", content: [{ type: "tool_use", id: "x", name: "get_time", input: {} }] }] }),
      (err: unknown) => err instanceof Anthropic.BadRequestError && /messages\[1\]\.content\[0\]/.test(err.message),
    );
  });
});

describe("streaming", () => {
  test("messages.stream: events in order, deltas that add up to the final message", async () => {
    const stream = client.messages.stream({ model: "tiny", max_tokens: 16, messages: [{ role: "user", content: "Tell me a story" }] });
    const events: StreamEvent[] = [];
    let text = "";
    stream.on("text", (delta) => {
      text += delta;
    });
    for await (const event of stream) events.push(event as unknown as StreamEvent);
    const final = await stream.finalMessage();
    assertEventOrder(events);
    assert.equal(final.content[0]?.type === "text" ? final.content[0].text : null, text);
    assert.ok(final.stop_reason === "end_turn" || final.stop_reason === "max_tokens");
    assert.ok(final.usage.output_tokens >= 1);
    const prompt = countTokens(vocab, chatml([{ role: "user", content: "Tell me a story" }]));
    assert.equal(final.usage.input_tokens + (final.usage.cache_read_input_tokens ?? 0), prompt);
  });

  test("raw SSE: named events (their data's type), a ping, message_delta with the stop reason and usage", async () => {
    const res = await postJson(rootOf(server), "/v1/messages", { model: "tiny", max_tokens: 5, stream: true, messages: [{ role: "user", content: "hi" }] }, { "x-api-key": secret, "anthropic-version": "2023-06-01" });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    const events = parseNamedEvents(await res.text());
    assertEventOrder(events);
    assert.ok(events.some((e) => e.type === "ping"));
    const delta = events.at(-2) as unknown as Anthropic.MessageDeltaEvent;
    assert.ok(delta.delta.stop_reason === "max_tokens" || delta.delta.stop_reason === "end_turn");
    assert.ok(delta.usage.output_tokens >= 1 && delta.usage.output_tokens <= 5);
  });

  test("a streamed forced call: input_json_delta that assembles to a valid input", async () => {
    const stream = client.messages.stream({ model: "tiny", max_tokens: 200, messages: ask, tools, tool_choice: { type: "any", disable_parallel_tool_use: true } });
    const events: StreamEvent[] = [];
    for await (const event of stream) events.push(event as unknown as StreamEvent);
    assertEventOrder(events);
    const final = await stream.finalMessage();
    assert.equal(final.stop_reason, "tool_use");
    assertValidCall(final.content[0]!);
    const json = events.filter((e) => e.delta?.type === "input_json_delta").map((e) => (e.delta as { partial_json: string }).partial_json).join("");
    assert.deepEqual(JSON.parse(json), (final.content[0] as Anthropic.ToolUseBlock).input);
  });
});

describe("thinking", () => {
  const why = [{ role: "user" as const, content: "Why is the sky blue?" }];
  const render = (enable_thinking: boolean): number => countTokens(thinkingVocab, thinkingTemplate.render({ messages: why, add_generation_prompt: true, enable_thinking }));

  test("enabled with a budget: a thinking block closed at the budget, then text; the ledger counts the thought", async () => {
    const res = await client.messages.create({ model: "thinker", max_tokens: 60, temperature: 0, thinking: { type: "enabled", budget_tokens: 16 }, messages: why } as Params);
    assert.deepEqual(
      res.content.map((b) => b.type),
      ["thinking", "text"],
    );
    const thought = res.content[0] as Anthropic.ThinkingBlock;
    assert.ok(thought.thinking.length > 0);
    assert.equal(typeof thought.signature, "string");
    assert.doesNotMatch(JSON.stringify(res.content), /<\/?think>/);
    assert.equal(res.usage.input_tokens + (res.usage.cache_read_input_tokens ?? 0), render(true));
    const closing = thinkingVocab.tokenize("\n</think>\n\n", true).length;
    const row = ledgerRow(res.id);
    assert.equal(row.reasoning_tokens, 16 + closing, "the budget (16) plus the closing tokens");
  });

  test("streamed: thinking_delta before text_delta; disabled: no thought, the template's switch off", async () => {
    const stream = client.messages.stream({ model: "thinker", max_tokens: 40, thinking: { type: "enabled", budget_tokens: 8 }, messages: why });
    const events: StreamEvent[] = [];
    for await (const event of stream) events.push(event as unknown as StreamEvent);
    assertEventOrder(events);
    const starts = events.filter((e) => e.type === "content_block_start").map((e) => e.content_block?.type);
    assert.equal(starts[0], "thinking");
    const final = await stream.finalMessage();
    assert.equal(final.content[0]?.type, "thinking");

    const off = await client.messages.create({ model: "thinker", max_tokens: 8, thinking: { type: "disabled" }, messages: why });
    assert.equal(off.content.filter((b) => b.type === "thinking").length, 0);
    assert.equal(off.usage.input_tokens + (off.usage.cache_read_input_tokens ?? 0), render(false));
    // A thought sent back in history is accepted (and redacted thinking ignored).
    const again = await client.messages.create({
      model: "thinker",
      max_tokens: 4,
      messages: [...why, { role: "assistant", content: [{ type: "thinking", thinking: "Scattering.", signature: "" }, { type: "redacted_thinking", data: "opaque" }, { type: "text", text: "Rayleigh." }] }, { role: "user", content: "More?" }],
    });
    assert.ok(again.content.length >= 1);
  });
});

describe("countTokens", () => {
  test("the exact prompt as the template renders it; the same as a create's input", async () => {
    const messages: Anthropic.MessageParam[] = [
      { role: "user", content: [{ type: "text", text: "One " }, { type: "text", text: "two" }] },
      { role: "assistant", content: "three" },
      { role: "user", content: "four five" },
    ];
    const counted = await client.messages.countTokens({ model: "tiny", messages });
    const expected = countTokens(vocab, chatml([{ role: "user", content: "One two" }, { role: "assistant", content: "three" }, { role: "user", content: "four five" }]));
    assert.equal(counted.input_tokens, expected);
    const res = await client.messages.create({ model: "tiny", max_tokens: 2, messages });
    assert.equal(res.usage.input_tokens + (res.usage.cache_read_input_tokens ?? 0), expected);
  });

  test("keys and model permissions apply; no ledger row", async () => {
    const restricted = await createKey(server, adminKey, { name: "only-thinker", models: ["thinker"] });
    await assert.rejects(anthropic(restricted.secret).messages.countTokens({ model: "tiny", messages: ask }), Anthropic.PermissionDeniedError);
    await assert.rejects(anthropic("sk-wrong").messages.countTokens({ model: "tiny", messages: ask }), Anthropic.AuthenticationError);
    const before = ledgerCount();
    await client.messages.countTokens({ model: "tiny", messages: ask });
    assert.equal(ledgerCount(), before);
  });
});

function db(): Database.Database {
  return new Database(dbPath, { readonly: true, fileMustExist: true });
}

function ledgerRow(id: string): { key_id: string | null; prompt_tokens: number; cached_tokens: number; completion_tokens: number; reasoning_tokens: number; status: string; stream: number } {
  const conn = db();
  try {
    const row = conn.prepare("SELECT * FROM ledger WHERE id = ?").get(id) as ReturnType<typeof ledgerRow> | undefined;
    assert.ok(row !== undefined, `a ledger row keyed by ${id}`);
    return row;
  } finally {
    conn.close();
  }
}

function ledgerCount(): number {
  const conn = db();
  try {
    return (conn.prepare("SELECT COUNT(*) AS n FROM ledger").get() as { n: number }).n;
  } finally {
    conn.close();
  }
}

describe("errors, usage and limits", () => {
  test("typed errors in Anthropic's shape: bad key, unknown model, overlong prompt, missing max_tokens", async () => {
    await assert.rejects(anthropic("sk-wrong").messages.create({ model: "tiny", max_tokens: 4, messages: ask }), (err: unknown) => {
      assert.ok(err instanceof Anthropic.AuthenticationError);
      assert.equal(err.status, 401);
      assert.deepEqual(Object.keys(err.error as object).sort(), ["error", "type"]);
      assert.equal((err.error as { error: { type: string } }).error.type, "authentication_error");
      return true;
    });
    await assert.rejects(client.messages.create({ model: "no-such-model", max_tokens: 4, messages: ask }), (err: unknown) => {
      assert.ok(err instanceof Anthropic.NotFoundError);
      assert.equal((err.error as { error: { type: string } }).error.type, "not_found_error");
      return true;
    });
    await assert.rejects(client.messages.create({ model: "tiny", max_tokens: 4, messages: [{ role: "user", content: "word ".repeat(3000) }] }), (err: unknown) => {
      assert.ok(err instanceof Anthropic.BadRequestError);
      assert.equal((err.error as { error: { type: string } }).error.type, "invalid_request_error");
      assert.match(err.message, /maximum context length is 2048/);
      return true;
    });
    // Raw: no key at all, a Bearer key, and a body without max_tokens.
    const noKey = await postJson(rootOf(server), "/v1/messages", { model: "tiny", max_tokens: 4, messages: ask });
    assert.equal(noKey.status, 401);
    const noKeyBody = (await noKey.json()) as { type: string; error: { type: string; message: string } };
    assert.equal(noKeyBody.error.type, "authentication_error");
    assert.match(noKeyBody.error.message, /x-api-key/, "the message says where an Anthropic client's key goes");
    const bearer = await postJson(rootOf(server), "/v1/messages", { model: "tiny", max_tokens: 1, messages: ask }, { authorization: `Bearer ${secret}` });
    assert.equal(bearer.status, 200);
    const missing = await postJson(rootOf(server), "/v1/messages", { model: "tiny", messages: ask }, { "x-api-key": secret });
    assert.equal(missing.status, 400);
    const body = (await missing.json()) as { type: string; error: { type: string; message: string } };
    assert.equal(body.type, "error");
    assert.equal(body.error.type, "invalid_request_error");
    assert.match(body.error.message, /max_tokens/);
    const image = await postJson(rootOf(server), "/v1/messages", { model: "tiny", max_tokens: 1, messages: [{ role: "user", content: [{ type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } }] }] }, { "x-api-key": secret });
    assert.equal(image.status, 400);
    assert.match(((await image.json()) as { error: { message: string } }).error.message, /text only.*messages\[0\]\.content\[0\]/);
    // The OpenAI routes keep OpenAI's envelope.
    const chat = await postJson(server.baseURL, "/chat/completions", { model: "nope", messages: [{ role: "user", content: "hi" }] }, { authorization: `Bearer ${secret}` });
    assert.equal(((await chat.json()) as { error: { code: string } }).error.code, "model_not_found");
  });

  test("a ledger row per message, keyed by its id, with the usage the client was told", async () => {
    const res = await client.messages.create({ model: "tiny", max_tokens: 6, messages: ask, metadata: { user_id: "user-42" } });
    const row = ledgerRow(res.id);
    assert.equal(row.prompt_tokens, res.usage.input_tokens + (res.usage.cache_read_input_tokens ?? 0));
    assert.equal(row.cached_tokens, res.usage.cache_read_input_tokens);
    assert.equal(row.completion_tokens, res.usage.output_tokens);
    assert.equal(row.status, "ok");
    assert.equal(row.stream, 0);
    const stream = client.messages.stream({ model: "tiny", max_tokens: 6, messages: ask });
    const final = await stream.finalMessage();
    const streamed = ledgerRow(final.id);
    assert.equal(streamed.completion_tokens, final.usage.output_tokens);
    assert.equal(streamed.stream, 1);
  });

  test("a key's token limit: RateLimitError in Anthropic's shape once the window is spent", async () => {
    const limited = await createKey(server, adminKey, { name: "tpm", tpm: 60 });
    const limitedClient = anthropic(limited.secret);
    let refused: unknown = null;
    let used = 0;
    for (let i = 0; i < 20 && refused === null; i++) {
      try {
        const res = await limitedClient.messages.create({ model: "tiny", max_tokens: 8, messages: ask });
        used += res.usage.input_tokens + (res.usage.cache_read_input_tokens ?? 0) + res.usage.output_tokens;
      } catch (err) {
        refused = err;
      }
    }
    assert.ok(refused instanceof Anthropic.RateLimitError, String(refused));
    assert.equal((refused.error as { error: { type: string } }).error.type, "rate_limit_error");
    assert.ok(used <= 60, `never more than the limit (${used})`);
  });
});
