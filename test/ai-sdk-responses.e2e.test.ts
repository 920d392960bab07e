/**
 * The Vercel AI SDK's default OpenAI provider (`openai(model)` from
 * `@ai-sdk/openai`) speaks the Responses API: generateText, streamText, a
 * tool call and generateObject against a real server process.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createOpenAI } from "@ai-sdk/openai";
import { generateObject, generateText, streamText, tool } from "ai";
import { z } from "zod";
import { tinyModelPath } from "./helpers/models.js";
import { startServer, type RunningServer } from "./helpers/server.js";

let server: RunningServer;
const apiKey = "sk-ai-sdk-responses-0123";

before(async () => {
  server = await startServer({ models: { tiny: await tinyModelPath() }, args: ["--threads", "1", "--parallel", "2", "--ctx", "2048"], apiKey });
});
after(async () => server?.stop());

const provider = (): ReturnType<typeof createOpenAI> => createOpenAI({ baseURL: server.baseURL, apiKey });

test("generateText: text and usage through /v1/responses", async () => {
  const result = await generateText({ model: provider()("tiny"), prompt: "Say hello.", maxOutputTokens: 12, maxRetries: 0 });
  assert.ok(result.text.length > 0);
  // Unseeded (the Responses API has no seed): the random model may end its answer early.
  assert.ok(["length", "stop"].includes(result.finishReason), result.finishReason);
  assert.ok((result.usage.inputTokens ?? 0) > 0);
  if (result.finishReason === "length") assert.equal(result.usage.outputTokens, 12);
  else assert.ok((result.usage.outputTokens ?? 0) >= 1 && (result.usage.outputTokens ?? 0) <= 12);
  assert.match(result.response.id, /^resp_/);
});

test("streamText: text deltas, then the finish and usage of the response", async () => {
  // The Responses API has no seed, so a streamed and a plain call cannot be compared token for token.
  const stream = streamText({ model: provider()("tiny"), prompt: "Count to three.", maxOutputTokens: 10, maxRetries: 0 });
  let streamed = "";
  let deltas = 0;
  for await (const part of stream.textStream) {
    streamed += part;
    deltas++;
  }
  assert.ok(streamed.length > 0 && deltas > 1, `${deltas} deltas`);
  assert.equal(streamed, await stream.text);
  assert.equal(await stream.finishReason, "length");
  assert.equal((await stream.usage).outputTokens, 10);
  assert.match((await stream.response).id, /^resp_/);
});

test("a tool call: toolChoice required gives a call to the tool whose input fits its schema", async () => {
  const inputSchema = z.object({ city: z.string().max(12), days: z.number().int().min(1).max(7) });
  const result = await generateText({
    model: provider()("tiny"),
    prompt: "What is the weather?",
    tools: { weather: tool({ description: "Weather for a city", inputSchema }) },
    toolChoice: "required",
    maxOutputTokens: 400,
    maxRetries: 0,
  });
  const call = result.toolCalls[0];
  assert.equal(call?.toolName, "weather", JSON.stringify(result.content));
  assert.ok(inputSchema.safeParse(call?.input).success, JSON.stringify(call?.input));
  assert.equal(result.finishReason, "tool-calls");
});

test("generateObject: an object that fits the zod schema", async () => {
  const schema = z.object({ name: z.string().max(12), age: z.number().int().min(0).max(120), tags: z.array(z.enum(["a", "b"])).max(2) });
  let object: unknown = null;
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      object = (await generateObject({ model: provider()("tiny"), schema, prompt: "A person.", maxOutputTokens: 400, maxRetries: 0 })).object;
      break;
    } catch (err) {
      // Random weights may run a string past the token limit; another try then finishes.
      if ((err as { finishReason?: string }).finishReason !== "length") throw err;
    }
  }
  assert.ok(schema.safeParse(object).success, JSON.stringify(object));
});
