/**
 * Reasoning end to end for the families whose model opens its thought itself
 * (the generation prompt does not end inside `<think>`): Kimi K2 Thinking,
 * GLM-4.5 / 4.6 and Granite 3.3 with its `thinking` switch — and Qwen3.5 and
 * Nemotron 3 Nano (Qwen3-Coder's family), whose prompt opens it — through the
 * official SDK on their real templates (skipped where ../shared is absent).
 * A random model never writes `<think>`, so each test model follows token
 * chains (`make-test-model --chain`): after the generation prompt's last
 * token it opens the thought and thinks (" think" repeated), and after the
 * close tag — its own or the one chatport writes when a thinking budget is
 * spent — it answers " answer" and ends its turn. The thought comes back in
 * reasoning_content, never in content, streamed as non-streamed; the switches
 * (reasoning_effort, the template's own variable) act as each family defines;
 * and a history with thoughts is rendered as the template itself renders it.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { Template } from "@huggingface/jinja";
import type OpenAI from "openai";
import { customChatTemplate } from "../src/cli/test-model-template.js";
import { detectFamily } from "../src/engines/llama/families/registry.js";
import { chainedTemplateModelPath } from "./helpers/models.js";
import { startServer, type RunningServer } from "./helpers/server.js";
import { missingSharedFile, sharedTemplatePath } from "./helpers/shared-files.js";
import { loadVocab } from "./helpers/tokenizer.js";

interface ReasoningModel {
  id: string;
  template: string | null;
  /** The chains its test model follows. */
  chains: string[][];
  /** Request fields that turn thinking on; {}: the template thinks by default. */
  on: Record<string, unknown>;
  /** reasoning_effort that spends the thinking budget before max_tokens (and the max_tokens for it). */
  budget: { effort: string; maxTokens: number };
  /** Whether the template renders through @huggingface/jinja as it is (Granite's needs strftime_now). */
  renders: boolean;
}

const THINK = " think";
const ANSWER = " answer";
/** GLM-4.5 and 4.6: the prompt ends in <|assistant|>; the turn ends at <|user|>. */
const glm = {
  chains: [["<|assistant|>", "<think>", THINK], ["</think>", ANSWER, "<|user|>"], ["\n\n", ANSWER]],
  on: {},
  budget: { effort: "minimal", maxTokens: 90 },
  renders: true,
};
const MODELS: ReasoningModel[] = [
  {
    id: "kimi-k2-thinking",
    template: sharedTemplatePath("kimi-k2-thinking"),
    chains: [["<|im_middle|>", "<think>", THINK], ["</think>", ANSWER, "<|im_end|>"], ["\n\n", ANSWER]],
    on: {},
    budget: { effort: "minimal", maxTokens: 90 },
    renders: true,
  },
  {
    id: "glm-4.5",
    template: sharedTemplatePath("glm-4.5"),
    ...glm,
  },
  {
    id: "glm-4.6",
    template: sharedTemplatePath("glm-4.6"),
    ...glm,
  },
  // Qwen3.5 and Nemotron 3 Nano: the generation prompt opens the thought (`<think>\n`) unless enable_thinking is false.
  {
    id: "qwen3.5",
    template: sharedTemplatePath("qwen3.5"),
    chains: [["\n", THINK], ["</think>", ANSWER, "<|im_end|>"], ["\n\n", ANSWER]],
    on: {},
    budget: { effort: "minimal", maxTokens: 90 },
    renders: true,
  },
  {
    id: "nemotron-3-nano",
    template: sharedTemplatePath("nemotron-3-nano"),
    // Its template file ends in a CRLF: the prompt's last token is "\r", after `<think>\n` or `<think></think>` alike.
    chains: [["\r", THINK], ["</think>", ANSWER, "<|im_end|>"], ["\n\n", ANSWER]],
    on: {},
    budget: { effort: "minimal", maxTokens: 90 },
    renders: true,
  },
  {
    // <think> is no special token of Granite's: the chain writes it as its three text tokens.
    id: "granite3.3",
    template: sharedTemplatePath("granite3.3"),
    chains: [["<|end_of_role|>", "<", "think", ">", THINK], ["\n\n", ANSWER, "<|end_of_text|>"]],
    on: { chat_template_kwargs: { thinking: true } },
    // Its effort map: off below low, low's budget is 512 thinking tokens.
    budget: { effort: "low", maxTokens: 560 },
    renders: false,
  },
];
const present = MODELS.filter((m) => m.template !== null);

type Message = OpenAI.ChatCompletionMessage & { reasoning_content?: string };
type Delta = { content?: string | null; reasoning_content?: string };
const TAGS = ["<think>", "</think>", "<response>", "</response>"];

let server: RunningServer;
let client: OpenAI;
const paths = new Map<string, string>();

before(async () => {
  // Every model here has a real template from ../shared: without it every test is skipped, and a server with no models would fetch the default one.
  if (present.length === 0) return;
  const models: Record<string, string> = {};
  for (const m of present) {
    const file = await chainedTemplateModelPath(m.template ?? "", m.chains);
    models[m.id] = file;
    paths.set(m.id, file);
  }
  server = await startServer({ models, args: ["--threads", "1", "--parallel", "1", "--ctx", "4096"] });
  client = server.client;
});
after(async () => server?.stop());

const hello: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "Why is the sky blue?" }];

/** The request non-streamed, then streamed: both say the same. */
async function both(body: Record<string, unknown>): Promise<{ message: Message; finish: string; usage: OpenAI.CompletionUsage | undefined }> {
  const whole = await client.chat.completions.create(body as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming);
  const choice = whole.choices[0];
  assert.ok(choice !== undefined);
  const message = choice.message as Message;
  let reasoning = "";
  let content = "";
  let finish = "";
  for await (const chunk of await client.chat.completions.create({ ...body, stream: true } as unknown as OpenAI.ChatCompletionCreateParamsStreaming)) {
    const c = chunk.choices[0];
    const delta = c?.delta as Delta | undefined;
    reasoning += delta?.reasoning_content ?? "";
    content += delta?.content ?? "";
    finish = c?.finish_reason ?? finish;
  }
  assert.equal(reasoning, message.reasoning_content ?? "", "streamed reasoning equals non-streamed");
  assert.equal(content, message.content ?? "", "streamed content equals non-streamed");
  assert.equal(finish, choice.finish_reason);
  for (const tag of TAGS) {
    assert.ok(!(message.content ?? "").includes(tag), `content holds ${tag}: ${message.content}`);
    assert.ok(!(message.reasoning_content ?? "").includes(tag), `reasoning_content holds ${tag}`);
  }
  return { message, finish: choice.finish_reason, usage: whole.usage };
}

for (const model of MODELS) {
  describe(`reasoning family ${model.id}`, { skip: model.template === null ? missingSharedFile(`${model.id}.jinja`) : false }, () => {
    test("the thought (opened by the model, or by the prompt) lands in reasoning_content, never in content, streamed as non-streamed", async () => {
      const { message, finish, usage } = await both({ model: model.id, messages: hello, seed: 11, max_tokens: 12, ...model.on });
      assert.equal(finish, "length");
      assert.match(message.reasoning_content ?? "", /^( think)+$/, "everything after the open tag is the thought");
      assert.ok(message.content === null || message.content === "", JSON.stringify(message));
      assert.ok((usage?.completion_tokens_details?.reasoning_tokens ?? 0) >= 9, "counted as thinking tokens");
    });

    test(`a thinking budget (reasoning_effort ${model.budget.effort}) closes the thought; the answer after it is content`, async () => {
      const { message, finish, usage } = await both({ model: model.id, messages: hello, seed: 4, max_tokens: model.budget.maxTokens, reasoning_effort: model.budget.effort, ...model.on });
      assert.equal(finish, "stop", "the model ended its turn after the answer");
      assert.equal(message.content, ANSWER.trim());
      assert.match(message.reasoning_content ?? "", /^( think)+\n?$/);
      const thinking = usage?.completion_tokens_details?.reasoning_tokens ?? 0;
      const budget = model.budget.effort === "low" ? 512 : 64;
      // Besides the budget: the open tag (three tokens for Granite) and the close tag chatport writes.
      assert.ok(thinking >= budget && thinking <= budget + 8, `the thought ended at the budget: ${thinking}`);
    });

    test("a history with thoughts is rendered as the template renders it, and the model answers after it", async () => {
      const file = model.template ?? "";
      const text = fs.readFileSync(file, "utf8");
      const spec = customChatTemplate(model.id, text);
      const family = detectFamily({ template: text, architecture: "", hasToken: () => false });
      // In the form Kimi K2's templates write ids (chatport maps other ids to it), so the direct rendering is comparable.
      const call = { id: "functions.get_weather:0", type: "function" as const, function: { name: "get_weather", arguments: '{"city": "Paris"}' } };
      const tools: OpenAI.ChatCompletionTool[] = [
        { type: "function", function: { name: "get_weather", description: "Weather in a city", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } },
      ];
      const messages = [
        { role: "user", content: "Weather in Paris?" },
        { role: "assistant", content: "Sunny.", reasoning_content: "An earlier thought." },
        { role: "user", content: "And tomorrow?" },
        { role: "assistant", content: "", reasoning_content: "The current thought.", tool_calls: [call] },
        { role: "tool", tool_call_id: call.id, content: '{"temp_c": 21}' },
      ];
      const res = await client.chat.completions.create({
        model: model.id,
        messages: messages as OpenAI.ChatCompletionMessageParam[],
        tools,
        seed: 2,
        max_tokens: model.budget.maxTokens,
        reasoning_effort: model.budget.effort,
        ...model.on,
      } as OpenAI.ChatCompletionCreateParamsNonStreaming);
      assert.equal((res.choices[0]?.message as Message).content, ANSWER.trim(), "the thought is closed, the answer follows");
      if (!model.renders) return;
      const wire = family.templateToolCalls === "openai-wire";
      // The template reads a result's function name, which chatport takes from the call.
      const view = messages.map((m) =>
        m.role === "tool"
          ? { ...m, name: call.function.name }
          : m.tool_calls === undefined
          ? m
          : { ...m, content: wire ? null : m.content, tool_calls: m.tool_calls.map((c) => ({ ...c, function: { name: c.function.name, arguments: wire ? c.function.arguments : (JSON.parse(c.function.arguments) as unknown) } })) },
      );
      const direct = new Template(text).render({
        messages: view,
        tools: tools.map((t) => ({ type: "function", function: t.type === "function" ? t.function : null })),
        add_generation_prompt: true,
        bos_token: spec.bos,
        eos_token: spec.eos,
      });
      const vocab = await loadVocab(paths.get(model.id) ?? "");
      assert.equal(res.usage?.prompt_tokens, vocab.tokenize(direct, true).length, "prompt_tokens count the template's own rendering of the history");
      assert.ok(direct.includes("The current thought."), "the thought of the turn in progress (after the last user message) goes back to the model");
      assert.ok(!direct.includes("An earlier thought."), "the template drops the thoughts of earlier turns");
    });
  });
}

describe("switches", () => {
  const glm = MODELS.find((m) => m.id === "glm-4.5");
  const kimi = MODELS.find((m) => m.id === "kimi-k2-thinking");
  const granite = MODELS.find((m) => m.id === "granite3.3");

  test("GLM: reasoning_effort none and enable_thinking false close the thought in the prompt; the answer is content", { skip: glm?.template === null ? missingSharedFile("glm-4.5.jinja") : false }, async () => {
    for (const off of [{ reasoning_effort: "none" }, { chat_template_kwargs: { enable_thinking: false } }]) {
      const { message, usage } = await both({ model: "glm-4.5", messages: hello, seed: 3, max_tokens: 12, ...off });
      assert.equal(message.reasoning_content, undefined, JSON.stringify(off));
      assert.equal(message.content, ANSWER, "the prompt ended in <think></think>: the model answered at once");
      assert.equal(usage?.completion_tokens_details?.reasoning_tokens, 0);
    }
  });

  // Nemotron 3 Nano's prompt ends in the same "\r" either way, so its model thinks on in words; they are content then.
  for (const [id, answer] of [["qwen3.5", ANSWER.trim()], ["nemotron-3-nano", THINK.repeat(12).trim()]] as const) {
    const model = MODELS.find((m) => m.id === id);
    test(`${id}: enable_thinking false and reasoning_effort none close the thought in the prompt; what the model writes is content`, { skip: model?.template === null ? missingSharedFile(`${id}.jinja`) : false }, async () => {
      for (const off of [{ reasoning_effort: "none" }, { chat_template_kwargs: { enable_thinking: false } }]) {
        const { message, usage } = await both({ model: id, messages: hello, seed: 3, max_tokens: 12, ...off });
        assert.equal(message.reasoning_content, undefined, JSON.stringify(off));
        assert.equal(message.content?.trim(), answer);
        assert.equal(usage?.completion_tokens_details?.reasoning_tokens, 0);
      }
    });
  }

  test("Kimi K2 Thinking has no switch: reasoning_effort none closes the thought the model opens at once, and it stays out of the content", { skip: kimi?.template === null ? missingSharedFile("kimi-k2-thinking.jinja") : false }, async () => {
    const { message, finish } = await both({ model: "kimi-k2-thinking", messages: hello, seed: 3, max_tokens: 12, reasoning_effort: "none" });
    assert.equal(finish, "stop");
    assert.equal(message.content, ANSWER.trim());
    assert.ok((message.reasoning_content ?? "") === "", JSON.stringify(message));
  });

  test("Granite 3.3: reasoning_effort low and high turn its thinking instruction on, minimal and none off", { skip: granite?.template === null ? missingSharedFile("granite3.3.jinja") : false }, async () => {
    const prompt = async (fields: Record<string, unknown>): Promise<number> => {
      const res = await client.chat.completions.create({ model: "granite3.3", messages: hello, max_tokens: 1, ...fields } as OpenAI.ChatCompletionCreateParamsNonStreaming);
      return res.usage?.prompt_tokens ?? 0;
    };
    const on = await prompt({ chat_template_kwargs: { thinking: true } });
    const off = await prompt({ chat_template_kwargs: { thinking: false } });
    assert.ok(on > off, "the instruction makes the prompt longer");
    assert.equal(await prompt({ reasoning_effort: "low" }), on);
    assert.equal(await prompt({ reasoning_effort: "high" }), on);
    assert.equal(await prompt({ reasoning_effort: "minimal" }), off);
    assert.equal(await prompt({ reasoning_effort: "none" }), off);
  });
});
