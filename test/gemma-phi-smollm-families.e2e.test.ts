/**
 * Gemma 2/3/4, Phi-3.5 and SmolLM2 end to end through the official SDK, one
 * server with a test model per template (`make-test-model --template`):
 * chatport's own fixtures always, the real templates where ../shared is
 * present. Their templates know no tool syntax of their own, so calls are
 * Hermes-style (Gemma 4's own syntax, end to end in
 * families-own-syntax.e2e.test.ts, runs here on its fixture too): tool_choice
 * required and named give a valid call, streamed as non-streamed, and a
 * conversation with the call and its result renders (Gemma 2/3 would raise
 * on a `tool` turn and Phi-3.5 would drop it; chatport writes both as text)
 * and runs. Gemma 4's `reasoning_effort` map: thinking off below `low`, on
 * from `low`.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { Template } from "@huggingface/jinja";
import type OpenAI from "openai";
import { familyServer, streamedToolCalls } from "./helpers/family-e2e.js";
import { templateModelPath } from "./helpers/models.js";
import { repoRoot } from "./helpers/server.js";
import { missingSharedFile, sharedTemplatePath } from "./helpers/shared-files.js";
import { loadVocab } from "./helpers/tokenizer.js";

const fixture = (name: string): string => path.join(repoRoot, "test", "fixtures", "templates", `${name}.jinja`);

/** The real template under a name without "phi3": llama.cpp fails to load a test model whose general.name contains it. */
function renamedTemplate(name: string): string | null {
  const file = sharedTemplatePath(name);
  if (file === null || !name.includes("phi3")) return file;
  const copy = path.join(os.tmpdir(), `chatport-${name.replace("phi3", "ms-phi-")}.jinja`);
  fs.copyFileSync(file, copy);
  return copy;
}

const MODELS: Array<{ id: string; template: string | null }> = [
  { id: "gemma-style", template: fixture("gemma-style") },
  { id: "phi-style", template: fixture("phi-style") },
  { id: "gemma4-style", template: fixture("gemma4-style") },
  { id: "gemma2", template: sharedTemplatePath("gemma2") },
  { id: "gemma3", template: sharedTemplatePath("gemma3") },
  { id: "phi3.5", template: renamedTemplate("phi3.5") },
  { id: "smollm2", template: sharedTemplatePath("smollm2") },
];

const tools: OpenAI.ChatCompletionTool[] = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "Weather in a city",
      parameters: { type: "object", properties: { city: { type: "string", enum: ["Paris", "Lyon"] } }, required: ["city"], additionalProperties: false },
      strict: true,
    },
  },
  {
    type: "function",
    function: {
      name: "get_time",
      description: "Time in a zone",
      parameters: { type: "object", properties: { zone: { type: "string", enum: ["UTC", "CET"] } }, required: ["zone"], additionalProperties: false },
      strict: true,
    },
  },
];

function checkCall(call: OpenAI.ChatCompletionMessageToolCall): { name: string; args: unknown } {
  if (call.type !== "function") throw new Error(`not a function call: ${call.type}`);
  const args = JSON.parse(call.function.arguments) as Record<string, unknown>;
  if (call.function.name === "get_weather") assert.ok(args.city === "Paris" || args.city === "Lyon", call.function.arguments);
  else {
    assert.equal(call.function.name, "get_time");
    assert.ok(args.zone === "UTC" || args.zone === "CET", call.function.arguments);
  }
  return { name: call.function.name, args };
}

const family = familyServer(MODELS, ["--threads", "1", "--parallel", "1", "--ctx", "2048"]);

// A system message too: Gemma 2's template has no system role, so chatport puts it into the first user turn.
const ask: OpenAI.ChatCompletionMessageParam[] = [
  { role: "system", content: "You answer with tools." },
  { role: "user", content: "Weather in Paris?" },
];

for (const model of MODELS) {
  describe(`family test model ${model.id}`, { skip: model.template === null ? missingSharedFile(`${model.id}.jinja`) : false }, () => {
    test("tool_choice required gives a valid call, streamed as it is non-streamed; a named tool is the one called", async () => {
      const body = { model: model.id, messages: ask, tools, tool_choice: "required" as const, parallel_tool_calls: false, seed: 7, max_tokens: 60 };
      const whole = await family.client.chat.completions.create(body);
      assert.equal(whole.choices[0]?.finish_reason, "tool_calls");
      const parsed = (whole.choices[0]?.message.tool_calls ?? []).map(checkCall);
      assert.equal(parsed.length, 1);
      const { calls: streamed } = await streamedToolCalls(await family.client.chat.completions.create({ ...body, stream: true }));
      assert.deepEqual(streamed.map((c) => ({ name: c.name, args: JSON.parse(c.args) as unknown })), parsed);
      const named = await family.client.chat.completions.create({ ...body, tool_choice: { type: "function", function: { name: "get_time" } } });
      assert.deepEqual((named.choices[0]?.message.tool_calls ?? []).map((c) => checkCall(c).name), ["get_time"]);
    });

    test("the call and its result go back through the template", async () => {
      const first = await family.client.chat.completions.create({ model: model.id, messages: ask, tools, tool_choice: "required", parallel_tool_calls: false, seed: 5, max_tokens: 60 });
      const message = first.choices[0]?.message;
      assert.ok(message?.tool_calls !== undefined && message.tool_calls.length === 1);
      const next = await family.client.chat.completions.create({
        model: model.id,
        messages: [...ask, { role: "assistant", content: null, tool_calls: message.tool_calls }, { role: "tool", tool_call_id: message.tool_calls[0]!.id, content: '{"temp_c": 21}' }],
        tools,
        max_tokens: 8,
      });
      assert.ok(next.usage !== undefined && next.usage.prompt_tokens > first.usage!.prompt_tokens, "the prompt grew by the call and its result");
      assert.ok(["stop", "length", "tool_calls"].includes(next.choices[0]?.finish_reason ?? ""));
    });
  });
}

test("reasoning_effort on Gemma 4: minimal renders the template with thinking off, low with it on", async () => {
  const model = "gemma4-style";
  const file = fixture(model);
  const vocab = await loadVocab(await templateModelPath(file));
  const messages = [{ role: "user" as const, content: "Why is the sky blue?" }];
  for (const [effort, thinking] of [["minimal", false], ["low", true], ["none", false], ["high", true]] as const) {
    const res = await family.client.chat.completions.create({ model, messages, max_tokens: 4, reasoning_effort: effort } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    const text = new Template(fs.readFileSync(file, "utf8")).render({ messages, add_generation_prompt: true, bos_token: "<bos>", enable_thinking: thinking });
    assert.ok(text.includes("<|think|>") === thinking);
    assert.equal(res.usage?.prompt_tokens, vocab.tokenize(text, true).length, `${effort}: the prompt chatport rendered is the template's with enable_thinking=${thinking}`);
  }
});
