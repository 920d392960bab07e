/**
 * "Same seed and request ⇒ same output" whatever the prefix cache holds and
 * whatever else arrives at the same time — on a model of a real model's
 * shape, where llama.cpp's kernels give slightly different logits for a
 * prompt evaluated in a different batch shape (a cached prefix plus a tail,
 * or beside other prompts), enough to change sampled tokens.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type OpenAI from "openai";
import { qwenShapedModelPath } from "./helpers/models.js";
import { startServer, type RunningServer } from "./helpers/server.js";

let server: RunningServer;

before(async () => {
  server = await startServer({ models: { m: await qwenShapedModelPath() }, args: ["--threads", "1", "--parallel", "4", "--ctx", "2048"] });
});
after(async () => server?.stop());

const system = { role: "system" as const, content: "You are a helpful assistant. ".repeat(20) };
const seeded = {
  model: "m",
  messages: [system, { role: "user" as const, content: "Tell me a story about a dragon." }],
  max_tokens: 16,
  seed: 77,
  temperature: 1,
  ignore_eos: true,
} as OpenAI.ChatCompletionCreateParamsNonStreaming;

async function text(params: OpenAI.ChatCompletionCreateParamsNonStreaming): Promise<string> {
  const res = await server.client.chat.completions.create(params);
  return res.choices[0]?.message.content ?? "";
}

test("a seeded request gives the same output cold, with its prompt cached, with a shared prefix cached, in a burst and beside decoding streams", async () => {
  const cold = await text(seeded);
  assert.ok(cold.length > 0);
  assert.equal(await text(seeded), cold, "with the whole prompt in the cache");
  // The cache now holds the system prompt followed by another question.
  await text({ ...seeded, messages: [system, { role: "user", content: "Something else entirely, please." }], seed: 1 });
  assert.equal(await text(seeded), cold, "with only the system prompt in the cache");
  // Arriving together with other prompts (which would share its prefill step).
  const burst = await Promise.all([
    text(seeded),
    ...[1, 2, 3].map((i) => text({ ...seeded, messages: [{ role: "user", content: `noise ${i} `.repeat(10 * i) }], seed: i })),
  ]);
  assert.equal(burst[0], cold, "beside a burst of other prompts");
  // Arriving while other streams decode (their tokens would share its prefill step).
  const decoding = await Promise.all(
    [1, 2, 3].map(async (i) => {
      const stream = await server.client.chat.completions.create({ ...seeded, messages: [{ role: "user", content: `busy ${i}` }], seed: i, max_tokens: 48, stream: true });
      const reader = stream[Symbol.asyncIterator]();
      await reader.next(); // the stream is generating
      return reader;
    }),
  );
  const beside = await text(seeded);
  for (const reader of decoding) while (!(await reader.next()).done);
  assert.equal(beside, cold, "while other streams decode");
  assert.notEqual(await text({ ...seeded, seed: 78 }), cold, "another seed gives another output");
});

test("an unseeded request still reuses the cached prefix", async () => {
  const { seed: _seed, ...unseeded } = seeded;
  await server.client.chat.completions.create({ ...unseeded, max_tokens: 1 });
  const again = await server.client.chat.completions.create({ ...unseeded, max_tokens: 1 });
  assert.ok((again.usage?.prompt_tokens_details?.cached_tokens ?? 0) > 0, "the prefix cache serves requests without a seed");
});
