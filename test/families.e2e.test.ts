/**
 * Every registered family end to end through the official SDK, on a test
 * model made with that family's chat template (`make-test-model --template`):
 * chatport's own fixtures always, the real templates where ../shared is
 * present. tool_choice required and named give valid calls in the family's
 * syntax (grammar-constrained, parsed back by the family's parser), a
 * streamed call reassembles to the non-streamed one, the call and its result
 * go back through the template, and reasoning lands in reasoning_content.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { describe, test } from "node:test";
import type OpenAI from "openai";
import { Template } from "@huggingface/jinja";
import { resolveConfig } from "../src/config.js";
import { CHATML_THINKING_TOOLS_TEMPLATE } from "../src/gguf/chatml-template.js";
import { assertStreamedAsWhole, callAndResultTest, checkFamilyCall, FAMILY_TOOLS, familyServer, namedCallTest, OPENAI_CALL_IDS, requiredCallTest } from "./helpers/family-e2e.js";
import { fixtureTemplate, templateModelPath, tinyModelPath } from "./helpers/models.js";
import { postJson } from "./helpers/server.js";
import { loadVocab } from "./helpers/tokenizer.js";
import { missingSharedFile, sharedTemplatePath } from "./helpers/shared-files.js";

interface FamilyModel {
  id: string;
  template: string | null;
  /** Tool-call ids the family's templates take back. */
  idPattern: RegExp;
}

const openAiIds = OPENAI_CALL_IDS;
const MODELS: FamilyModel[] = [
  { id: "mistral-style", template: fixtureTemplate("mistral-style"), idPattern: /^[0-9a-f]{9}$/ },
  { id: "llama3-style", template: fixtureTemplate("llama3-style"), idPattern: openAiIds },
  { id: "granite-style", template: fixtureTemplate("granite-style"), idPattern: openAiIds },
  { id: "qwen2.5", template: sharedTemplatePath("qwen2.5"), idPattern: openAiIds },
  { id: "hermes3", template: sharedTemplatePath("hermes3"), idPattern: openAiIds },
  { id: "qwen3", template: sharedTemplatePath("qwen3"), idPattern: openAiIds },
  { id: "llama3.1", template: sharedTemplatePath("llama3.1"), idPattern: openAiIds },
  { id: "mistral-nemo", template: sharedTemplatePath("mistral-nemo"), idPattern: /^[0-9a-f]{9}$/ },
  { id: "mistral-small-3.2", template: sharedTemplatePath("mistral-small-3.2"), idPattern: /^[0-9a-f]{9}$/ },
  { id: "granite3.3", template: sharedTemplatePath("granite3.3"), idPattern: openAiIds },
  { id: "granite4.0", template: sharedTemplatePath("granite4.0"), idPattern: openAiIds },
  { id: "phi4-mini", template: sharedTemplatePath("phi4-mini"), idPattern: openAiIds },
];
const qwq = sharedTemplatePath("qwq");

const tools = FAMILY_TOOLS;

const family = familyServer(MODELS, ["--threads", "1", "--parallel", "2", "--ctx", "4096", "--chat-template", `overridden=${fixtureTemplate("mistral-style")}`], async () => ({
  ...(qwq === null ? {} : { qwq: await templateModelPath(qwq) }),
  thinker: await tinyModelPath(1, "thinking"),
  // The plain ChatML model, rendered with the Mistral-style fixture instead of its own template.
  overridden: await tinyModelPath(),
}));

for (const model of MODELS) {
  describe(`family test model ${model.id}`, { skip: model.template === null ? missingSharedFile(`${model.id}.jinja`) : false }, () => {
    const cases = { family, model: model.id, check: (c: OpenAI.ChatCompletionMessageToolCall) => checkFamilyCall(c, model.idPattern), idPattern: model.idPattern, maxTokens: 200, namedMaxTokens: 100 };
    requiredCallTest(cases);
    namedCallTest(cases);
    callAndResultTest(cases);
  });
}

test("a template that opens the thought in the prompt (QwQ): the output is reasoning_content, streamed as non-streamed", { skip: qwq === null ? missingSharedFile("qwq.jinja") : false }, async () => {
  const body = { model: "qwq", messages: [{ role: "user" as const, content: "Think." }], seed: 11, max_tokens: 12 };
  const whole = await family.client.chat.completions.create(body);
  const message = whole.choices[0]?.message as OpenAI.ChatCompletionMessage & { reasoning_content?: string };
  assert.ok(typeof message.reasoning_content === "string" && message.reasoning_content !== "", JSON.stringify(message));
  assert.ok(!(message.content ?? "").includes("<think>") && !(message.reasoning_content ?? "").includes("<think>"));
  assert.ok((whole.usage?.completion_tokens_details?.reasoning_tokens ?? 0) > 0);
  await assertStreamedAsWhole(family.client, body as OpenAI.ChatCompletionCreateParamsNonStreaming, message);
});

describe("chat_template_kwargs", () => {
  const hello = [{ role: "user" as const, content: "Why is the sky blue?" }];
  type Message = OpenAI.ChatCompletionMessage & { reasoning_content?: string };

  test("{enable_thinking: false} renders the template with thinking off, and nothing is parsed as reasoning", async () => {
    const off = await family.client.chat.completions.create({
      model: "thinker",
      messages: hello,
      max_tokens: 10,
      ignore_eos: true,
      chat_template_kwargs: { enable_thinking: false },
    } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    const message = off.choices[0]?.message as Message;
    assert.equal(message.reasoning_content, undefined);
    assert.ok((message.content ?? "").length > 0);
    assert.equal(off.usage?.completion_tokens_details?.reasoning_tokens, 0);
    const vocab = await loadVocab(await tinyModelPath(1, "thinking"));
    const rendered = new Template(CHATML_THINKING_TOOLS_TEMPLATE).render({ messages: hello, add_generation_prompt: true, enable_thinking: false });
    assert.equal(off.usage?.prompt_tokens, vocab.tokenize(rendered, true).length);
  });

  test("variables the request sets itself are refused", async () => {
    const res = await postJson(family.server.baseURL, "/chat/completions", { model: "thinker", messages: hello, chat_template_kwargs: { messages: [] } });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { param: string; type: string } };
    assert.equal(body.error.type, "invalid_request_error");
    assert.match(body.error.param, /^chat_template_kwargs/);
  });
});

test("--chat-template ID=FILE: the model renders with that template and writes calls in its family's syntax", async () => {
  const messages = [{ role: "user" as const, content: "Weather?" }];
  const res = await family.client.chat.completions.create({ model: "overridden", messages, tools, tool_choice: "required", parallel_tool_calls: false, seed: 2, max_tokens: 200 });
  const calls = res.choices[0]?.message.tool_calls ?? [];
  assert.equal(calls.length, 1);
  checkFamilyCall(calls[0]!, /^[0-9a-f]{9}$/);
  const vocab = await loadVocab(await tinyModelPath());
  const text = new Template(fs.readFileSync(fixtureTemplate("mistral-style"), "utf8")).render({
    messages,
    tools: tools.map((t) => (t.type === "function" ? { type: "function", function: { name: t.function.name, description: t.function.description, parameters: t.function.parameters } } : t)),
    add_generation_prompt: true,
    bos_token: vocab.tokens.bosString ?? "",
    eos_token: vocab.tokens.eosString ?? "",
  });
  assert.equal(res.usage?.prompt_tokens, vocab.tokenize(text, true).length, "prompt_tokens count the override's rendering");
  const loaded = family.server.jsonLogs().find((l) => l.msg === "model loaded" && l.model === "overridden");
  assert.equal(loaded?.family, "mistral-args");
});

test("--chat-template naming no local model is a configuration error", () => {
  assert.throws(
    () => resolveConfig({ models: [{ id: "a", source: "./a.gguf" }], chatTemplates: ["b=./t.jinja"] }, undefined, {}),
    /--chat-template names "b", which is not a local model/,
  );
  assert.equal(resolveConfig({ models: [{ id: "a", source: "./a.gguf" }], chatTemplates: ["a=./t.jinja"] }, undefined, {}).models[0]?.chatTemplate, "./t.jinja");
});

test("the tokens chatport injects to close a thought have logprob entries too", async () => {
  const res = await family.client.chat.completions.create({
    model: "thinker",
    messages: [{ role: "user", content: "Why?" }],
    max_tokens: 90,
    ignore_eos: true,
    reasoning_effort: "minimal",
    logprobs: true,
    seed: 4,
  } as OpenAI.ChatCompletionCreateParamsNonStreaming);
  const entries = res.choices[0]?.logprobs?.content ?? [];
  assert.equal(entries.length, res.usage?.completion_tokens, "one entry per completion token");
  const closing = entries.findIndex((e) => e.token === "</think>");
  assert.ok(closing > 0, "the injected </think> is among them");
  assert.equal(entries[closing]?.logprob, 0, "chosen, not sampled: probability 1");
});
