/**
 * Structured outputs with the schemas real clients send, against a real
 * server process: zod 4's JSON Schema (draft 2020-12 `$schema`, safe-integer
 * bounds, formats with their patterns, regexes, nullable, enums, nested
 * arrays, recursion), draft-04 schemas with vendor keys, and strict tools —
 * all served (they were 400s), every finished output valid; a keyword no
 * grammar can enforce is a 400 naming it and its JSON Pointer.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Ajv } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { z } from "zod";
import { asAjvSchema } from "../src/protocol/json-schema.js";
import { tinyModelPath } from "./helpers/models.js";
import { postJson, startServer, type RunningServer } from "./helpers/server.js";

let server: RunningServer;
const model = "tiny";
const messages = [{ role: "user", content: "Fill in the form." }];

before(async () => {
  server = await startServer({ models: { [model]: await tinyModelPath() }, args: ["--threads", "1", "--parallel", "2", "--ctx", "2048"] });
});
after(async () => {
  await server?.stop();
});

function validatorOf(schema: Record<string, unknown>): (value: unknown) => string | null {
  const options = { strict: false, logger: false as const };
  const ajv = String(schema.$schema ?? "").includes("2020-12") ? new Ajv2020(options) : new Ajv(options);
  (addFormats as unknown as (a: unknown) => void)(ajv);
  const validate = ajv.compile(asAjvSchema(schema) as object);
  return (value) => (validate(value) ? null : JSON.stringify(validate.errors));
}

interface Completion {
  choices: Array<{ finish_reason: string; message: { content: string | null; tool_calls?: Array<{ function: { name: string; arguments: string } }> } }>;
}

/** Several seeds: every output that finished validates; enough of them finish. */
async function assertOutputsValid(schema: Record<string, unknown>): Promise<void> {
  const validate = validatorOf(schema);
  let finished = 0;
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const res = await postJson(server.baseURL, "/chat/completions", { model, messages, seed, max_tokens: 700, response_format: { type: "json_schema", json_schema: { name: "form", schema, strict: true } } });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    const choice = (JSON.parse(text) as Completion).choices[0];
    if (choice?.finish_reason !== "stop") continue;
    finished++;
    const content = choice.message.content ?? "";
    assert.equal(validate(JSON.parse(content)), null, content);
  }
  assert.ok(finished >= 3, `only ${finished} of 6 outputs finished`);
}

interface Category {
  name: string;
  children: Category[];
}

const category: z.ZodType<Category> = z.object({ name: z.string().max(8), get children() {
  return z.array(category).max(2);
} });

describe("schemas from real clients are served and their outputs validate", () => {
  test("zod 4: int, email, uuid, regex, optional, nullable, enum, union, nested arrays, recursion (draft 2020-12)", async () => {
    const schema = z.toJSONSchema(
      z.object({
        id: z.number().int(),
        age: z.number().int().min(0).max(130),
        email: z.email(),
        key: z.uuid(),
        code: z.string().regex(/^[A-Z]{2}\d{2}$/),
        nickname: z.string().max(10).optional(),
        manager: z.string().max(10).nullable(),
        role: z.enum(["admin", "user"]),
        score: z.union([z.number().min(0).max(1), z.literal("n/a")]),
        grid: z.array(z.array(z.boolean()).max(3)).max(2),
        tree: category,
      }),
    ) as Record<string, unknown>;
    assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
    await assertOutputsValid(schema);
  });

  test("draft-04 with boolean exclusive bounds, definitions and vendor keys (Pydantic-style anyOf null, title, $defs)", async () => {
    await assertOutputsValid({
      $schema: "http://json-schema.org/draft-04/schema#",
      id: "http://example.com/order",
      "x-generator": "legacy",
      type: "object",
      definitions: { qty: { type: "integer", minimum: 0, exclusiveMinimum: true, maximum: 99 } },
      properties: {
        quantity: { $ref: "#/definitions/qty", title: "Quantity", example: 3 },
        price: { type: "number", minimum: 0, exclusiveMaximum: 1000 },
        note: { anyOf: [{ type: "string", maxLength: 12 }, { type: "null" }], default: null },
        sku: { type: "string", pattern: "^[A-Z]{3}-[0-9]{4}$" },
      },
      required: ["quantity", "price", "note", "sku"],
      additionalProperties: false,
    });
  });

  test("a strict tool with a 2020-12 schema (LangChain's shape), tool_choice required: the arguments validate", async () => {
    const parameters = { $schema: "https://json-schema.org/draft/2020-12/schema", type: "object", properties: { city: { type: "string", maxLength: 12 }, days: { type: "integer", minimum: 1, maximum: 7 } }, required: ["city", "days"], additionalProperties: false };
    const validate = validatorOf(parameters);
    const res = await postJson(server.baseURL, "/chat/completions", {
      model,
      messages,
      seed: 3,
      max_tokens: 400,
      tools: [{ type: "function", function: { name: "forecast", parameters, strict: true } }],
      tool_choice: "required",
    });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    const call = (JSON.parse(text) as Completion).choices[0]?.message.tool_calls?.[0];
    assert.equal(call?.function.name, "forecast", text);
    assert.equal(validate(JSON.parse(call?.function.arguments ?? "")), null, call?.function.arguments);
  });
});

describe("what no grammar can enforce is refused, naming the keyword and where", () => {
  const cases: Array<[string, Record<string, unknown>, string, string, string]> = [
    ["uniqueItems on longer arrays", { type: "object", properties: { tags: { type: "array", items: { type: "string" }, uniqueItems: true, minItems: 2 } } }, "response_format", "uniqueItems", "/properties/tags"],
    ["a lookahead pattern", { type: "object", properties: { p: { type: "string", pattern: "^(?!x).+$" } } }, "response_format", "pattern", "/properties/p"],
    ["multipleOf a fraction beside an upper bound, in a tool", { type: "object", properties: { price: { type: "number", multipleOf: 0.03, maximum: 100 } } }, "tools", "multipleOf", "/properties/price"],
  ];
  for (const [name, schema, where, keyword, pointer] of cases) {
    test(name, async () => {
      const body =
        where === "tools"
          ? { model, messages, tools: [{ type: "function", function: { name: "pay", parameters: schema, strict: true } }], tool_choice: "required" }
          : { model, messages, response_format: { type: "json_schema", json_schema: { name: "s", schema } } };
      const res = await postJson(server.baseURL, "/chat/completions", body);
      const error = ((await res.json()) as { error: { message: string; param: string; code: string; type: string } }).error;
      assert.equal(res.status, 400, error.message);
      assert.equal(error.type, "invalid_request_error");
      assert.equal(error.code, "invalid_json_schema");
      assert.equal(error.param, where === "tools" ? "tools[0].function.parameters" : "response_format.json_schema.schema");
      assert.match(error.message, new RegExp(`keyword '${keyword.replace("$", "\\$")}' at '${pointer}'`));
    });
  }
});
