/**
 * POST /v1/completions on upstream models, through the official `openai`
 * SDK: the client's body goes to the upstream's own /v1/completions (model
 * renamed, max_tokens set, include_usage forced when streaming), its
 * `text_completion` answer comes back in the same shape, and the request is
 * metered from the upstream's usage — against the fake upstream and against
 * a real chatport serving a local model. The prompt's own logprobs (echo with
 * logprobs, max_tokens 0) pass through both ways, streamed or not.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import { startFakeUpstream, type FakeUpstream } from "../src/upstream/fake-upstream.js";
import { tinyModelPath } from "./helpers/models.js";
import { assertMatchesSchema } from "./helpers/openapi.js";
import { createKey, startServer, tempDbPath, type RunningServer } from "./helpers/server.js";

const upstreamKey = "sk-completions-upstream-key";
const fakeKey = "sk-completions-fake-key";
const adminKey = "sk-completions-upstream-admin";
let upstream: RunningServer;
let fake: FakeUpstream;
let gateway: RunningServer;
let client: OpenAI;
let keyId: string;

before(async () => {
  upstream = await startServer({ models: { tiny: await tinyModelPath() }, args: ["--threads", "1", "--parallel", "2", "--ctx", "1024"], apiKey: upstreamKey });
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
        { id: "remote-tiny", deployments: [{ provider: "chatport-up", model: "tiny" }], contextLength: 1024 },
        { id: "fake", deployments: [{ provider: "fake", model: "fake-model" }], retries: 0 },
      ],
    }),
  );
  gateway = await startServer({ models: {}, args: ["--config", configFile, "--db-path", dbPath], adminKey, env: { UP_KEY: upstreamKey, FAKE_KEY: fakeKey } });
  const key = await createKey(gateway, adminKey, { name: "completions-upstream" });
  keyId = key.id;
  client = new OpenAI({ baseURL: gateway.baseURL, apiKey: key.secret, maxRetries: 0, timeout: 120_000 });
});

after(async () => {
  await gateway?.stop();
  await Promise.all([upstream?.stop(), fake?.close()]);
});

async function usageOf(): Promise<{ requests: number; prompt_tokens: number; completion_tokens: number }> {
  const res = await fetch(gateway.baseURL.replace("/v1", `/admin/usage?key=${keyId}`), { headers: { authorization: `Bearer ${adminKey}` } });
  const body = (await res.json()) as { data: Array<{ requests: number; prompt_tokens: number; completion_tokens: number }> };
  return body.data[0] ?? { requests: 0, prompt_tokens: 0, completion_tokens: 0 };
}

const lastCompletionsBody = (): Record<string, unknown> => {
  const recorded = fake.requests.filter((r) => r.path === "/v1/completions").at(-1);
  assert.ok(recorded?.body, "the fake upstream got a completions request");
  return recorded.body;
};

describe("POST /v1/completions on upstream models", () => {
  test("the fake upstream: the body goes to its /v1/completions; its text, logprobs and usage come back; one ledger row from its usage", async () => {
    const before = await usageOf();
    const res = await client.completions.create({ model: "fake", prompt: ["alpha beta", "gamma"], n: 2, logprobs: 1, echo: false, max_tokens: 3 });
    assertMatchesSchema("CreateCompletionResponse", res);
    const body = lastCompletionsBody();
    assert.equal(body.model, "fake-model");
    assert.deepEqual(body.prompt, ["alpha beta", "gamma"]);
    assert.equal(body.n, 2);
    assert.equal(body.logprobs, 1);
    assert.equal(body.max_tokens, 3);
    assert.equal(fake.requests.filter((r) => r.path === "/v1/chat/completions").length, 0, "nothing was translated to chat");
    assert.deepEqual(
      res.choices.map((c) => [c.index, c.text]),
      [
        [0, "alpha beta alpha"],
        [1, "alpha beta alpha"],
        [2, "gamma gamma gamma"],
        [3, "gamma gamma gamma"],
      ],
    );
    assert.deepEqual(res.choices[0]?.logprobs?.tokens, ["alpha", " beta", " alpha"]);
    assert.deepEqual(res.choices[0]?.logprobs?.text_offset, [0, 5, 10]);
    // The fake's own counts: 3 + words per prompt, 3 tokens per choice.
    assert.equal(res.usage?.prompt_tokens, 3 + 2 + (3 + 1));
    assert.equal(res.usage?.completion_tokens, 4 * 3);
    const after = await usageOf();
    assert.equal(after.requests, before.requests + 1);
    assert.equal(after.prompt_tokens - before.prompt_tokens, res.usage?.prompt_tokens);
    assert.equal(after.completion_tokens - before.completion_tokens, res.usage?.completion_tokens);
  });

  test("the fake upstream, streamed: max_tokens 16 by default, include_usage forced upstream, withheld from a client that did not ask", async () => {
    const stream = await client.completions.create({ model: "fake", prompt: "one two", stream: true });
    let text = "";
    let finish: string | null = null;
    let sawUsage = false;
    for await (const chunk of stream) {
      assert.equal(chunk.object, "text_completion");
      for (const choice of chunk.choices) {
        text += choice.text;
        finish = choice.finish_reason ?? finish;
      }
      if (chunk.usage) sawUsage = true;
    }
    const body = lastCompletionsBody();
    assert.equal(body.max_tokens, 16);
    assert.deepEqual(body.stream_options, { include_usage: true });
    assert.equal(text.split(" ").length, 16);
    assert.equal(finish, "stop");
    assert.equal(sawUsage, false);

    const withUsage = await client.completions.create({ model: "fake", prompt: "one two", stream: true, max_tokens: 2, stream_options: { include_usage: true } });
    let usage: OpenAI.Completions.CompletionUsage | undefined;
    for await (const chunk of withUsage) if (chunk.usage) usage = chunk.usage;
    assert.deepEqual(usage && [usage.prompt_tokens, usage.completion_tokens], [3 + 2, 2]);
  });

  test("a real chatport upstream: the same completion as asking it directly, streamed or not", async () => {
    const direct = new OpenAI({ baseURL: upstream.baseURL, apiKey: upstreamKey, maxRetries: 0 });
    const params = { prompt: ["Once upon", "a time"], temperature: 0, max_tokens: 5, echo: true, logprobs: null };
    const expected = await direct.completions.create({ model: "tiny", ...params });
    const res = await client.completions.create({ model: "remote-tiny", ...params });
    assertMatchesSchema("CreateCompletionResponse", res);
    assert.deepEqual(
      res.choices.map((c) => [c.index, c.text, c.finish_reason]),
      expected.choices.map((c) => [c.index, c.text, c.finish_reason]),
    );
    assert.equal(res.usage?.prompt_tokens, expected.usage?.prompt_tokens);
    assert.equal(res.usage?.completion_tokens, expected.usage?.completion_tokens);
    const stream = await client.completions.create({ model: "remote-tiny", ...params, stream: true as const });
    const texts = ["", ""];
    for await (const chunk of stream) for (const choice of chunk.choices) texts[choice.index] += choice.text;
    assert.deepEqual(
      texts,
      expected.choices.map((c) => c.text),
    );
  });

  test("the fake upstream: echo + logprobs + max_tokens 0 are forwarded; the prompt's logprobs come back with the first null, streamed in the first chunk", async () => {
    const before = await usageOf();
    const res = await client.completions.create({ model: "fake", prompt: "score these words", echo: true, logprobs: 2, max_tokens: 0 });
    const body = lastCompletionsBody();
    assert.equal(body.echo, true);
    assert.equal(body.logprobs, 2);
    assert.equal(body.max_tokens, 0);
    const choice = res.choices[0];
    assert.equal(choice?.text, "score these words");
    assert.equal(choice?.finish_reason, "length");
    // The fake's deterministic prompt logprobs: word k scores −0.05·k, the first null.
    assert.deepEqual(choice?.logprobs, {
      tokens: ["score", " these", " words"],
      token_logprobs: [null, -0.05, -0.1],
      top_logprobs: [null, { " these": -0.05, alt1: -1.05 }, { " words": -0.1, alt1: -1.1 }],
      text_offset: [0, 5, 11],
    });
    assert.equal(res.usage?.completion_tokens, 0);
    const after = await usageOf();
    assert.equal(after.completion_tokens, before.completion_tokens);
    assert.equal(after.prompt_tokens - before.prompt_tokens, res.usage?.prompt_tokens);

    // With a continuation, streamed: the first chunk is the prompt with its logprobs, then the continuation's.
    const whole = await client.completions.create({ model: "fake", prompt: "score these words", echo: true, logprobs: 1, max_tokens: 2 });
    assert.deepEqual(whole.choices[0]?.logprobs?.tokens, ["score", " these", " words", "score", " these"]);
    assert.deepEqual(whole.choices[0]?.logprobs?.text_offset, [0, 5, 11, 17, 22]);
    assert.equal(whole.choices[0]?.logprobs?.token_logprobs?.[0], null);
    const stream = await client.completions.create({ model: "fake", prompt: "score these words", echo: true, logprobs: 1, max_tokens: 2, stream: true });
    const chunks: OpenAI.Completions.CompletionChoice[] = [];
    for await (const chunk of stream) chunks.push(...chunk.choices);
    assert.equal(chunks[0]?.text, "score these words");
    assert.deepEqual(chunks[0]?.logprobs?.token_logprobs, [null, -0.05, -0.1]);
    assert.equal(chunks.map((c) => c.text).join(""), whole.choices[0]?.text);
    assert.deepEqual(
      chunks.flatMap((c) => c.logprobs?.text_offset ?? []),
      whole.choices[0]?.logprobs?.text_offset,
    );
    assert.deepEqual(
      chunks.flatMap((c) => c.logprobs?.token_logprobs ?? []),
      whole.choices[0]?.logprobs?.token_logprobs,
    );
  });

  test("a real chatport upstream: the prompt's logprobs as it gives them directly", async () => {
    const direct = new OpenAI({ baseURL: upstream.baseURL, apiKey: upstreamKey, maxRetries: 0 });
    for (const maxTokens of [0, 3]) {
      const params = { prompt: "the prompt scored", echo: true, logprobs: 2, temperature: 0, max_tokens: maxTokens };
      const expected = await direct.completions.create({ model: "tiny", ...params });
      const res = await client.completions.create({ model: "remote-tiny", ...params });
      assert.equal(res.choices[0]?.text, expected.choices[0]?.text);
      assert.equal(res.choices[0]?.finish_reason, expected.choices[0]?.finish_reason);
      assert.deepEqual(res.choices[0]?.logprobs, expected.choices[0]?.logprobs);
      assert.equal(res.choices[0]?.logprobs?.token_logprobs?.[0], null);
      assert.equal(res.usage?.completion_tokens, expected.usage?.completion_tokens);
    }
  });

  test("an upstream's refusal comes back as the client's 400", async () => {
    await assert.rejects(
      client.completions.create({ model: "remote-tiny", prompt: "x", suffix: "y" }),
      (err: unknown) => err instanceof OpenAI.BadRequestError && err.param === "suffix",
    );
  });
});
