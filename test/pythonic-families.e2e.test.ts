/**
 * Pythonic-call families end to end through the official SDK, one server with
 * a test model per template (`make-test-model --template`): chatport's own
 * LFM2-style, Llama-pythonic (3.2 and 4) fixtures always, the real LFM2 / LFM2.5
 * templates where ../shared is present. tool_choice required and named give
 * a valid `[f(k=v)]` call (grammar-constrained, parsed back to JSON
 * arguments), a streamed call reassembles to the non-streamed one, strict
 * tools with `auto` are constrained once the model writes LFM2's marker, the
 * call and its result go back through the template, and an LFM2.5 thought
 * lands in reasoning_content.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { describe, test } from "node:test";
import type OpenAI from "openai";
import { assertStreamedAsWhole, callAndResultTest, FAMILY_ASK, familyServer, namedCallTest, requiredCallTest } from "./helpers/family-e2e.js";
import { templateModelPath } from "./helpers/models.js";
import { repoRoot } from "./helpers/server.js";
import { missingSharedFile, sharedTemplatePath } from "./helpers/shared-files.js";
import { loadVocab } from "./helpers/tokenizer.js";

interface FamilyModel {
  id: string;
  template: string | null;
  /** The family writes calls after a marker, so `auto` with strict tools is constrained from there. */
  marker: string | null;
}

const fixture = (name: string): string => path.join(repoRoot, "test", "fixtures", "templates", `${name}.jinja`);
const MODELS: FamilyModel[] = [
  { id: "lfm2-style", template: fixture("lfm2-style"), marker: "<|tool_call_start|>" },
  { id: "llama-pythonic-style", template: fixture("llama-pythonic-style"), marker: null },
  // Llama 4's documented format in a template of our own (no real one at hand).
  { id: "llama4-pythonic-style", template: fixture("llama4-pythonic-style"), marker: null },
  { id: "lfm2", template: sharedTemplatePath("lfm2"), marker: "<|tool_call_start|>" },
  { id: "lfm2.5", template: sharedTemplatePath("lfm2.5"), marker: "<|tool_call_start|>" },
  { id: "lfm2.5-8b-a1b", template: sharedTemplatePath("lfm2.5-8b-a1b"), marker: "<|tool_call_start|>" },
];

const tools: OpenAI.ChatCompletionTool[] = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "Weather in a city",
      parameters: {
        type: "object",
        properties: {
          city: { type: "string", enum: ["Paris", "Lyon"], description: "City" },
          days: { type: "integer", enum: [1, 2, 3], description: "Days" },
          metric: { type: "boolean", description: "Celsius" },
        },
        required: ["city", "days", "metric"],
        additionalProperties: false,
      },
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

function checkCall(call: OpenAI.ChatCompletionMessageToolCall): { name: string; args: Record<string, unknown> } {
  assert.equal(call.type, "function");
  if (call.type !== "function") throw new Error("unreachable");
  assert.match(call.id, /^call_[0-9a-f]{32}$/);
  const args = JSON.parse(call.function.arguments) as Record<string, unknown>;
  if (call.function.name === "get_weather") {
    assert.deepEqual(Object.keys(args).sort(), ["city", "days", "metric"], call.function.arguments);
    assert.ok(args.city === "Paris" || args.city === "Lyon", call.function.arguments);
    assert.ok(args.days === 1 || args.days === 2 || args.days === 3, call.function.arguments);
    assert.equal(typeof args.metric, "boolean", "True/False became a JSON boolean");
  } else {
    assert.equal(call.function.name, "get_time");
    assert.ok(args.zone === "UTC" || args.zone === "CET", call.function.arguments);
  }
  return { name: call.function.name, args };
}

const family = familyServer(MODELS, ["--threads", "1", "--parallel", "1", "--ctx", "2048"]);
const ask = FAMILY_ASK;

async function tokenId(model: FamilyModel, text: string): Promise<number> {
  const vocab = await loadVocab(await templateModelPath(model.template ?? ""));
  const tokens = vocab.tokenize(text, true);
  assert.equal(tokens.length, 1, `${text} is one token`);
  return Number(tokens[0]);
}

for (const model of MODELS) {
  describe(`pythonic family test model ${model.id}`, { skip: model.template === null ? missingSharedFile(`${model.id}.jinja`) : false }, () => {
    const cases = { family, model: model.id, check: checkCall, tools, maxTokens: 60, namedMaxTokens: 40 };
    requiredCallTest(cases, "tool_choice required gives a valid call, streamed as it is non-streamed");
    namedCallTest(cases);

    test("auto with strict tools: a call the model starts is a valid one", async () => {
      // The marker's logit pushed up so that the model starts a call; the grammar takes over after it.
      const bias = model.marker === null ? {} : { logit_bias: { [String(await tokenId(model, model.marker))]: 100 } };
      const res = await family.client.chat.completions.create({ model: model.id, messages: ask, tools, tool_choice: "auto", parallel_tool_calls: false, seed: 9, max_tokens: 60, ...bias });
      const message = res.choices[0]?.message;
      const calls = message?.tool_calls ?? [];
      if (model.marker !== null) {
        assert.equal(res.choices[0]?.finish_reason, "tool_calls", JSON.stringify(message));
        assert.ok(calls.length >= 1);
      }
      calls.forEach(checkCall);
    });

    callAndResultTest(cases);
  });
}

const thinker = MODELS.find((m) => m.id === "lfm2.5-8b-a1b");
test("an LFM2.5 thought lands in reasoning_content, never in content, streamed as non-streamed", { skip: thinker?.template === null ? missingSharedFile("lfm2.5-8b-a1b.jinja") : false }, async () => {
  const model = thinker ?? MODELS[0]!;
  // A random model does not think on its own: <think> pushed up makes it open the thought.
  const body = { model: model.id, messages: [{ role: "user" as const, content: "Think." }], seed: 11, max_tokens: 6, logit_bias: { [String(await tokenId(model, "<think>"))]: 100 } };
  type Message = OpenAI.ChatCompletionMessage & { reasoning_content?: string };
  const whole = await family.client.chat.completions.create(body);
  const message = whole.choices[0]?.message as Message;
  assert.ok(typeof message.reasoning_content === "string" && message.reasoning_content !== "", JSON.stringify(message));
  assert.ok(!(message.content ?? "").includes("<think>"), "no thought in content");
  assert.ok((whole.usage?.completion_tokens_details?.reasoning_tokens ?? 0) > 0);
  await assertStreamedAsWhole(family.client, body as OpenAI.ChatCompletionCreateParamsNonStreaming, message);
});
