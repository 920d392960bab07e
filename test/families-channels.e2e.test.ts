/**
 * The families with their own call and reasoning syntaxes (gpt-oss's harmony
 * channels, Mistral's `[TOOL_CALLS]name[ARGS]` with `[THINK]`, Command R7B's
 * action lists and plans, Nemotron Nano 2's `<TOOLCALL>` lists and opened
 * `<think>`, SmolLM3's tools and history its template cannot write itself) end to end through the official SDK, one server with a test
 * model per template (`make-test-model --template`, random weights):
 * tool_choice required and named give a valid grammar-constrained call in the
 * family's syntax, a streamed call reassembles to the non-streamed one,
 * `auto` with strict tools answers without control tokens in the content, a
 * conversation with a call, its thought and its result runs, and reasoning
 * lands in reasoning_content, never in content.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type OpenAI from "openai";
import { callAndResultTest, checkFamilyCall, FAMILY_ASK, FAMILY_TOOLS, familyServer, namedCallTest, OPENAI_CALL_IDS, requiredCallTest, type StreamDelta } from "./helpers/family-e2e.js";
import { fixtureTemplate } from "./helpers/models.js";
import { missingSharedFile, sharedTemplatePath } from "./helpers/shared-files.js";

interface FamilyModel {
  id: string;
  /** Null where ../shared is absent. */
  template: string | null;
  idPattern: RegExp;
  /** Control strings that must never reach content or reasoning_content. */
  controls: readonly string[];
  /** Request fields that make the test model reason (its generation prompt opens the thought); absent: not tested here. */
  reasoning?: Record<string, unknown>;
}

const openAiIds = OPENAI_CALL_IDS;
const harmonyControls = ["<|start|>", "<|channel|>", "<|message|>", "<|end|>", "<|constrain|>", "<|call|>", "<|return|>"];
const mistralControls = ["[TOOL_CALLS]", "[ARGS]", "[CALL_ID]", "[/THINK]"];
const mistralIds = /^[0-9a-f]{9}$/;
const commandControls = ["<|START_ACTION|>", "<|END_THINKING|>"];
// A random model may write <TOOLCALL> inside its thought, where it is text.
const nemotronControls = ["</TOOLCALL>", "</think>"];
const smollm3Controls = ["</tool_call>", "</think>"];
const MODELS: FamilyModel[] = [
  { id: "harmony-style", template: fixtureTemplate("harmony-style"), idPattern: openAiIds, controls: harmonyControls, reasoning: { chat_template_kwargs: { think_first: true } } },
  { id: "gpt-oss", template: sharedTemplatePath("gpt-oss"), idPattern: openAiIds, controls: harmonyControls },
  { id: "ministral-think-style", template: fixtureTemplate("ministral-think-style"), idPattern: mistralIds, controls: mistralControls, reasoning: { chat_template_kwargs: { think_first: true } } },
  { id: "devstral-small-2507", template: sharedTemplatePath("devstral-small-2507"), idPattern: mistralIds, controls: mistralControls },
  { id: "ministral-3-reasoning", template: sharedTemplatePath("ministral-3-reasoning"), idPattern: mistralIds, controls: mistralControls },
  { id: "command-style", template: fixtureTemplate("command-style"), idPattern: openAiIds, controls: commandControls, reasoning: { chat_template_kwargs: { think_first: true } } },
  { id: "command-r7b", template: sharedTemplatePath("command-r7b"), idPattern: openAiIds, controls: commandControls },
  { id: "nemotron-style", template: fixtureTemplate("nemotron-style"), idPattern: openAiIds, controls: nemotronControls, reasoning: {} },
  { id: "nemotron-nano-v2", template: sharedTemplatePath("nemotron-nano-v2"), idPattern: openAiIds, controls: nemotronControls, reasoning: {} },
  { id: "smollm3-style", template: fixtureTemplate("smollm3-style"), idPattern: openAiIds, controls: smollm3Controls, reasoning: { chat_template_kwargs: { think_first: true } } },
  { id: "smollm3", template: sharedTemplatePath("smollm3"), idPattern: openAiIds, controls: smollm3Controls },
];
type Message = OpenAI.ChatCompletionMessage & { reasoning_content?: string };
type Delta = StreamDelta;

function noControls(text: string | null | undefined, model: FamilyModel, where: string): void {
  for (const control of model.controls) assert.ok(!(text ?? "").includes(control), `${where} holds ${control}: ${text}`);
}

const family = familyServer(MODELS, ["--threads", "1", "--parallel", "1", "--ctx", "4096"]);
const tools = FAMILY_TOOLS;
const ask = FAMILY_ASK;

for (const model of MODELS) {
  describe(`family test model ${model.id}`, { skip: model.template === null ? missingSharedFile(`${model.id}.jinja`) : false }, () => {
    const check = (c: OpenAI.ChatCompletionMessageToolCall): ReturnType<typeof checkFamilyCall> => checkFamilyCall(c, model.idPattern);
    const cases = {
      family,
      model: model.id,
      check,
      idPattern: model.idPattern,
      maxTokens: 120,
      namedMaxTokens: 100,
      namedFinishes: true,
      onDelta: (delta: Delta) => noControls(delta.content, model, "a content delta"),
    };
    requiredCallTest(cases, "tool_choice required: a valid call in the family's syntax, streamed as it is non-streamed");
    namedCallTest(cases);

    test("auto with strict tools: any call is valid, and no control string reaches the content", async () => {
      const res = await family.client.chat.completions.create({ model: model.id, messages: ask, tools, tool_choice: "auto", seed: 9, max_tokens: 40 });
      const choice = res.choices[0];
      assert.ok(["stop", "length", "tool_calls"].includes(choice?.finish_reason ?? ""), String(choice?.finish_reason));
      for (const call of choice?.message.tool_calls ?? []) check(call);
      noControls(choice?.message.content, model, "content");
      noControls((choice?.message as Message | undefined)?.reasoning_content, model, "reasoning_content");
    });

    callAndResultTest(
      cases,
      {
        assistant: (message) => ({ role: "assistant", content: "", reasoning_content: "The user wants the weather.", tool_calls: message.tool_calls }) as OpenAI.ChatCompletionAssistantMessageParam,
        // Seeded, so the random model's answer is the same on every machine: unseeded, it may write a stray </think> of its own.
        seed: 5,
        answer: (next) => noControls(next.choices[0]?.message.content, model, "content"),
      },
      "a conversation with a call, its thought and its result runs",
    );

    if (model.reasoning !== undefined) {
      const extra = model.reasoning;
      test("reasoning lands in reasoning_content, never in content, streamed as non-streamed", async () => {
        const body = { model: model.id, messages: [{ role: "user" as const, content: "Think." }], seed: 11, max_tokens: 16, ...extra };
        const whole = await family.client.chat.completions.create(body as OpenAI.ChatCompletionCreateParamsNonStreaming);
        const message = whole.choices[0]?.message as Message;
        assert.ok(typeof message.reasoning_content === "string" && message.reasoning_content !== "", JSON.stringify(message));
        noControls(message.reasoning_content, model, "reasoning_content");
        noControls(message.content, model, "content");
        assert.ok((whole.usage?.completion_tokens_details?.reasoning_tokens ?? 0) > 0);
        let reasoning = "";
        let content = "";
        for await (const chunk of await family.client.chat.completions.create({ ...body, stream: true } as OpenAI.ChatCompletionCreateParamsStreaming)) {
          const delta = chunk.choices[0]?.delta as Delta | undefined;
          reasoning += delta?.reasoning_content ?? "";
          content += delta?.content ?? "";
        }
        assert.equal(reasoning, message.reasoning_content);
        assert.equal(content, message.content ?? "");
      });

      test("a thinking budget (reasoning_effort minimal) closes the thought; what follows is content", async () => {
        const body = { model: model.id, messages: [{ role: "user" as const, content: "Think." }], seed: 4, max_tokens: 90, ignore_eos: true, reasoning_effort: "minimal", ...extra };
        const res = await family.client.chat.completions.create(body as OpenAI.ChatCompletionCreateParamsNonStreaming);
        const message = res.choices[0]?.message as Message;
        assert.ok((message.reasoning_content ?? "") !== "", "a thought");
        assert.ok((res.usage?.completion_tokens_details?.reasoning_tokens ?? 0) <= 64 + 4, "the thought ended at the budget");
        noControls(message.reasoning_content, model, "reasoning_content");
        noControls(message.content, model, "content");
      });
    }
  });
}
