/**
 * The families added after the registry's first ones (Seed-OSS, MiniMax-M2,
 * FireFunction v2)
 * end to end through the official SDK, one server with a test model per
 * fixture template (`make-test-model --template`): tool_choice required and
 * named give valid grammar-constrained calls, a streamed call reassembles to
 * the non-streamed one, `auto` with strict tools is constrained from the
 * family's marker on, a call and its result go back through the template,
 * and a thought the prompt opens lands in reasoning_content.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type OpenAI from "openai";
import { ownFixture } from "./helpers/family-checks.js";
import { templateModelPath } from "./helpers/models.js";
import { startServer, type RunningServer } from "./helpers/server.js";
import { loadVocab } from "./helpers/tokenizer.js";
import { assertStreamedAsWhole } from "./helpers/family-e2e.js";

interface FamilyModel {
  id: string;
  /** The text that opens calls (biased up to make a random model start one under `auto`). */
  marker: string;
  /** The generation prompt opens a thought (`<think>`), which a short budget closes. */
  opensThought: boolean;
}

const MODELS: FamilyModel[] = [
  { id: "seed-oss-style", marker: "<seed:tool_call>", opensThought: false },
  { id: "minimax-m2-style", marker: "<minimax:tool_call>", opensThought: true },
  { id: "firefunction-v2-style", marker: "functools", opensThought: false },
];

const tools: OpenAI.ChatCompletionTool[] = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "Weather in a city",
      parameters: {
        type: "object",
        properties: { city: { type: "string", enum: ["Paris", "Lyon"] }, days: { type: "integer", enum: [1, 2, 3] } },
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
      parameters: { type: "object", properties: { zone: { type: "string", enum: ["UTC", "CET"] } }, required: ["zone"], additionalProperties: false },
      strict: true,
    },
  },
];

function checkCall(call: OpenAI.ChatCompletionMessageToolCall): { name: string; args: Record<string, unknown> } {
  assert.match(call.id, /^call_[0-9a-f]{32}$/);
  if (call.type !== "function") throw new Error(`a ${call.type} call`);
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

let server: RunningServer;
const modelPaths = new Map<string, string>();

before(async () => {
  for (const m of MODELS) modelPaths.set(m.id, await templateModelPath(ownFixture(m.id)));
  server = await startServer({ models: Object.fromEntries(modelPaths), args: ["--threads", "1", "--parallel", "1", "--ctx", "4096"] });
});
after(async () => server?.stop());

const ask: OpenAI.ChatCompletionMessageParam[] = [
  { role: "system", content: "You answer with tools." },
  { role: "user", content: "Weather in Paris for 3 days?" },
];

/**
 * FireFunction v2's template writes the time (`datetime`, to the second) into
 * the prompt, so two requests a second apart are different prompts: each
 * request pins it, as a client may (`chat_template_kwargs.datetime` wins).
 */
const pinnedClock = { chat_template_kwargs: { datetime: "Jan 02 2026 15:04:05 GMT" } };

for (const model of MODELS) {
  describe(`family test model ${model.id}`, () => {
    test("tool_choice required gives valid calls in the family's syntax, streamed as they are non-streamed", async () => {
      const body = { model: model.id, messages: ask, tools, tool_choice: "required" as const, parallel_tool_calls: true, seed: 7, max_tokens: 200, ...pinnedClock };
      const whole = await server.client.chat.completions.create(body);
      const choice = whole.choices[0];
      assert.equal(choice?.finish_reason, "tool_calls");
      const parsed = (choice.message.tool_calls ?? []).map(checkCall);
      assert.ok(parsed.length >= 1);
      assert.ok(choice.message.content === null || choice.message.content === "", `no content: ${choice.message.content}`);

      const streamed: Array<{ name: string; args: string }> = [];
      let finish: string | null = null;
      for await (const chunk of await server.client.chat.completions.create({ ...body, stream: true })) {
        const c = chunk.choices[0];
        finish = c?.finish_reason ?? finish;
        for (const d of c?.delta.tool_calls ?? []) {
          if (d.id !== undefined) streamed[d.index] = { name: d.function?.name ?? "", args: d.function?.arguments ?? "" };
          else if (streamed[d.index] !== undefined) streamed[d.index]!.args += d.function?.arguments ?? "";
        }
      }
      assert.equal(finish, "tool_calls");
      assert.deepEqual(streamed.map((c) => ({ name: c.name, args: JSON.parse(c.args) as unknown })), parsed, "the streamed calls reassemble to the non-streamed ones");
    });

    test("a named tool is the one called", async () => {
      const res = await server.client.chat.completions.create({ model: model.id, messages: ask, tools, tool_choice: { type: "function", function: { name: "get_time" } }, seed: 3, max_tokens: 100, ...pinnedClock });
      assert.deepEqual((res.choices[0]?.message.tool_calls ?? []).map((c) => checkCall(c).name), ["get_time"]);
    });

    test("auto with strict tools: a call the model starts is grammar-constrained from the family's marker on", async () => {
      const marker = (await loadVocab(modelPaths.get(model.id) ?? "")).tokenize(model.marker, true);
      assert.equal(marker.length, 1, `${model.marker} is one token`);
      const res = await server.client.chat.completions.create({
        model: model.id,
        messages: ask,
        tools,
        tool_choice: "auto",
        parallel_tool_calls: false,
        logit_bias: { [String(marker[0])]: 100 },
        ...(model.opensThought ? { reasoning_effort: "minimal" as const } : {}),
        seed: 1,
        max_tokens: 200,
        ...pinnedClock,
      });
      assert.equal(res.choices[0]?.finish_reason, "tool_calls", JSON.stringify(res.choices[0]?.message));
      const calls = res.choices[0]?.message.tool_calls ?? [];
      assert.equal(calls.length, 1);
      checkCall(calls[0]!);
    });

    test("the calls and their results go back through the template", async () => {
      const first = await server.client.chat.completions.create({ model: model.id, messages: ask, tools, tool_choice: "required", seed: 5, max_tokens: 200, ...pinnedClock });
      const calls = first.choices[0]?.message.tool_calls ?? [];
      assert.ok(calls.length >= 1);
      const results = calls.map((c, i): OpenAI.ChatCompletionMessageParam => ({ role: "tool", tool_call_id: c.id, content: `{"result": ${i}}` }));
      const next = await server.client.chat.completions.create({
        model: model.id,
        messages: [...ask, { role: "assistant", content: null, tool_calls: calls }, ...results],
        tools,
        max_tokens: 8,
        seed: 5,
        ...pinnedClock,
      });
      assert.ok(next.usage !== undefined && next.usage.prompt_tokens > first.usage!.prompt_tokens, "the prompt grew by the calls and their results");
      assert.ok(["stop", "length", "tool_calls"].includes(next.choices[0]?.finish_reason ?? ""));
    });

    if (model.opensThought) {
      test("the thought the prompt opens lands in reasoning_content, streamed as non-streamed", async () => {
        const body = { model: model.id, messages: [{ role: "user" as const, content: "Think." }], seed: 11, max_tokens: 12, ignore_eos: true } as OpenAI.ChatCompletionCreateParamsNonStreaming;
        const whole = await server.client.chat.completions.create(body);
        const message = whole.choices[0]?.message as OpenAI.ChatCompletionMessage & { reasoning_content?: string };
        assert.ok(typeof message.reasoning_content === "string" && message.reasoning_content !== "", JSON.stringify(message));
        assert.ok((whole.usage?.completion_tokens_details?.reasoning_tokens ?? 0) > 0);
        await assertStreamedAsWhole(server.client, body as OpenAI.ChatCompletionCreateParamsNonStreaming, message);
      });
    }
  });
}
