/**
 * Forced tool calls on a model of Qwen2.5's vocabulary (151,936 tokens, where
 * the grammar boost is on): every pick outside free strings is boosted —
 * also where the grammar may end (after a call, where it may write another
 * one or end), which end-of-generation tokens used to keep unboosted — and
 * where the grammar allows nothing but the end the choice ends without a
 * pick. Read from the server's chatport_grammar_sampling_steps_total.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type OpenAI from "openai";
import { qwenShapedModelPath } from "./helpers/models.js";
import { startServer, type RunningServer } from "./helpers/server.js";

let server: RunningServer;

before(async () => {
  server = await startServer({ models: { m: await qwenShapedModelPath() }, args: ["--threads", "1", "--parallel", "1", "--ctx", "2048"] });
});
after(async () => server?.stop());

const weather = {
  type: "object",
  properties: { city: { enum: ["Paris", "Oslo", "Lima"] }, metric: { type: "boolean" } },
  required: ["city", "metric"],
  additionalProperties: false,
};

const request = (parallel: boolean, seed: number): OpenAI.ChatCompletionCreateParamsNonStreaming => ({
  model: "m",
  messages: [{ role: "user", content: "What is the weather?" }],
  tools: [{ type: "function", function: { name: "weather", parameters: weather, strict: true } }],
  tool_choice: "required",
  parallel_tool_calls: parallel,
  max_tokens: 160,
  seed,
});

/** The tool-call steps counted so far, by outcome. */
async function steps(): Promise<Record<string, number>> {
  const text = await (await fetch(server.baseURL.replace("/v1", "/metrics"))).text();
  const found: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const match = /^chatport_grammar_sampling_steps_total\{([^}]*)\} (\S+)$/.exec(line);
    if (match === null || !match[1]!.includes('kind="tool_calls"')) continue;
    const outcome = /outcome="([^"]+)"/.exec(match[1]!)![1]!;
    found[outcome] = (found[outcome] ?? 0) + Number(match[2]);
  }
  return found;
}

function since(now: Record<string, number>, before: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(now).map(([k, v]) => [k, v - (before[k] ?? 0)]).filter(([, v]) => v !== 0));
}

test("parallel calls: the picks where the grammar may end (another call or the end) are boosted too", async () => {
  const start = await steps();
  let calls = 0;
  for (const seed of [1, 2]) {
    const res = await server.client.chat.completions.create(request(true, seed));
    calls += res.choices[0]!.message.tool_calls?.length ?? 0;
  }
  const counted = since(await steps(), start);
  assert.ok(calls >= 2, `calls written: ${calls}`);
  // A finished call is followed by a pick between "\n" (another call) and the end: one per call at least.
  assert.equal(counted.may_end, undefined, `steps: ${JSON.stringify(counted)}`);
  assert.equal(counted.too_many, undefined, `steps: ${JSON.stringify(counted)}`);
  assert.ok((counted.boosted ?? 0) > 0, `steps: ${JSON.stringify(counted)}`);
});

test("one call: where the grammar allows only the end, the choice ends without a pick", async () => {
  const start = await steps();
  const res = await server.client.chat.completions.create(request(false, 3));
  const counted = since(await steps(), start);
  const choice = res.choices[0]!;
  assert.equal(choice.finish_reason, "tool_calls");
  assert.equal(choice.message.tool_calls?.length, 1);
  const call = choice.message.tool_calls![0]! as { function: { name: string; arguments: string } };
  assert.equal(call.function.name, "weather");
  const args = JSON.parse(call.function.arguments) as { city: string; metric: boolean };
  assert.ok(["Paris", "Oslo", "Lima"].includes(args.city) && typeof args.metric === "boolean", call.function.arguments);
  assert.equal(counted.grammar_end, 1, `steps: ${JSON.stringify(counted)}`);
  assert.equal(counted.may_end, undefined, `steps: ${JSON.stringify(counted)}`);
  // Usage counts the end as the token the pick would have been.
  const picks = Object.entries(counted).reduce((sum, [, v]) => sum + v, 0);
  assert.equal(res.usage?.completion_tokens, picks, `steps: ${JSON.stringify(counted)}`);
});
