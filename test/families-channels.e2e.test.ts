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
import { after, before, describe, test } from "node:test";
import type OpenAI from "openai";
import { fixtureTemplate, templateModelPath } from "./helpers/models.js";
import { startServer, type RunningServer } from "./helpers/server.js";
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

const openAiIds = /^call_[0-9a-f]{32}$/;
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
const present = MODELS.filter((m) => m.template !== null);

const tools: OpenAI.ChatCompletionTool[] = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "Weather in a city",
      parameters: {
        type: "object",
        properties: { city: { type: "string", enum: ["Paris", "Lyon"], description: "City" }, days: { type: "integer", enum: [1, 2, 3], description: "Days" } },
        required: ["city", "days"],
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
      parameters: { type: "object", properties: { zone: { type: "string", enum: ["UTC", "CET"], description: "Zone" } }, required: ["zone"], additionalProperties: false },
      strict: true,
    },
  },
];

type Message = OpenAI.ChatCompletionMessage & { reasoning_content?: string };
type Delta = { content?: string | null; reasoning_content?: string; tool_calls?: OpenAI.ChatCompletionChunk.Choice.Delta.ToolCall[] };

function checkCall(call: OpenAI.ChatCompletionMessageToolCall, model: FamilyModel): { name: string; args: Record<string, unknown> } {
  assert.equal(call.type, "function");
  assert.match(call.id, model.idPattern);
  if (call.type !== "function") throw new Error("unreachable");
  const args = JSON.parse(call.function.arguments) as Record<string, unknown>;
  if (call.function.name === "get_weather") {
    assert.ok(args.city === "Paris" || args.city === "Lyon", call.function.arguments);
    assert.ok(args.days === 1 || args.days === 2 || args.days === 3, call.function.arguments);
  } else {
    assert.equal(call.function.name, "get_time");
    assert.ok(args.zone === "UTC" || args.zone === "CET", call.function.arguments);
  }
  return { name: call.function.name, args };
}

function noControls(text: string | null | undefined, model: FamilyModel, where: string): void {
  for (const control of model.controls) assert.ok(!(text ?? "").includes(control), `${where} holds ${control}: ${text}`);
}

let server: RunningServer;
let client: OpenAI;

before(async () => {
  const models: Record<string, string> = {};
  for (const m of present) models[m.id] = await templateModelPath(m.template ?? "");
  server = await startServer({ models, args: ["--threads", "1", "--parallel", "1", "--ctx", "4096"] });
  client = server.client;
});
after(async () => server?.stop());

const ask: OpenAI.ChatCompletionMessageParam[] = [
  { role: "system", content: "You answer with tools." },
  { role: "user", content: "Weather in Paris for 3 days?" },
];

for (const model of MODELS) {
  describe(`family test model ${model.id}`, { skip: model.template === null ? missingSharedFile(`${model.id}.jinja`) : false }, () => {
    test("tool_choice required: a valid call in the family's syntax, streamed as it is non-streamed", async () => {
      const body = { model: model.id, messages: ask, tools, tool_choice: "required" as const, parallel_tool_calls: false, seed: 7, max_tokens: 120 };
      const whole = await client.chat.completions.create(body);
      const choice = whole.choices[0];
      assert.equal(choice?.finish_reason, "tool_calls");
      const calls = choice.message.tool_calls ?? [];
      assert.equal(calls.length, 1);
      const parsed = calls.map((c) => checkCall(c, model));
      assert.ok(choice.message.content === null || choice.message.content === "", `no content: ${choice.message.content}`);

      const streamed: Array<{ id: string; name: string; args: string }> = [];
      let finish: string | null = null;
      for await (const chunk of await client.chat.completions.create({ ...body, stream: true })) {
        const c = chunk.choices[0];
        if (c === undefined) continue;
        finish = c.finish_reason ?? finish;
        const delta = c.delta as Delta;
        noControls(delta.content, model, "a content delta");
        for (const d of delta.tool_calls ?? []) {
          if (d.id !== undefined) streamed[d.index] = { id: d.id, name: d.function?.name ?? "", args: d.function?.arguments ?? "" };
          else if (streamed[d.index] !== undefined) streamed[d.index]!.args += d.function?.arguments ?? "";
        }
      }
      assert.equal(finish, "tool_calls");
      assert.deepEqual(streamed.map((c) => ({ name: c.name, args: JSON.parse(c.args) as unknown })), parsed, "the streamed call reassembles to the non-streamed one");
      for (const c of streamed) assert.match(c.id, model.idPattern);
    });

    test("a named tool is the one called", async () => {
      const res = await client.chat.completions.create({ model: model.id, messages: ask, tools, tool_choice: { type: "function", function: { name: "get_time" } }, seed: 3, max_tokens: 100 });
      assert.equal(res.choices[0]?.finish_reason, "tool_calls");
      assert.deepEqual((res.choices[0]?.message.tool_calls ?? []).map((c) => checkCall(c, model).name), ["get_time"]);
    });

    test("auto with strict tools: any call is valid, and no control string reaches the content", async () => {
      const res = await client.chat.completions.create({ model: model.id, messages: ask, tools, tool_choice: "auto", seed: 9, max_tokens: 40 });
      const choice = res.choices[0];
      assert.ok(["stop", "length", "tool_calls"].includes(choice?.finish_reason ?? ""), String(choice?.finish_reason));
      for (const call of choice?.message.tool_calls ?? []) checkCall(call, model);
      noControls(choice?.message.content, model, "content");
      noControls((choice?.message as Message | undefined)?.reasoning_content, model, "reasoning_content");
    });

    test("a conversation with a call, its thought and its result runs", async () => {
      const first = await client.chat.completions.create({ model: model.id, messages: ask, tools, tool_choice: "required", parallel_tool_calls: false, seed: 5, max_tokens: 120 });
      const message = first.choices[0]?.message;
      assert.ok(message?.tool_calls !== undefined && message.tool_calls.length === 1);
      const call = message.tool_calls[0]!;
      const assistant = { role: "assistant", content: "", reasoning_content: "The user wants the weather.", tool_calls: message.tool_calls };
      const next = await client.chat.completions.create({
        model: model.id,
        messages: [...ask, assistant as OpenAI.ChatCompletionAssistantMessageParam, { role: "tool", tool_call_id: call.id, content: '{"temp_c": 21}' }],
        tools,
        max_tokens: 8,
        // Seeded, so the random model's answer is the same on every machine: unseeded, it may write a stray </think> of its own.
        seed: 5,
      });
      assert.ok(next.usage !== undefined && next.usage.prompt_tokens > first.usage!.prompt_tokens, "the prompt grew by the call, its thought and its result");
      assert.ok(["stop", "length", "tool_calls"].includes(next.choices[0]?.finish_reason ?? ""));
      noControls(next.choices[0]?.message.content, model, "content");
    });

    if (model.reasoning !== undefined) {
      const extra = model.reasoning;
      test("reasoning lands in reasoning_content, never in content, streamed as non-streamed", async () => {
        const body = { model: model.id, messages: [{ role: "user" as const, content: "Think." }], seed: 11, max_tokens: 16, ...extra };
        const whole = await client.chat.completions.create(body as OpenAI.ChatCompletionCreateParamsNonStreaming);
        const message = whole.choices[0]?.message as Message;
        assert.ok(typeof message.reasoning_content === "string" && message.reasoning_content !== "", JSON.stringify(message));
        noControls(message.reasoning_content, model, "reasoning_content");
        noControls(message.content, model, "content");
        assert.ok((whole.usage?.completion_tokens_details?.reasoning_tokens ?? 0) > 0);
        let reasoning = "";
        let content = "";
        for await (const chunk of await client.chat.completions.create({ ...body, stream: true } as OpenAI.ChatCompletionCreateParamsStreaming)) {
          const delta = chunk.choices[0]?.delta as Delta | undefined;
          reasoning += delta?.reasoning_content ?? "";
          content += delta?.content ?? "";
        }
        assert.equal(reasoning, message.reasoning_content);
        assert.equal(content, message.content ?? "");
      });

      test("a thinking budget (reasoning_effort minimal) closes the thought; what follows is content", async () => {
        const body = { model: model.id, messages: [{ role: "user" as const, content: "Think." }], seed: 4, max_tokens: 90, ignore_eos: true, reasoning_effort: "minimal", ...extra };
        const res = await client.chat.completions.create(body as OpenAI.ChatCompletionCreateParamsNonStreaming);
        const message = res.choices[0]?.message as Message;
        assert.ok((message.reasoning_content ?? "") !== "", "a thought");
        assert.ok((res.usage?.completion_tokens_details?.reasoning_tokens ?? 0) <= 64 + 4, "the thought ended at the budget");
        noControls(message.reasoning_content, model, "reasoning_content");
        noControls(message.content, model, "content");
      });
    }
  });
}
