/**
 * Function calling end to end on the generated tiny model (ChatML template
 * with Hermes-style tools), through the official SDK: validation, every
 * tool_choice mode, strict schemas enforced by grammar, streaming deltas,
 * multi-turn history, parallel calls and the legacy functions API.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Template } from "@huggingface/jinja";
import { Ajv } from "ajv";
import { readGgufFileInfo, type LlamaModel } from "node-llama-cpp";
import type OpenAI from "openai";
import { tinyModelPath } from "./helpers/models.js";
import { assertMatchesSchema } from "./helpers/openapi.js";
import { postJson, startServer, type RunningServer } from "./helpers/server.js";
import { loadVocab } from "./helpers/tokenizer.js";

let server: RunningServer;
let client: OpenAI;
let vocab: LlamaModel;
let template: Template;
const model = "tiny";
const ask = [{ role: "user" as const, content: "What is the weather in Paris?" }];

const weatherParams = {
  type: "object",
  properties: {
    city: { type: "string", maxLength: 12 },
    unit: { enum: ["celsius", "fahrenheit"] },
    days: { type: "integer" },
    options: {
      type: "object",
      properties: { hourly: { type: "boolean" }, fields: { type: "array", items: { enum: ["temp", "wind", "rain"] }, maxItems: 3 } },
      required: ["hourly", "fields"],
      additionalProperties: false,
    },
  },
  required: ["city", "unit", "days", "options"],
  additionalProperties: false,
};
const timeParams = { type: "object", properties: { zone: { enum: ["UTC", "CET", "PST"] } }, required: ["zone"], additionalProperties: false };
const tools: OpenAI.ChatCompletionTool[] = [
  { type: "function", function: { name: "get_weather", description: "Weather forecast", parameters: weatherParams, strict: true } },
  { type: "function", function: { name: "get_time", description: "Current time", parameters: timeParams, strict: true } },
];
const validators = { get_weather: new Ajv({ strict: false }).compile(weatherParams), get_time: new Ajv({ strict: false }).compile(timeParams) };

function assertValidCall(call: OpenAI.ChatCompletionMessageToolCall): void {
  assert.equal(call.type, "function");
  assert.match(call.id, /^call_/);
  if (call.type !== "function") return;
  const validate = validators[call.function.name as keyof typeof validators];
  assert.ok(validate !== undefined, `unknown tool ${call.function.name}`);
  const args: unknown = JSON.parse(call.function.arguments);
  assert.ok(validate(args), `${call.function.arguments}: ${JSON.stringify(validate.errors)}`);
}

before(async () => {
  const file = await tinyModelPath();
  vocab = await loadVocab(file);
  const info = await readGgufFileInfo(file);
  template = new Template(String(info.metadata.tokenizer?.chat_template));
  server = await startServer({ models: { [model]: file }, args: ["--threads", "1", "--parallel", "4", "--ctx", "4096"] });
  client = server.client;
});
after(async () => server?.stop());

describe("tool definitions are validated", () => {
  const base = { model, messages: ask };
  const cases: Array<[string, unknown, string]> = [
    ["duplicate names", { ...base, tools: [tools[0], tools[0]] }, "tools[1].function.name"],
    ["bad name", { ...base, tools: [{ type: "function", function: { name: "get weather!" } }] }, "tools[0].function.name"],
    ["invalid schema", { ...base, tools: [{ type: "function", function: { name: "f", parameters: { type: 12 } } }] }, "tools[0].function.parameters"],
    ["wrong tool type", { ...base, tools: [{ type: "retrieval", function: { name: "f" } }] }, "tools[0].type"],
    ["more than 128 tools", { ...base, tools: Array.from({ length: 129 }, (_, i) => ({ type: "function", function: { name: `f${i}` } })) }, "tools"],
    ["tool_choice naming an unknown tool", { ...base, tools, tool_choice: { type: "function", function: { name: "nope" } } }, "tool_choice"],
    ["tool_choice required without tools", { ...base, tool_choice: "required" }, "tool_choice"],
    ["tools and functions together", { ...base, tools, functions: [{ name: "f" }] }, "functions"],
    ["function_call naming an unknown function", { ...base, functions: [{ name: "f" }], function_call: { name: "g" } }, "function_call"],
    [
      "a forced call whose schema the grammar cannot enforce",
      { ...base, tools: [{ type: "function", function: { name: "f", parameters: { type: "object", properties: { a: { type: "string", pattern: "^(?!x)" } } } } }], tool_choice: "required" },
      "tools[0].function.parameters",
    ],
  ];
  for (const [name, body, param] of cases) {
    test(name, async () => {
      const res = await postJson(server.baseURL, "/chat/completions", body);
      const text = await res.text();
      assert.equal(res.status, 400, text);
      const parsed = JSON.parse(text) as { error: { param: string } };
      assertMatchesSchema("ErrorResponse", parsed);
      assert.equal(parsed.error.param, param, text);
    });
  }
});

describe("tool_choice", () => {
  test("required: every call names a tool and its arguments validate", async () => {
    for (const seed of [1, 2, 3, 4]) {
      const res = await client.chat.completions.create({ model, messages: ask, tools, tool_choice: "required", seed, max_tokens: 400 });
      assertMatchesSchema("CreateChatCompletionResponse", res);
      const choice = res.choices[0]!;
      assert.equal(choice.finish_reason, "tool_calls", JSON.stringify(choice.message));
      assert.equal(choice.message.content, null);
      assert.ok((choice.message.tool_calls?.length ?? 0) >= 1);
      for (const call of choice.message.tool_calls ?? []) assertValidCall(call);
    }
  });

  test("a named tool is always the one called, once", async () => {
    for (const seed of [5, 6, 7]) {
      const res = await client.chat.completions.create({
        model,
        messages: ask,
        tools,
        tool_choice: { type: "function", function: { name: "get_time" } },
        seed,
        max_tokens: 200,
      });
      const calls = res.choices[0]?.message.tool_calls ?? [];
      assert.equal(calls.length, 1);
      assert.equal(calls[0]?.type === "function" ? calls[0].function.name : "", "get_time");
      assertValidCall(calls[0]!);
    }
  });

  test("parallel_tool_calls: several calls in one turn when allowed, exactly one when not", async () => {
    let most = 0;
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) {
      const res = await client.chat.completions.create({ model, messages: ask, tools, tool_choice: "required", seed, max_tokens: 600 });
      const calls = res.choices[0]?.message.tool_calls ?? [];
      for (const call of calls) assertValidCall(call);
      assert.equal(new Set(calls.map((c) => c.id)).size, calls.length, "ids are unique");
      most = Math.max(most, calls.length);
      const single = await client.chat.completions.create({ model, messages: ask, tools, tool_choice: "required", parallel_tool_calls: false, seed, max_tokens: 600 });
      assert.equal(single.choices[0]?.message.tool_calls?.length, 1);
    }
    assert.ok(most >= 2, "at least one seed produced parallel calls");
  });

  test("none: no tools in the prompt and no tool calls", async () => {
    const none = await client.chat.completions.create({ model, messages: ask, tools, tool_choice: "none", max_tokens: 10 });
    const plain = await client.chat.completions.create({ model, messages: ask, max_tokens: 10 });
    assert.equal(none.usage?.prompt_tokens, plain.usage?.prompt_tokens);
    assert.equal(none.choices[0]?.message.tool_calls, undefined);
    assert.notEqual(none.choices[0]?.finish_reason, "tool_calls");
  });

  test("auto: the tools are in the prompt and the answer is well-formed either way", async () => {
    const auto = await client.chat.completions.create({ model, messages: ask, tools, max_tokens: 30, seed: 3 });
    const plain = await client.chat.completions.create({ model, messages: ask, max_tokens: 1 });
    assert.ok((auto.usage?.prompt_tokens ?? 0) > (plain.usage?.prompt_tokens ?? 0) + 50, "tool definitions were rendered");
    assertMatchesSchema("CreateChatCompletionResponse", auto);
    for (const call of auto.choices[0]?.message.tool_calls ?? []) assert.ok(call.type === "function" && ["get_weather", "get_time"].includes(call.function.name));
  });
});

describe("streaming tool calls", () => {
  test("deltas are OpenAI's shape and reassemble to the non-streamed calls", async () => {
    for (const seed of [2, 9]) {
      const params = { model, messages: ask, tools, tool_choice: "required" as const, seed, max_tokens: 600 };
      const whole = await client.chat.completions.create(params);
      const stream = await client.chat.completions.create({ ...params, stream: true });
      const calls: Array<{ id: string; name: string; arguments: string }> = [];
      let finish: string | null = null;
      let argumentDeltas = 0;
      for await (const chunk of stream) {
        assertMatchesSchema("CreateChatCompletionStreamResponse", chunk);
        const choice = chunk.choices[0];
        if (choice === undefined) continue;
        finish = choice.finish_reason ?? finish;
        for (const delta of choice.delta.tool_calls ?? []) {
          if (delta.id !== undefined) {
            assert.equal(delta.index, calls.length, "calls are indexed in order");
            assert.equal(delta.type, "function");
            assert.ok(delta.function?.name, "the first delta of a call carries the name");
            calls.push({ id: delta.id, name: delta.function.name, arguments: delta.function.arguments ?? "" });
          } else {
            assert.equal(delta.function?.name, undefined, "later deltas carry only arguments");
            const call = calls[delta.index];
            assert.ok(call !== undefined);
            call.arguments += delta.function?.arguments ?? "";
            argumentDeltas++;
          }
        }
      }
      assert.equal(finish, "tool_calls");
      assert.ok(argumentDeltas > calls.length, "arguments arrive in several fragments");
      const expected = (whole.choices[0]?.message.tool_calls ?? []).map((c) => (c.type === "function" ? { name: c.function.name, arguments: c.function.arguments } : null));
      assert.deepEqual(
        calls.map((c) => ({ name: c.name, arguments: c.arguments })),
        expected,
      );
    }
  });
});

describe("history with tool calls and results", () => {
  test("assistant tool_calls and tool results render through the model's template", async () => {
    const messages: OpenAI.ChatCompletionMessageParam[] = [
      { role: "system", content: "You are a weather bot." },
      ...ask,
      {
        role: "assistant",
        content: null,
        tool_calls: [{ id: "call_1", type: "function", function: { name: "get_time", arguments: '{"zone":"CET"}' } }],
      },
      { role: "tool", tool_call_id: "call_1", content: "14:03" },
    ];
    const res = await client.chat.completions.create({ model, messages, tools, max_tokens: 5 });
    const expectedText = template.render({
      messages: [
        { role: "system", content: "You are a weather bot." },
        ...ask,
        { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "get_time", arguments: { zone: "CET" } } }] },
        { role: "tool", tool_call_id: "call_1", content: "14:03", name: "get_time" },
      ],
      tools: tools.map((t) => ({ type: "function", function: { name: t.type === "function" ? t.function.name : "", description: t.type === "function" ? t.function.description : "", parameters: t.type === "function" ? t.function.parameters : {} } })),
      add_generation_prompt: true,
    });
    assert.match(expectedText, /<tool_response>\n14:03\n<\/tool_response>/);
    assert.equal(res.usage?.prompt_tokens, vocab.tokenize(expectedText, true).length);
  });
});

describe("legacy functions", () => {
  test("functions + function_call answer with message.function_call, streamed or not", async () => {
    const functions = [{ name: "get_time", description: "Current time", parameters: timeParams }];
    const params = { model, messages: ask, functions, function_call: { name: "get_time" }, seed: 4, max_tokens: 200 };
    const res = await client.chat.completions.create(params);
    assertMatchesSchema("CreateChatCompletionResponse", res);
    assert.equal(res.choices[0]?.finish_reason, "function_call");
    const call = res.choices[0]?.message.function_call;
    assert.equal(call?.name, "get_time");
    assert.ok(validators.get_time(JSON.parse(call?.arguments ?? "")));
    assert.equal(res.choices[0]?.message.tool_calls, undefined);

    const stream = await client.chat.completions.create({ ...params, stream: true });
    let name = "";
    let args = "";
    for await (const chunk of stream) {
      const fc = chunk.choices[0]?.delta.function_call;
      name += fc?.name ?? "";
      args += fc?.arguments ?? "";
    }
    assert.deepEqual({ name, args }, { name: call?.name, args: call?.arguments });
  });
});

describe("auto with strict tools", () => {
  test("a call the model starts on its own is grammar-constrained from the marker on", async () => {
    // Nudge the random model into opening a call; from `<tool_call>` on, the grammar takes over.
    const marker = vocab.tokenize("<tool_call>", true);
    assert.equal(marker.length, 1, "<tool_call> is one token in the test vocabulary");
    for (const seed of [1, 2, 3]) {
      const res = await client.chat.completions.create({
        model,
        messages: ask,
        tools,
        tool_choice: "auto",
        parallel_tool_calls: false,
        logit_bias: { [String(marker[0])]: 12 },
        seed,
        max_tokens: 400,
      });
      const calls = res.choices[0]?.message.tool_calls ?? [];
      assert.equal(res.choices[0]?.finish_reason, "tool_calls", JSON.stringify(res.choices[0]?.message));
      assert.equal(calls.length, 1);
      assertValidCall(calls[0]!);
    }
  });
});
