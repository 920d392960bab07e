/**
 * End to end: the official `openai` SDK (and raw fetch where the SDK would
 * hide wire details) against a real `chatport serve` process running the
 * generated tiny test model.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Ajv } from "ajv";
import type { LlamaModel } from "node-llama-cpp";
import type OpenAI from "openai";
import { tinyModelPath } from "./helpers/models.js";
import { assertMatchesSchema } from "./helpers/openapi.js";
import { postJson, startServer, type RunningServer } from "./helpers/server.js";
import { readSse } from "./helpers/sse.js";
import { chatml, countTokens, loadVocab, singleToken } from "./helpers/tokenizer.js";

type ChunkCollection = {
  chunks: OpenAI.Chat.Completions.ChatCompletionChunk[];
  text: string[];
  finish: Array<string | null>;
};

let server: RunningServer;
let client: OpenAI;
let vocab: LlamaModel;
const model = "tiny";
const hello = [{ role: "user" as const, content: "Hello, who are you?" }];

async function collect(
  stream: AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>,
  n = 1,
): Promise<ChunkCollection> {
  const out: ChunkCollection = { chunks: [], text: Array.from({ length: n }, () => ""), finish: Array.from({ length: n }, () => null) };
  for await (const chunk of stream) {
    assertMatchesSchema("CreateChatCompletionStreamResponse", chunk);
    out.chunks.push(chunk);
    for (const choice of chunk.choices) {
      out.text[choice.index] += choice.delta.content ?? "";
      if (choice.finish_reason !== null) {
        assert.equal(out.finish[choice.index], null, "finish_reason sent twice for one choice");
        out.finish[choice.index] = choice.finish_reason;
      }
    }
  }
  return out;
}

before(async () => {
  const file = await tinyModelPath();
  vocab = await loadVocab(file);
  server = await startServer({ models: { [model]: file }, args: ["--threads", "1", "--parallel", "4", "--ctx", "2048", "--max-waiting", "16"] });
  client = server.client;
});

after(async () => {
  await server?.stop();
});

describe("models and health", () => {
  test("GET /v1/models lists the model; GET /v1/models/{id} returns it", async () => {
    const list = await client.models.list();
    assert.deepEqual(list.data.map((m) => m.id), [model]);
    assertMatchesSchema("ListModelsResponse", { object: "list", data: list.data });
    const one = await client.models.retrieve(model);
    assert.equal(one.id, model);
    assertMatchesSchema("Model", one);
  });

  test("unknown model id is a 404 model_not_found in OpenAI shape", async () => {
    const res = await fetch(`${server.baseURL}/models/nope`);
    assert.equal(res.status, 404);
    const body = (await res.json()) as { error: { code: string; param: string } };
    assertMatchesSchema("ErrorResponse", body);
    assert.equal(body.error.code, "model_not_found");
    const chat = await postJson(server.baseURL, "/chat/completions", { model: "nope", messages: hello });
    assert.equal(chat.status, 404);
  });

  test("GET /health reports the model's slots", async () => {
    const res = await fetch(server.baseURL.replace("/v1", "/health"));
    const body = (await res.json()) as { status: string; models: Array<{ id: string; capacity: number }> };
    assert.equal(body.status, "ok");
    assert.equal(body.models[0]?.id, model);
    assert.equal(body.models[0]?.capacity, 4);
  });
});

describe("completions", () => {
  test("non-streaming body validates and counts the rendered prompt exactly", async () => {
    const messages = [
      { role: "system" as const, content: "You are terse." },
      { role: "user" as const, content: "Name three colours, héhé 日本 🙂" },
    ];
    const res = await client.chat.completions.create({ model, messages, max_tokens: 12, seed: 3 });
    assertMatchesSchema("CreateChatCompletionResponse", res);
    assert.match(res.id, /^chatcmpl-/);
    assert.equal(res.object, "chat.completion");
    assert.equal(res.model, model);
    assert.match(res.system_fingerprint ?? "", /^fp_/);
    assert.equal(res.choices.length, 1);
    assert.ok(["stop", "length"].includes(res.choices[0]!.finish_reason));
    assert.equal(res.usage?.prompt_tokens, countTokens(vocab, chatml(messages)));
    assert.ok((res.usage?.completion_tokens ?? 0) >= 1 && (res.usage?.completion_tokens ?? 0) <= 12);
    assert.equal(res.usage?.total_tokens, (res.usage?.prompt_tokens ?? 0) + (res.usage?.completion_tokens ?? 0));
  });

  test("developer messages render as system messages", async () => {
    const dev = await client.chat.completions.create({
      model,
      messages: [{ role: "developer", content: "Rules." }, ...hello],
      max_tokens: 1,
    });
    assert.equal(dev.usage?.prompt_tokens, countTokens(vocab, chatml([{ role: "system", content: "Rules." }, ...hello])));
  });

  test("text content parts are accepted like a string", async () => {
    const parts = await client.chat.completions.create({
      model,
      messages: [{ role: "user", content: [{ type: "text", text: "Hello, who are you?" }] }],
      max_tokens: 3,
      seed: 9,
      temperature: 0,
    });
    const plain = await client.chat.completions.create({ model, messages: hello, max_tokens: 3, seed: 9, temperature: 0 });
    assert.equal(parts.choices[0]?.message.content, plain.choices[0]?.message.content);
    assert.equal(parts.usage?.prompt_tokens, plain.usage?.prompt_tokens);
  });

  test("max_tokens cuts with finish_reason length and exact completion_tokens", async () => {
    const res = await client.chat.completions.create({ model, messages: hello, max_tokens: 7, ignore_eos: true } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    assert.equal(res.choices[0]?.finish_reason, "length");
    assert.equal(res.usage?.completion_tokens, 7);
    const res2 = await client.chat.completions.create({ model, messages: hello, max_completion_tokens: 4, ignore_eos: true } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    assert.equal(res2.usage?.completion_tokens, 4);
    assert.equal(res2.choices[0]?.finish_reason, "length");
  });

  test("streaming: role first, finish last, usage chunk, and the same text as non-streaming", async () => {
    const params = { model, messages: hello, max_tokens: 20, seed: 42, temperature: 0.8 };
    const whole = await client.chat.completions.create(params);
    const stream = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
    const got = await collect(stream);
    const [first, ...rest] = got.chunks;
    assert.equal(first?.choices[0]?.delta.role, "assistant");
    assert.ok(rest.every((c) => c.choices.every((ch) => ch.delta.role === undefined)), "role only on the first chunk");
    const last = got.chunks.at(-1)!;
    assert.deepEqual(last.choices, []);
    assert.ok(last.usage !== null && last.usage !== undefined);
    assert.ok(got.chunks.slice(0, -1).every((c) => c.usage === null), "every other chunk has usage: null");
    const finishChunk = got.chunks.at(-2)!;
    assert.equal(finishChunk.choices[0]?.finish_reason, got.finish[0]);
    assert.equal(got.text[0], whole.choices[0]?.message.content);
    assert.equal(got.finish[0], whole.choices[0]?.finish_reason);
    assert.deepEqual(
      { p: last.usage.prompt_tokens, c: last.usage.completion_tokens },
      { p: whole.usage?.prompt_tokens, c: whole.usage?.completion_tokens },
    );
    assert.ok(new Set(got.chunks.map((c) => c.id)).size === 1, "one id for every chunk");
  });

  test("without include_usage no chunk carries a usage field", async () => {
    const res = await postJson(server.baseURL, "/chat/completions", { model, messages: hello, max_tokens: 3, stream: true });
    const { payloads } = await readSse(res);
    for (const p of payloads.slice(0, -1)) assert.equal("usage" in (JSON.parse(p) as object), false);
  });

  test("n=3 gives three indexed choices, streamed interleaved and non-streamed", async () => {
    const res = await client.chat.completions.create({ model, messages: hello, n: 3, max_tokens: 6, ignore_eos: true } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    assert.deepEqual(res.choices.map((c) => c.index), [0, 1, 2]);
    assert.equal(res.usage?.completion_tokens, 18);
    assert.equal(res.usage?.prompt_tokens, countTokens(vocab, chatml(hello)));

    const stream = await client.chat.completions.create({ model, messages: hello, n: 3, max_tokens: 6, stream: true, seed: 5 });
    const got = await collect(stream, 3);
    assert.ok(got.finish.every((f) => f !== null), "every choice finished");
    for (let i = 0; i < 3; i++) {
      const mine = got.chunks.filter((c) => c.choices[0]?.index === i);
      assert.equal(mine[0]?.choices[0]?.delta.role, "assistant", `choice ${i} starts with the role`);
      assert.notEqual(mine.at(-1)?.choices[0]?.finish_reason, null, `choice ${i} ends with finish_reason`);
    }
    const seeded = await client.chat.completions.create({ model, messages: hello, n: 3, max_tokens: 6, seed: 5 });
    assert.deepEqual(got.text, seeded.choices.map((c) => c.message.content));
  });

  test("stop sequences end the output and are never included, also when streamed", async () => {
    const params = { model, messages: hello, max_tokens: 40, seed: 7, temperature: 1, ignore_eos: true } as OpenAI.ChatCompletionCreateParamsNonStreaming;
    const free = (await client.chat.completions.create(params)).choices[0]?.message.content ?? "";
    assert.ok(free.length >= 12, `need some text to cut: ${JSON.stringify(free)}`);
    const stop = free.slice(6, 11);
    const expected = free.slice(0, free.indexOf(stop));
    const cut = await client.chat.completions.create({ ...params, stop: [stop, "\u0000never"] });
    assert.equal(cut.choices[0]?.message.content, expected);
    assert.equal(cut.choices[0]?.finish_reason, "stop");
    const streamed = await collect(await client.chat.completions.create({ ...params, stop, stream: true }));
    assert.equal(streamed.text[0], expected);
    assert.equal(streamed.finish[0], "stop");
  });

  test("seed: same seed and request give the same output, also under concurrent load", async () => {
    const params = { model, messages: hello, max_tokens: 24, seed: 1234, temperature: 1, ignore_eos: true } as OpenAI.ChatCompletionCreateParamsNonStreaming;
    const solo = (await client.chat.completions.create(params)).choices[0]?.message.content;
    const other = (await client.chat.completions.create({ ...params, seed: 4321 })).choices[0]?.message.content;
    assert.notEqual(solo, other, "different seeds should differ");
    const noise = Array.from({ length: 4 }, (_, i) =>
      client.chat.completions.create({ ...params, messages: [{ role: "user", content: `noise ${i}` }], seed: i }),
    );
    const same = Array.from({ length: 4 }, () => client.chat.completions.create(params));
    const results = await Promise.all([...same, ...noise]);
    for (const r of results.slice(0, 4)) assert.equal(r.choices[0]?.message.content, solo);
  });

  test("logit_bias +100 forces a token and -100 bans one", async () => {
    const forced = singleToken(vocab, " the");
    const res = await client.chat.completions.create({
      model,
      messages: hello,
      max_tokens: 5,
      temperature: 1,
      logit_bias: { [String(forced)]: 100 },
      ignore_eos: true,
    } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    assert.equal(res.choices[0]?.message.content, " the".repeat(5));

    const greedy = { model, messages: hello, max_tokens: 1, temperature: 0, ignore_eos: true } as OpenAI.ChatCompletionCreateParamsNonStreaming;
    const first = (await client.chat.completions.create(greedy)).choices[0]?.message.content ?? "";
    const firstToken = vocab.tokenize(first, false);
    assert.equal(firstToken.length, 1, `greedy first token text ${JSON.stringify(first)} should be one token`);
    const banned = await client.chat.completions.create({ ...greedy, logit_bias: { [String(firstToken[0])]: -100 } });
    assert.notEqual(banned.choices[0]?.message.content, first);
  });

  test("penalties and sampler parameters are accepted and change nothing about the shape", async () => {
    const res = await client.chat.completions.create({
      model,
      messages: hello,
      max_tokens: 8,
      temperature: 0.7,
      top_p: 0.9,
      presence_penalty: 1.5,
      frequency_penalty: -0.5,
      top_k: 20,
      min_p: 0.05,
      repetition_penalty: 1.2,
      user: "someone",
    } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    assertMatchesSchema("CreateChatCompletionResponse", res);
  });
});

describe("structured output", () => {
  test("json_object output parses", async () => {
    // Inside a JSON string a random-weight model rarely picks the closing quote, so strings
    // run to max_tokens. A logit bias on `"` and `}` (as a user could send) lets it close
    // values; the grammar still decides what is allowed, so the output must parse.
    const logit_bias = { [String(singleToken(vocab, '"'))]: 6, [String(singleToken(vocab, "}"))]: 6 };
    for (const seed of [1, 2, 3, 4]) {
      const res = await client.chat.completions.create({ model, messages: hello, response_format: { type: "json_object" }, max_tokens: 500, logit_bias, seed });
      const content = res.choices[0]?.message.content ?? "";
      assert.equal(res.choices[0]?.finish_reason, "stop", `seed ${seed} did not finish: ${content.slice(0, 200)}`);
      const parsed: unknown = JSON.parse(content);
      assert.ok(typeof parsed === "object" && parsed !== null && !Array.isArray(parsed), `seed ${seed}: an object, got ${content}`);
      assert.equal(content, content.trim(), "no trailing grammar whitespace");
    }
  });

  test("json_schema output parses and validates, streamed or not", async () => {
    const schema = {
      type: "object",
      properties: {
        name: { type: "string", maxLength: 10 },
        ok: { type: "boolean" },
        colour: { enum: ["red", "green", "blue"] },
        tags: { type: "array", items: { enum: ["a", "b", "c"] }, maxItems: 2 },
        nested: { type: "object", properties: { kind: { const: "x" } }, required: ["kind"], additionalProperties: false },
      },
      required: ["name", "ok", "colour", "tags", "nested"],
      additionalProperties: false,
    };
    const validate = new Ajv({ strict: false }).compile(schema);
    const response_format = { type: "json_schema" as const, json_schema: { name: "thing", schema, strict: true } };
    for (const seed of [11, 12, 13]) {
      const res = await client.chat.completions.create({ model, messages: hello, response_format, max_tokens: 400, seed });
      const content = res.choices[0]?.message.content ?? "";
      assert.equal(res.choices[0]?.finish_reason, "stop", content);
      assert.ok(validate(JSON.parse(content)), `${content}: ${JSON.stringify(validate.errors)}`);
    }
    const streamed = await collect(await client.chat.completions.create({ model, messages: hello, response_format, max_tokens: 400, seed: 14, stream: true }));
    assert.ok(validate(JSON.parse(streamed.text[0] ?? "")), streamed.text[0] ?? "");
  });

  test("unenforceable and invalid schemas are 400s naming the param", async () => {
    for (const schema of [{ type: "string", pattern: "^(?=a)a+$" }, { type: 12 }, { type: "array", items: { type: "string" }, uniqueItems: true, minItems: 2 }]) {
      const res = await postJson(server.baseURL, "/chat/completions", {
        model,
        messages: hello,
        response_format: { type: "json_schema", json_schema: { name: "s", schema } },
      });
      assert.equal(res.status, 400, JSON.stringify(schema));
      const body = (await res.json()) as { error: { param: string } };
      assert.equal(body.error.param, "response_format.json_schema.schema");
    }
  });
});

describe("wire details", () => {
  test("SSE framing is byte for byte data: <json>\\n\\n ending with data: [DONE]", async () => {
    const res = await postJson(server.baseURL, "/chat/completions", {
      model,
      messages: hello,
      max_tokens: 5,
      stream: true,
      stream_options: { include_usage: true },
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    const { raw, payloads } = await readSse(res);
    assert.ok(raw.endsWith("data: [DONE]\n\n"));
    assert.equal(payloads.at(-1), "[DONE]");
    for (const p of payloads.slice(0, -1)) assertMatchesSchema("CreateChatCompletionStreamResponse", JSON.parse(p));
  });

  test("MindIE extras: usage timings and full_text only when asked", async () => {
    const res = await postJson(server.baseURL, "/chat/completions", { model, messages: hello, max_tokens: 6, ignore_eos: true, usage_timings: true });
    const body = (await res.json()) as { usage: { completion_tokens: number; prefill_time: number; decode_time_arr: number[] } };
    assert.ok(body.usage.prefill_time > 0);
    assert.equal(body.usage.decode_time_arr.length, body.usage.completion_tokens - 1);
    assert.ok(body.usage.decode_time_arr.every((ms) => ms >= 0));

    const plain = (await (await postJson(server.baseURL, "/chat/completions", { model, messages: hello, max_tokens: 2 })).json()) as { usage: object };
    assert.equal("prefill_time" in plain.usage, false);

    const streamed = await postJson(server.baseURL, "/chat/completions", { model, messages: hello, max_tokens: 6, stream: true, fullTextEnabled: true });
    const chunks = (await readSse(streamed)).payloads.slice(0, -1).map((p) => JSON.parse(p) as { full_text: string; choices: Array<{ delta: { content?: string } }> });
    let text = "";
    for (const chunk of chunks) {
      text += chunk.choices[0]?.delta.content ?? "";
      assert.equal(chunk.full_text, text);
    }
  });

  test("a repeated prompt reuses the KV cache and reports cached_tokens", async () => {
    const longPrompt = [{ role: "system" as const, content: "Background. ".repeat(80) }, ...hello];
    await client.chat.completions.create({ model, messages: longPrompt, max_tokens: 2 });
    const again = await client.chat.completions.create({ model, messages: longPrompt, max_tokens: 2 });
    const prompt = again.usage?.prompt_tokens ?? 0;
    assert.ok(prompt > 100);
    assert.equal(again.usage?.prompt_tokens_details?.cached_tokens, prompt - 1);
  });
});

describe("concurrency and cancellation", () => {
  test("8 concurrent streams all complete", async () => {
    const runs = Array.from({ length: 8 }, (_, i) =>
      client.chat.completions
        .create({ model, messages: [{ role: "user", content: `stream ${i}` }], max_tokens: 16, stream: true, stream_options: { include_usage: true } })
        .then((s) => collect(s)),
    );
    const results = await Promise.all(runs);
    for (const r of results) {
      assert.notEqual(r.finish[0], null);
      assert.ok((r.chunks.at(-1)?.usage?.completion_tokens ?? 0) >= 1);
    }
  });

  test("aborting mid-stream frees the sequence", async () => {
    const controller = new AbortController();
    const stream = await client.chat.completions.create(
      { model, messages: hello, max_tokens: 1800, stream: true, ignore_eos: true } as OpenAI.ChatCompletionCreateParamsStreaming,
      { signal: controller.signal },
    );
    let seen = 0;
    try {
      for await (const _chunk of stream) {
        if (++seen === 3) controller.abort();
      }
    } catch (err) {
      assert.equal((err as Error).name, "APIUserAbortError");
    }
    assert.ok(seen >= 3 && seen < 100, `aborted after ${seen} chunks`);
    // The slot is released and the engine logs how far it got; both must happen promptly.
    const health = server.baseURL.replace("/v1", "/health");
    let active = -1;
    let cancelled: Array<Record<string, unknown>> = [];
    for (let i = 0; i < 200 && (active !== 0 || cancelled.length === 0); i++) {
      const body = (await (await fetch(health)).json()) as { models: Array<{ active: number }> };
      active = body.models[0]?.active ?? -1;
      cancelled = server.jsonLogs().filter((l) => l.msg === "generation cancelled");
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(active, 0);
    assert.ok(cancelled.length >= 1, "the engine logged the cancellation");
    assert.ok(Number(cancelled.at(-1)?.completionTokens) < 1800, "stopped before max_tokens");
    const next = await client.chat.completions.create({ model, messages: hello, max_tokens: 3 });
    assert.equal(next.choices.length, 1);
  });
});
