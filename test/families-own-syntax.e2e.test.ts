/**
 * The families with call syntaxes of their own (DeepSeek R1 / V3.1 / V3.2, Kimi K2, Qwen3-Coder, GLM, Gemma 4) end to
 * end through the official SDK, one server with a test model per template
 * (`make-test-model --template`: chatport's fixtures always, the real
 * templates where ../shared is present): tool_choice required and named give
 * valid grammar-constrained calls, a streamed call reassembles to the
 * non-streamed one, `auto` with strict tools is constrained from the
 * family's marker on, a call and its result go back through the template,
 * and reasoning lands in reasoning_content, never in content.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type OpenAI from "openai";
import { ownFixture } from "./helpers/family-checks.js";
import { assertStreamedAsWhole, callAndResultTest, checkFamilyCall, FAMILY_ASK, FAMILY_TOOLS, familyServer, namedCallTest, OPENAI_CALL_IDS, requiredCallTest } from "./helpers/family-e2e.js";
import { missingSharedFile, sharedTemplatePath } from "./helpers/shared-files.js";
import { loadVocab } from "./helpers/tokenizer.js";

interface FamilyModel {
  id: string;
  template: string | null;
  /** Tool-call ids the family's templates take back. */
  idPattern: RegExp;
  /** The text that opens calls (biased up to make a random model start one under `auto`). */
  marker: string;
  /** How to turn thinking on (null: the family does not reason). */
  thinking: Record<string, unknown> | null;
  /** The generation prompt opens a thought by default. */
  opensThought: boolean;
}

const openAiIds = OPENAI_CALL_IDS;
const DEEPSEEK_MARKER = "<｜tool▁calls▁begin｜>";
const KIMI_MARKER = "<|tool_calls_section_begin|>";
/** Kimi K2's ids name the function and the call's place in the answer, as its templates write them. */
const kimiIds = /^functions\.get_(?:weather|time):\d+$/;
const MODELS: FamilyModel[] = [
  { id: "deepseek-r1-style", template: ownFixture("deepseek-r1-style"), idPattern: openAiIds, marker: DEEPSEEK_MARKER, thinking: {}, opensThought: true },
  { id: "deepseek-v3-style", template: ownFixture("deepseek-v3-style"), idPattern: openAiIds, marker: DEEPSEEK_MARKER, thinking: { thinking: true }, opensThought: false },
  { id: "deepseek-r1", template: sharedTemplatePath("deepseek-r1"), idPattern: openAiIds, marker: DEEPSEEK_MARKER, thinking: {}, opensThought: true },
  { id: "deepseek-v3.1", template: sharedTemplatePath("deepseek-v3.1"), idPattern: openAiIds, marker: DEEPSEEK_MARKER, thinking: { thinking: true }, opensThought: false },
  { id: "deepseek-v3.2-style", template: ownFixture("deepseek-v3.2-style"), idPattern: openAiIds, marker: "<｜DSML｜function_calls>", thinking: { thinking: true }, opensThought: false },
  { id: "deepseek-v3.2", template: sharedTemplatePath("deepseek-v3.2"), idPattern: openAiIds, marker: "<｜DSML｜function_calls>", thinking: { thinking: true }, opensThought: false },
  { id: "kimi-k2-style", template: ownFixture("kimi-k2-style"), idPattern: kimiIds, marker: KIMI_MARKER, thinking: null, opensThought: false },
  { id: "kimi-k2", template: sharedTemplatePath("kimi-k2"), idPattern: kimiIds, marker: KIMI_MARKER, thinking: null, opensThought: false },
  { id: "kimi-k2-thinking", template: sharedTemplatePath("kimi-k2-thinking"), idPattern: kimiIds, marker: KIMI_MARKER, thinking: null, opensThought: false },
  { id: "qwen3-coder-style", template: ownFixture("qwen3-coder-style"), idPattern: openAiIds, marker: "<tool_call>", thinking: {}, opensThought: true },
  { id: "qwen3-coder", template: sharedTemplatePath("qwen3-coder"), idPattern: openAiIds, marker: "<tool_call>", thinking: null, opensThought: false },
  { id: "qwen3.5", template: sharedTemplatePath("qwen3.5"), idPattern: openAiIds, marker: "<tool_call>", thinking: {}, opensThought: true },
  { id: "glm-style", template: ownFixture("glm-style"), idPattern: openAiIds, marker: "<tool_call>", thinking: {}, opensThought: true },
  { id: "glm-4.5", template: sharedTemplatePath("glm-4.5"), idPattern: openAiIds, marker: "<tool_call>", thinking: null, opensThought: false },
  { id: "glm-4.7-flash", template: sharedTemplatePath("glm-4.7-flash"), idPattern: openAiIds, marker: "<tool_call>", thinking: {}, opensThought: true },
  // Gemma 4's thought is one the model opens itself (a random model does not): its split is tested in gemma-phi-smollm-families.test.ts.
  { id: "gemma4-style", template: ownFixture("gemma4-style"), idPattern: openAiIds, marker: "<|tool_call>", thinking: null, opensThought: false },
  { id: "gemma4", template: sharedTemplatePath("gemma4"), idPattern: openAiIds, marker: "<|tool_call>", thinking: null, opensThought: false },
  { id: "gemma4-v1", template: sharedTemplatePath("gemma4-v1"), idPattern: openAiIds, marker: "<|tool_call>", thinking: null, opensThought: false },
];
const family = familyServer(MODELS, ["--threads", "1", "--parallel", "1", "--ctx", "4096"]);
const tools = FAMILY_TOOLS;
const ask = FAMILY_ASK;

type Message = OpenAI.ChatCompletionMessage & { reasoning_content?: string };

for (const model of MODELS) {
  describe(`family test model ${model.id}`, { skip: model.template === null ? missingSharedFile(`${model.id}.jinja`) : false }, () => {
    const cases = { family, model: model.id, check: (c: OpenAI.ChatCompletionMessageToolCall) => checkFamilyCall(c, model.idPattern), idPattern: model.idPattern, maxTokens: 200, namedMaxTokens: 100 };
    requiredCallTest(cases);
    namedCallTest(cases);

    test("auto with strict tools: a call the model starts is grammar-constrained from the family's marker on", async () => {
      const vocab = await loadVocab(family.modelPath(model.id));
      const marker = vocab.tokenize(model.marker, true);
      assert.equal(marker.length, 1, `${model.marker} is one token`);
      const res = await family.client.chat.completions.create({
        model: model.id,
        messages: ask,
        tools,
        tool_choice: "auto",
        parallel_tool_calls: false,
        logit_bias: { [String(marker[0])]: 100 },
        // Where the prompt opens a thought, a short budget closes it (a marker inside the thought is no call).
        ...(model.opensThought ? { reasoning_effort: "minimal" as const } : {}),
        seed: 1,
        max_tokens: 200,
      });
      const calls = res.choices[0]?.message.tool_calls ?? [];
      assert.equal(res.choices[0]?.finish_reason, "tool_calls", JSON.stringify(res.choices[0]?.message));
      assert.equal(calls.length, 1);
      checkFamilyCall(calls[0]!, model.idPattern);
    });

    callAndResultTest(cases);

    if (model.thinking !== null) {
      const kwargs = model.thinking;
      test("reasoning lands in reasoning_content, never in content, streamed as non-streamed", async () => {
        const body = {
          model: model.id,
          messages: [{ role: "user" as const, content: "Think." }],
          seed: 11,
          max_tokens: 12,
          ignore_eos: true,
          chat_template_kwargs: kwargs,
        } as OpenAI.ChatCompletionCreateParamsNonStreaming;
        const whole = await family.client.chat.completions.create(body);
        const message = whole.choices[0]?.message as Message;
        assert.ok(typeof message.reasoning_content === "string" && message.reasoning_content !== "", JSON.stringify(message));
        for (const tag of ["<think>", "</think>"]) {
          assert.ok(!(message.content ?? "").includes(tag) && !message.reasoning_content.includes(tag), JSON.stringify(message));
        }
        assert.ok((whole.usage?.completion_tokens_details?.reasoning_tokens ?? 0) > 0);
        await assertStreamedAsWhole(family.client, body as OpenAI.ChatCompletionCreateParamsNonStreaming, message);
      });
    }
  });
}
