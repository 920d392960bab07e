/**
 * Every kind of bad input gets a 4xx in OpenAI's error shape with `param`
 * naming the field — never a 500, never a crash — checked over raw HTTP
 * (status, headers, body) and through the SDK's error classes.
 */
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import { tinyModelPath } from "./helpers/models.js";
import { assertMatchesSchema } from "./helpers/openapi.js";
import { postJson, startServer, type RunningServer } from "./helpers/server.js";

let server: RunningServer;
const model = "tiny";
const ok = { model, messages: [{ role: "user", content: "hi" }], max_tokens: 2 };

before(async () => {
  server = await startServer({
    models: { [model]: await tinyModelPath() },
    args: ["--threads", "1", "--parallel", "1", "--ctx", "256", "--max-waiting", "1"],
  });
});
after(async () => server?.stop());

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

async function expectError(body: unknown, status: number, param: string | null, code?: string): Promise<ErrorBody> {
  const res = await postJson(server.baseURL, "/chat/completions", body);
  const text = await res.text();
  assert.equal(res.status, status, `${JSON.stringify(body).slice(0, 200)} → ${text}`);
  assert.match(res.headers.get("content-type") ?? "", /application\/json/);
  const parsed = JSON.parse(text) as ErrorBody;
  assertMatchesSchema("ErrorResponse", parsed);
  assert.equal(parsed.error.param, param, text);
  if (code !== undefined) assert.equal(parsed.error.code, code, text);
  assert.ok(parsed.error.message.length > 0);
  assert.doesNotMatch(parsed.error.message, /\bat .*\.(js|ts):\d+/, "no stack trace in messages");
  return parsed;
}

describe("validation: 400 with param", () => {
  const cases: Array<[string, unknown, string | null]> = [
    ["temperature of the wrong type", { ...ok, temperature: "hot" }, "temperature"],
    ["temperature out of range", { ...ok, temperature: 2.5 }, "temperature"],
    ["top_p out of range", { ...ok, top_p: 1.5 }, "top_p"],
    ["presence_penalty out of range", { ...ok, presence_penalty: -3 }, "presence_penalty"],
    ["frequency_penalty out of range", { ...ok, frequency_penalty: 2.1 }, "frequency_penalty"],
    ["n below 1", { ...ok, n: 0 }, "n"],
    ["n not an integer", { ...ok, n: 1.5 }, "n"],
    ["n larger than slots plus queue could ever hold", { ...ok, n: 3 }, "n"],
    ["max_tokens zero", { ...ok, max_tokens: 0 }, "max_tokens"],
    ["max_completion_tokens negative", { ...ok, max_completion_tokens: -5 }, "max_completion_tokens"],
    ["empty messages", { ...ok, messages: [] }, "messages"],
    ["messages not an array", { ...ok, messages: "hi" }, "messages"],
    ["unknown role", { ...ok, messages: [{ role: "user", content: "a" }, { role: "wizard", content: "b" }] }, "messages[1].role"],
    ["content of the wrong type", { ...ok, messages: [{ role: "user", content: 42 }] }, "messages[0].content"],
    ["five stop sequences", { ...ok, stop: ["a", "b", "c", "d", "e"] }, "stop"],
    ["empty stop string", { ...ok, stop: "" }, "stop"],
    ["logit_bias value out of range", { ...ok, logit_bias: { "5": 101 } }, "logit_bias.5"],
    ["logit_bias key not a token id", { ...ok, logit_bias: { hello: 1 } }, "logit_bias.hello"],
    ["logit_bias token outside the vocabulary", { ...ok, logit_bias: { "99999999": 5 } }, "logit_bias"],
    ["seed not an integer", { ...ok, seed: "abc" }, "seed"],
    ["missing model", { messages: ok.messages }, "model"],
    ["unknown response_format type", { ...ok, response_format: { type: "yaml" } }, "response_format.type"],
    ["json_schema without a valid name", { ...ok, response_format: { type: "json_schema", json_schema: { name: "bad name!" } } }, "response_format.json_schema.name"],
    ["stream_options without stream", { ...ok, stream_options: { include_usage: true } }, "stream_options"],
    ["image part on a text-only model", { ...ok, messages: [{ role: "user", content: [{ type: "text", text: "what is this" }, { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } }] }] }, "messages[0].content[1].type"],
    ["audio part on a text-only model", { ...ok, messages: [{ role: "user", content: [{ type: "input_audio", input_audio: { data: "AAAA", format: "wav" } }] }] }, "messages[0].content[0].type"],
    ["audio output modality", { ...ok, modalities: ["text", "audio"] }, "modalities"],
    ["audio output options", { ...ok, audio: { voice: "alloy", format: "wav" } }, "audio"],
    ["web search options", { ...ok, web_search_options: {} }, "web_search_options"],
    ["modalities of the wrong type", { ...ok, modalities: "text" }, "modalities"],
    ["unknown reasoning_effort", { ...ok, reasoning_effort: "extreme" }, "reasoning_effort"],
    ["body that is not an object", [1, 2, 3], null],
  ];
  for (const [name, body, param] of cases) {
    test(name, async () => {
      await expectError(body, 400, param);
    });
  }

  test("text-only modalities and null output options are accepted", async () => {
    const res = await postJson(server.baseURL, "/chat/completions", { ...ok, modalities: ["text"], audio: null, web_search_options: null });
    assert.equal(res.status, 200, await res.text());
  });

  test("every reasoning_effort the official SDK allows is accepted", async () => {
    const efforts: Array<NonNullable<OpenAI.ChatCompletionCreateParams["reasoning_effort"]>> = ["none", "minimal", "low", "medium", "high", "xhigh", "max"];
    for (const effort of efforts) {
      const res = await postJson(server.baseURL, "/chat/completions", { ...ok, reasoning_effort: effort });
      assert.equal(res.status, 200, `${effort}: ${await res.text()}`);
    }
  });

  test("unknown fields are ignored as OpenAI does", async () => {
    const res = await postJson(server.baseURL, "/chat/completions", { ...ok, some_future_field: { x: 1 }, metadata: { a: "b" } });
    assert.equal(res.status, 200);
  });
});

describe("transport errors", () => {
  test("invalid JSON is a 400 in OpenAI shape", async () => {
    const res = await postJson(server.baseURL, "/chat/completions", '{"model": "tiny", "messages": [');
    assert.equal(res.status, 400);
    assertMatchesSchema("ErrorResponse", await res.json());
  });

  test("a body over the size limit is a 413 in OpenAI shape", async () => {
    // Announce a 5 MB body and send only its start: the server must answer from the
    // Content-Length alone, without reading (or buffering) the rest.
    const url = new URL(`${server.baseURL}/chat/completions`);
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(
        { host: url.hostname, port: url.port, path: url.pathname, method: "POST", headers: { "content-type": "application/json", "content-length": 5 * 1024 * 1024 } },
        (res) => {
          let data = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => (data += d));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text: data }));
        },
      );
      req.on("error", reject);
      req.write(`{"model":"tiny","messages":[{"role":"user","content":"${"x".repeat(1024)}`);
    });
    assert.equal(status, 413);
    const body = JSON.parse(text) as ErrorBody;
    assertMatchesSchema("ErrorResponse", body);
    assert.equal(body.error.code, "request_too_large");
  });

  test("a wrong content type is a 415 in OpenAI shape", async () => {
    const res = await fetch(`${server.baseURL}/chat/completions`, { method: "POST", headers: { "content-type": "text/plain" }, body: "hi" });
    assert.equal(res.status, 415);
    assertMatchesSchema("ErrorResponse", await res.json());
  });

  test("an unknown route is a 404 in OpenAI shape", async () => {
    const res = await fetch(`${server.baseURL}/completions/legacy`);
    assert.equal(res.status, 404);
    assertMatchesSchema("ErrorResponse", await res.json());
  });

  test("prototype-pollution keys are refused, not merged, and the message says why", async () => {
    const res = await postJson(server.baseURL, "/chat/completions", `{"model":"tiny","messages":[{"role":"user","content":"hi"}],"__proto__":{"polluted":true}}`);
    assert.equal(res.status, 400);
    const body = (await res.json()) as ErrorBody;
    assertMatchesSchema("ErrorResponse", body);
    assert.match(body.error.message, /forbidden key/);
  });

  test("limits: at most 2048 messages; schemas within OpenAI's structured-output limits", async () => {
    const hi = { role: "user", content: "hi" };
    await expectError({ model: "tiny", messages: Array.from({ length: 2049 }, () => hi) }, 400, "messages", "invalid_value");
    const manyEnums = { type: "object", properties: { a: { type: "string", enum: Array.from({ length: 1001 }, (_, i) => `v${i}`) } } };
    const err = await expectError(
      { model: "tiny", messages: [hi], response_format: { type: "json_schema", json_schema: { name: "x", schema: manyEnums } } },
      400,
      "response_format.json_schema.schema",
      "invalid_json_schema",
    );
    assert.match(err.error.message, /1000 enum values/);
  });
});

describe("model limits", () => {
  test("a prompt longer than the context is 400 context_length_exceeded with the numbers", async () => {
    const body = await expectError(
      { ...ok, messages: [{ role: "user", content: "word ".repeat(400) }] },
      400,
      "messages",
      "context_length_exceeded",
    );
    assert.match(body.error.message, /maximum context length is \d+ tokens/);
  });

  test("prompt + max_tokens over the context is refused the same way", async () => {
    await expectError({ ...ok, max_tokens: 100_000 }, 400, "messages", "context_length_exceeded");
  });

  test("the SDK surfaces these as BadRequestError", async () => {
    await assert.rejects(
      server.client.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }], temperature: 9 }),
      (err: unknown) => err instanceof OpenAI.BadRequestError && err.param === "temperature",
    );
  });

  test("over capacity: 503 with Retry-After, never a hang", async () => {
    // One slot and one waiting place: hold the slot with a long stream, fill the queue, and the next is refused.
    const holder = new AbortController();
    const stream = await server.client.chat.completions.create(
      { model, messages: [{ role: "user", content: "go" }], max_tokens: 200, stream: true, ignore_eos: true } as OpenAI.ChatCompletionCreateParamsStreaming,
      { signal: holder.signal },
    );
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    const waiting = server.client.chat.completions.create({ ...ok, messages: [{ role: "user", content: "wait" }] } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    const health = server.baseURL.replace("/v1", "/health");
    for (let i = 0; i < 200; i++) {
      const load = (await (await fetch(health)).json()) as { models: Array<{ waiting: number }> };
      if (load.models[0]?.waiting === 1) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const refused = await postJson(server.baseURL, "/chat/completions", ok);
    assert.equal(refused.status, 503);
    assert.ok(Number(refused.headers.get("retry-after")) >= 1);
    assertMatchesSchema("ErrorResponse", await refused.json());
    holder.abort();
    const served = await waiting;
    assert.equal(served.choices.length, 1, "the queued request is served once the slot frees");
  });
});
