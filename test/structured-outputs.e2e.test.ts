/**
 * Structured outputs end to end against a real server process on the tiny
 * random model, the way users write them: the official `openai` SDK's
 * `zodResponseFormat` / `zodFunction`, LangChain.js `withStructuredOutput` and
 * `bindTools`, the Vercel AI SDK's `generateObject`, all on zod 4 schemas.
 * Every constrained output either validates against its schema or never
 * leaves as a success (500 `invalid_structured_output`, counted in
 * /metrics); a `length` cut and a client stop string stay what they are;
 * grammars are compiled once per schema.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createOpenAI } from "@ai-sdk/openai";
import { tool } from "@langchain/core/tools";
import { ChatOpenAI } from "@langchain/openai";
import { generateObject } from "ai";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import OpenAI from "openai";
import { zodFunction, zodResponseFormat } from "openai/helpers/zod";
import { z } from "zod";
import { tinyModelPath } from "./helpers/models.js";
import { parseMetrics, sum } from "./helpers/prometheus.js";
import { postJson, startServer, type RunningServer } from "./helpers/server.js";
import { readSse } from "./helpers/sse.js";

let server: RunningServer;
let client: OpenAI;
const model = "tiny";
const apiKey = "sk-structured-0123456789";
const ask = [{ role: "user" as const, content: "Describe a person as JSON." }];
/** Random weights write long strings: room enough that most answers end on their own. */
const maxTokens = 1500;
const seeds = [1, 2, 3, 4, 5, 6];

/** A validator of the kind the server uses (full formats); these schemas read the same in draft-07 and 2020-12. */
function validatorFor(schema: object): (value: unknown) => string | null {
  const ajv = new Ajv2020({ strict: false, logger: false, validateSchema: false });
  (addFormats as unknown as (ajv: Ajv2020) => void)(ajv);
  const validate = ajv.compile(schema);
  return (value) => (validate(value) ? null : ajv.errorsText(validate.errors));
}

async function metricValue(name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(server.baseURL.replace("/v1", "/metrics"))).text();
  return sum(parseMetrics(text).samples, name, labels);
}

/** Runs `attempt` on the seeds in turn until one answer ends on its own (not cut by max_tokens); returns it. */
async function firstComplete<T>(attempt: (seed: number) => Promise<T | "length">): Promise<T> {
  for (const seed of seeds) {
    const result = await attempt(seed);
    if (result !== "length") return result;
  }
  throw new Error(`every seed was cut at ${maxTokens} tokens`);
}

// The users' schemas: zod 4, with the features people use.
const Address = z.object({
  street: z.string().max(24),
  zip: z.string().regex(/^[0-9]{5}$/),
});
type Category = { name: string; sub: Category[] };
const Category: z.ZodType<Category> = z.lazy(() => z.object({ name: z.string().max(12), sub: z.array(Category).max(2) }));
const Person = z.object({
  id: z.uuid(),
  email: z.email(),
  age: z.number().int().min(0).max(150),
  score: z.number(),
  nickname: z.string().max(16).nullable(),
  note: z.string().max(16).optional().nullable(),
  role: z.enum(["admin", "user", "guest"]),
  contact: z.union([z.object({ phone: z.string().regex(/^\+?[0-9]{6,12}$/) }), z.object({ address: Address })]),
  matrix: z.array(z.array(z.number().int()).max(3)).max(3),
  interests: Category,
});

const Weather = z.object({
  city: z.string().max(20),
  unit: z.enum(["celsius", "fahrenheit"]),
  days: z.number().int().min(1).max(14),
});

// A real function-calling schema (JSONSchemaBench Glaiveai2K, calculate_area): an object
// whose alternatives have no type of their own. node-llama-cpp's compiler let a model
// write `null` for it.
const areaSchema = {
  type: "object",
  properties: {
    dimensions: {
      type: "object",
      description: "The dimensions required for calculating the area",
      oneOf: [
        { properties: { radius: { type: "number" } }, required: ["radius"] },
        { properties: { length: { type: "number" }, width: { type: "number" } }, required: ["length", "width"] },
        { properties: { base: { type: "number" }, height: { type: "number" } }, required: ["base", "height"] },
      ],
    },
    shape: { type: "string", enum: ["circle", "rectangle", "triangle"] },
  },
  required: ["shape", "dimensions"],
};

before(async () => {
  server = await startServer({ models: { [model]: await tinyModelPath() }, args: ["--threads", "1", "--parallel", "2", "--ctx", "4096"], apiKey });
  client = server.client;
});
after(async () => server?.stop());

describe("validated before it leaves", () => {
  test("a constrained answer either validates or is a counted 500, never an invalid success (response_format and tool calls)", async () => {
    const validate = validatorFor(areaSchema);
    const invalidBefore = await metricValue("chatport_structured_output_checks_total", { model, result: "invalid" });
    const validBefore = await metricValue("chatport_structured_output_checks_total", { model, result: "valid" });
    let valid = 0;
    let refused = 0;
    for (const seed of seeds) {
      const tools = [{ type: "function", function: { name: "calculate_area", parameters: areaSchema } }];
      const bodies = [
        { response_format: { type: "json_schema", json_schema: { name: "area", schema: areaSchema, strict: true } } },
        { tools, tool_choice: "required" },
      ];
      for (const extra of bodies) {
        const res = await postJson(server.baseURL, "/chat/completions", { model, messages: ask, max_tokens: maxTokens, seed, ...extra }, { authorization: `Bearer ${apiKey}` });
        const body = (await res.json()) as OpenAI.ChatCompletion & { error?: { type: string; code: string } };
        if (res.status === 500) {
          assert.equal(body.error?.type, "server_error");
          assert.equal(body.error?.code, "invalid_structured_output");
          refused++;
          continue;
        }
        assert.equal(res.status, 200, JSON.stringify(body));
        const choice = body.choices[0]!;
        if (choice.finish_reason === "length") continue;
        const call = choice.message.tool_calls?.[0];
        const text = call !== undefined && call.type === "function" ? call.function.arguments : (choice.message.content ?? "");
        assert.equal(validate(JSON.parse(text)), null, `seed ${seed}: ${text}`);
        valid++;
      }
    }
    assert.equal((await metricValue("chatport_structured_output_checks_total", { model, result: "invalid" })) - invalidBefore, refused, "every refusal is counted");
    assert.equal((await metricValue("chatport_structured_output_checks_total", { model, result: "valid" })) - validBefore, valid, "every valid answer was checked");
    assert.ok(valid + refused > 0, "some answers ended on their own");
    if (refused > 0) assert.ok(server.logs.some((line) => line.includes("constrained output does not match its schema")), "a refusal is logged");
  });

  test("streamed, an output that fails its schema ends with an error event instead of a finish and [DONE]", async () => {
    for (const seed of seeds) {
      const res = await postJson(
        server.baseURL,
        "/chat/completions",
        { model, messages: ask, max_tokens: maxTokens, seed, stream: true, response_format: { type: "json_schema", json_schema: { name: "area", schema: areaSchema } } },
        { authorization: `Bearer ${apiKey}` },
      );
      assert.equal(res.status, 200);
      const { payloads } = await readSse(res);
      const last = payloads.at(-1) ?? "";
      if (last === "[DONE]") {
        const finish = payloads.map((p) => (p === "[DONE]" ? null : (JSON.parse(p) as OpenAI.ChatCompletionChunk))).find((c) => c?.choices[0]?.finish_reason != null);
        if (finish?.choices[0]?.finish_reason === "length") continue;
        const text = payloads
          .filter((p) => p !== "[DONE]")
          .map((p) => (JSON.parse(p) as OpenAI.ChatCompletionChunk).choices[0]?.delta.content ?? "")
          .join("");
        assert.equal(validatorFor(areaSchema)(JSON.parse(text)), null, text);
      } else {
        const error = (JSON.parse(last) as { error: { type: string; code: string } }).error;
        assert.deepEqual([error.type, error.code], ["server_error", "invalid_structured_output"]);
        assert.ok(!payloads.some((p) => p !== "[DONE]" && (JSON.parse(p) as OpenAI.ChatCompletionChunk).choices?.[0]?.finish_reason != null), "no finish chunk before the error");
      }
    }
  });

  test("a length cut stays a length cut, and a cut at the client's stop string stays a stop: neither is checked", async () => {
    const checksBefore = await metricValue("chatport_structured_output_checks_total", { model });
    const response_format = zodResponseFormat(z.object({ city: z.string().max(20), unit: z.enum(["celsius", "fahrenheit"]) }), "weather");
    const cut = await client.chat.completions.create({ model, messages: ask, response_format, max_tokens: 3, seed: 1 });
    assert.equal(cut.choices[0]?.finish_reason, "length");
    assert.throws(() => JSON.parse(cut.choices[0]?.message.content ?? ""), "a cut answer is not whole JSON");
    const stopped = await client.chat.completions.create({ model, messages: ask, response_format, max_tokens: maxTokens, seed: 1, stop: ['"'] });
    assert.equal(stopped.choices[0]?.finish_reason, "stop");
    assert.equal(stopped.choices[0]?.message.content?.trim(), "{");
    assert.equal(await metricValue("chatport_structured_output_checks_total", { model }), checksBefore);
  });

  test("a schema is compiled once: the same schema again (keys in another order) is a cache hit", async () => {
    const schema = { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"], additionalProperties: false };
    const reordered = { additionalProperties: false, required: ["ok"], properties: { ok: { type: "boolean" } }, type: "object" };
    const compiles = (): Promise<number> => metricValue("chatport_grammar_compile_seconds_count", { model, kind: "response_format" });
    const hits = (): Promise<number> => metricValue("chatport_grammar_cache_lookups_total", { model, kind: "response_format", result: "hit" });
    const [compilesBefore, hitsBefore] = [await compiles(), await hits()];
    for (const s of [schema, schema, reordered]) {
      const res = await client.chat.completions.create({ model, messages: ask, max_tokens: 50, seed: 3, response_format: { type: "json_schema", json_schema: { name: "ok", schema: s, strict: true } } });
      assert.equal(res.choices[0]?.finish_reason, "stop");
      assert.equal(typeof (JSON.parse(res.choices[0]?.message.content ?? "") as { ok: unknown }).ok, "boolean");
    }
    assert.equal((await compiles()) - compilesBefore, 1);
    assert.equal((await hits()) - hitsBefore, 2);
  });
});

describe("the clients users use", () => {
  test("openai SDK: zodResponseFormat with int, email, uuid, regex, optional/nullable, unions, enums, nested arrays and a recursive type", async () => {
    const response_format = zodResponseFormat(Person, "person");
    const validate = validatorFor(response_format.json_schema.schema as object);
    const parsed = await firstComplete(async (seed) => {
      const res = await client.chat.completions.parse({ model, messages: ask, response_format, max_tokens: maxTokens, seed });
      const choice = res.choices[0]!;
      if (choice.finish_reason === "length") return "length";
      assert.equal(validate(JSON.parse(choice.message.content ?? "")), null, choice.message.content ?? "");
      return choice.message.parsed;
    });
    assert.ok(parsed !== null);
    assert.ok(Person.safeParse(parsed).success, JSON.stringify(parsed));
  });

  test("openai SDK: zodFunction with tool_choice required and named", async () => {
    const tools = [zodFunction({ name: "get_weather", parameters: Weather }), zodFunction({ name: "get_person", parameters: Person })];
    for (const tool_choice of ["required", { type: "function", function: { name: "get_person" } }] as const) {
      const call = await firstComplete(async (seed) => {
        const res = await client.chat.completions.parse({ model, messages: ask, tools, tool_choice, max_tokens: maxTokens, seed });
        const choice = res.choices[0]!;
        if (choice.finish_reason === "length") return "length";
        assert.equal(choice.finish_reason, "tool_calls");
        return choice.message.tool_calls?.[0];
      });
      assert.ok(call !== undefined && call.type === "function");
      const schema = call.function.name === "get_weather" ? Weather : Person;
      if (typeof tool_choice === "object") assert.equal(call.function.name, "get_person");
      assert.ok(schema.safeParse(call.function.parsed_arguments).success, call.function.arguments);
    }
  });

  test("LangChain.js: ChatOpenAI.withStructuredOutput and bindTools with zod 4", async () => {
    const chat = (seed: number): ChatOpenAI =>
      new ChatOpenAI({ model, apiKey, configuration: { baseURL: server.baseURL }, maxRetries: 0, maxTokens, temperature: 1, modelKwargs: { seed } });
    const person = await firstComplete(async (seed) => {
      try {
        return await chat(seed).withStructuredOutput(Person).invoke("Describe a person.");
      } catch (err) {
        // A cut answer does not parse: try the next seed; anything else is a failure.
        if (String(err).includes("length")) return "length";
        throw err;
      }
    });
    assert.ok(Person.safeParse(person).success, JSON.stringify(person));

    const weatherTool = tool(async () => "sunny", { name: "get_weather", description: "Weather forecast", schema: Weather });
    const call = await firstComplete(async (seed) => {
      const message = await chat(seed).bindTools([weatherTool], { tool_choice: "get_weather" }).invoke("Weather in Paris?");
      if (message.response_metadata.finish_reason === "length") return "length";
      return message.tool_calls?.[0];
    });
    assert.equal(call?.name, "get_weather");
    assert.ok(Weather.safeParse(call?.args).success, JSON.stringify(call?.args));
  });

  test("Vercel AI SDK: generateObject on the chat completions API", async () => {
    const provider = createOpenAI({ baseURL: server.baseURL, apiKey });
    const object = await firstComplete(async (seed) => {
      try {
        const result = await generateObject({ model: provider.chat(model), schema: Person, prompt: "Describe a person.", seed, maxOutputTokens: maxTokens, maxRetries: 0 });
        return result.object;
      } catch (err) {
        if ((err as { finishReason?: string }).finishReason === "length") return "length";
        throw err;
      }
    });
    assert.ok(Person.safeParse(object).success, JSON.stringify(object));
  });
});
