/**
 * One server, two models — the generated tiny model and the llama-2 GGUF made
 * elsewhere (SPM tokenizer, no chat template) — behind an API key. Without the
 * llama-2 file (a fresh clone: see helpers/shared-files.ts) the server has the
 * tiny model only and the llama-2 tests are skipped.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { resolveChatWrapper, type LlamaModel } from "node-llama-cpp";
import OpenAI from "openai";
import { tinyModelPath } from "./helpers/models.js";
import { assertMatchesSchema } from "./helpers/openapi.js";
import { postJson, startServer, type RunningServer } from "./helpers/server.js";
import { foreignLlama2Path, missingSharedFile } from "./helpers/shared-files.js";
import { loadVocab } from "./helpers/tokenizer.js";

const apiKey = "sk-test-secret-key-123";
const llama2Path = foreignLlama2Path();
const needsLlama2 = { skip: llama2Path === null ? missingSharedFile("models/llama-2-tiny-random.gguf") : false };
let server: RunningServer;
let llama2: LlamaModel;

before(async () => {
  if (llama2Path !== null) llama2 = await loadVocab(llama2Path);
  server = await startServer({
    models: { tiny: await tinyModelPath(), ...(llama2Path === null ? {} : { llama2: llama2Path }) },
    args: ["--threads", "1", "--parallel", "2", "--ctx", "1024"],
    apiKey,
  });
});
after(async () => server?.stop());

describe("API key", () => {
  test("missing or wrong keys get 401 invalid_api_key in OpenAI shape", async () => {
    for (const headers of [{}, { authorization: "Bearer sk-wrong" }, { authorization: apiKey }] as Array<Record<string, string>>) {
      const res = await postJson(server.baseURL, "/chat/completions", { model: "tiny", messages: [{ role: "user", content: "hi" }] }, headers);
      assert.equal(res.status, 401);
      const body = (await res.json()) as { error: { code: string; message: string } };
      assertMatchesSchema("ErrorResponse", body);
      assert.equal(body.error.code, "invalid_api_key");
      assert.doesNotMatch(JSON.stringify(body), /sk-wrong|sk-test-secret/, "keys are never echoed");
    }
    const models = await fetch(`${server.baseURL}/models`);
    assert.equal(models.status, 401);
  });

  test("the SDK with the right key is served; /health needs no key", async () => {
    const res = await server.client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 2 });
    assert.equal(res.choices.length, 1);
    const wrong = new OpenAI({ baseURL: server.baseURL, apiKey: "sk-nope", maxRetries: 0 });
    await assert.rejects(wrong.models.list(), (err: unknown) => err instanceof OpenAI.AuthenticationError);
    assert.equal((await fetch(server.baseURL.replace("/v1", "/health"))).status, 200);
  });

  test("the key never appears in the server's logs", () => {
    assert.doesNotMatch(server.logs.join("\n"), new RegExp(apiKey));
  });
});

describe("several models in one process", () => {
  test("both are listed and each answers under its own id", needsLlama2, async () => {
    const ids = (await server.client.models.list()).data.map((m) => m.id).sort();
    assert.deepEqual(ids, ["llama2", "tiny"]);
    for (const model of ids) {
      const res = await server.client.chat.completions.create({ model, messages: [{ role: "user", content: "Hello" }], max_tokens: 4 });
      assertMatchesSchema("CreateChatCompletionResponse", res);
      assert.equal(res.model, model);
    }
  });

  test("llama-2 SPM model: prompt tokens match its chat wrapper's rendering, streaming agrees", needsLlama2, async () => {
    const messages = [
      { role: "system" as const, content: "Be brief." },
      { role: "user" as const, content: "Grüße aus 東京 🚀" },
    ];
    const wrapper = resolveChatWrapper(llama2);
    const { contextText } = wrapper.generateContextState({
      chatHistory: [
        { type: "system", text: "Be brief." },
        { type: "user", text: "Grüße aus 東京 🚀" },
        { type: "model", response: [] },
      ],
    });
    const expected = contextText.tokenize(llama2.tokenizer).length;
    const res = await server.client.chat.completions.create({ model: "llama2", messages, max_tokens: 8, seed: 2 });
    assert.equal(res.usage?.prompt_tokens, expected);
    const stream = await server.client.chat.completions.create({
      model: "llama2",
      messages,
      max_tokens: 8,
      seed: 2,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      assertMatchesSchema("CreateChatCompletionStreamResponse", chunk);
      text += chunk.choices[0]?.delta.content ?? "";
      usage = chunk.usage ?? usage;
    }
    assert.equal(text, res.choices[0]?.message.content);
    assert.equal(usage?.completion_tokens, res.usage?.completion_tokens);
  });

  test("llama-2 model: stop strings and max_tokens behave the same as on the BPE model", needsLlama2, async () => {
    const base = { model: "llama2", messages: [{ role: "user" as const, content: "Count" }], max_tokens: 30, seed: 5, ignore_eos: true } as OpenAI.ChatCompletionCreateParamsNonStreaming;
    const free = await server.client.chat.completions.create(base);
    assert.equal(free.choices[0]?.finish_reason, "length");
    assert.equal(free.usage?.completion_tokens, 30);
    const text = free.choices[0]?.message.content ?? "";
    const stop = text.slice(4, 8);
    assert.equal(stop.length, 4);
    const cut = await server.client.chat.completions.create({ ...base, stop });
    assert.equal(cut.choices[0]?.message.content, text.slice(0, text.indexOf(stop)));
    assert.equal(cut.choices[0]?.finish_reason, "stop");
  });
});
