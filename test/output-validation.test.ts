/**
 * The checks behind "validated before it leaves": a client's schema compiled
 * in its own draft (Ajv on the validation worker), the contracts of
 * response_format and tool-call outputs, content keys, and the grammar cache.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import type { LlamaGrammar } from "node-llama-cpp";
import { contentKey } from "../src/engines/llama/content-key.js";
import { GrammarCache } from "../src/engines/llama/grammar-cache.js";
import { compileSchemaCheck } from "../src/engines/llama/json-schema-validator.js";
import { OutputSchemaChecker, SchemaNotCheckable } from "../src/engines/llama/output-schema-checker.js";
import { responseFormatContract, toolCallContract } from "../src/engines/llama/output-validation.js";
import type { ParsedToolCall } from "../src/engines/llama/output/tool-call-parser.js";
import { validatorCapacity } from "../src/engines/llama/validation-worker.js";

describe("a schema checked in its own draft", () => {
  test("draft-04: `id` is an identifier and a boolean exclusiveMinimum modifies minimum", async () => {
    const check = compileSchemaCheck({ $schema: "http://json-schema.org/draft-04/schema#", id: "http://example.com/s", type: "integer", minimum: 3, exclusiveMinimum: true });
    assert.equal(check(4), null);
    assert.match((await check(3)) ?? "", /minimum/, "3 is not above the exclusive minimum");
  });

  test("draft-07 tuples (items as a list) and 2020-12 prefixItems", () => {
    const draft07 = compileSchemaCheck({ $schema: "http://json-schema.org/draft-07/schema#", type: "array", items: [{ type: "integer" }, { type: "string" }], additionalItems: false });
    assert.equal(draft07([1, "a"]), null);
    assert.notEqual(draft07([1, "a", 2]), null);
    const draft2020 = compileSchemaCheck({ $schema: "https://json-schema.org/draft/2020-12/schema", type: "array", prefixItems: [{ type: "integer" }], items: false });
    assert.equal(draft2020([1]), null);
    assert.notEqual(draft2020([1, 2]), null);
  });

  test("without $schema: 2020-12, or the first older draft that compiles it (a draft-04 `id`, a draft-07 tuple)", () => {
    assert.notEqual(compileSchemaCheck({ type: "array", prefixItems: [{ type: "integer" }], items: false })([1, 2]), null);
    assert.equal(compileSchemaCheck({ id: "person", type: "object", properties: { a: { type: "string" } } })({ a: "x" }), null);
    assert.notEqual(compileSchemaCheck({ type: "array", items: [{ type: "integer" }], additionalItems: false })([1, 2]), null);
  });

  test("formats are checked (RFC 3339 times need an offset); an unknown format is an annotation", () => {
    const check = compileSchemaCheck({
      type: "object",
      properties: { e: { format: "email" }, u: { format: "uuid" }, d: { format: "date" }, t: { format: "time" }, x: { format: "x-custom" } },
    });
    assert.equal(check({ e: "a@b.co", u: "123e4567-e89b-12d3-a456-426614174000", d: "2024-02-29", t: "10:00:00Z", x: "anything" }), null);
    for (const bad of [{ e: "nope" }, { u: "123" }, { d: "2023-02-29" }, { d: "5653-06-31" }, { t: "10:00:00" }]) assert.notEqual(check(bad), null, JSON.stringify(bad));
  });

  test("a failure names the place and the keyword, never the value", async () => {
    const problem = (await compileSchemaCheck({ type: "object", properties: { secret: { type: "string", maxLength: 3 } } })({ secret: "hunter2-password" })) ?? "";
    assert.match(problem, /\/secret fails 'maxLength'/);
    assert.doesNotMatch(problem, /hunter2/);
  });

  test("a schema marked $async (Ajv then validates with a promise) still fails what it should", async () => {
    const check = compileSchemaCheck({ $async: true, type: "object", properties: { n: { type: "integer" } }, required: ["n"] });
    assert.equal(await check({ n: 1 }), null);
    assert.match((await check({ n: "one" })) ?? "", /\/n fails 'type'/);
  });

  test("a schema no dialect can compile throws", () => {
    assert.throws(() => compileSchemaCheck({ $ref: "https://example.com/elsewhere.json" }));
  });
});

describe("the validation worker", () => {
  const checker = new OutputSchemaChecker();
  after(() => checker.close());
  const schema = { type: "object", properties: { n: { type: "integer", maximum: 5 } }, required: ["n"], additionalProperties: false };

  test("checks JSON text against a prepared schema, and any JSON object without one", async () => {
    const prepared = await checker.prepare(schema);
    assert.equal(await checker.check(prepared, '{"n": 4}'), null);
    assert.match((await checker.check(prepared, '{"n": 6}')) ?? "", /maximum/);
    assert.equal(await checker.check(prepared, '{"n": 4'), "is not JSON");
    assert.equal(await checker.check(null, '{"a": [1]}'), null);
    assert.equal(await checker.check(null, "[1]"), "is not a JSON object");
  });

  test("an $async schema is checked, not passed by its promise", async () => {
    const prepared = await checker.prepare({ $async: true, type: "array", maxItems: 1 });
    assert.equal(await checker.check(prepared, "[1]"), null);
    assert.match((await checker.check(prepared, "[1, 2]")) ?? "", /maxItems/);
  });

  test("a schema Ajv cannot compile is refused with its reason", async () => {
    await assert.rejects(checker.prepare({ $ref: "https://example.com/elsewhere.json" }), SchemaNotCheckable);
  });

  test("a schema the worker evicted is compiled again when an output needs it", async () => {
    const first = await checker.prepare({ ...schema, title: "first" });
    for (let i = 0; i <= validatorCapacity; i++) await checker.prepare({ const: i });
    assert.match((await checker.check(first, '{"n": 9}')) ?? "", /maximum/);
    assert.equal(await checker.check(first, '{"n": 1}'), null);
  });
});

describe("output contracts", () => {
  const checker = new OutputSchemaChecker();
  after(() => checker.close());
  const call = (name: string, args: string): ParsedToolCall => ({ id: "call_1", name, arguments: args });

  test("response_format: the content is the schema's JSON, and no tool calls", async () => {
    const contract = responseFormatContract(checker, await checker.prepare({ type: "object", required: ["a"] }));
    assert.equal(await contract.check({ content: '{"a": 1}', toolCalls: [] }), null);
    assert.match((await contract.check({ content: "{}", toolCalls: [] })) ?? "", /^the content .*required/);
    assert.notEqual(await contract.check({ content: '{"a": 1}', toolCalls: [call("f", "{}")] }), null);
    assert.equal(await responseFormatContract(checker, null).check({ content: '{"free": true}', toolCalls: [] }), null);
  });

  test("forced tool calls: at least one, no text around them, a known tool, valid arguments", async () => {
    const schemas = new Map([["f", await checker.prepare({ type: "object", properties: { x: { type: "boolean" } }, required: ["x"] })]]);
    const forced = toolCallContract(checker, schemas, true);
    assert.equal(await forced.check({ content: "\n", toolCalls: [call("f", '{"x": true}')] }), null);
    assert.equal(await forced.check({ content: "", toolCalls: [] }), "no tool call");
    assert.equal(await forced.check({ content: "hi", toolCalls: [call("f", '{"x": true}')] }), "text outside the tool calls");
    assert.match((await forced.check({ content: "", toolCalls: [call("g", "{}")] })) ?? "", /may not be called/);
    assert.match((await forced.check({ content: "", toolCalls: [call("f", '{"x": 1}')] })) ?? "", /tool call 0 \(f\)/);
    const auto = toolCallContract(checker, schemas, false);
    assert.equal(await auto.check({ content: "no call today", toolCalls: [] }), null);
  });
});

test("a content key does not depend on the order of object keys", () => {
  assert.equal(contentKey({ a: 1, b: { c: [1, { d: 2, e: 3 }] } }), contentKey({ b: { c: [1, { e: 3, d: 2 }] }, a: 1 }));
  assert.notEqual(contentKey({ a: [1, 2] }), contentKey({ a: [2, 1] }));
});

describe("the grammar cache", () => {
  const grammar = (name: string): LlamaGrammar => ({ grammar: name }) as unknown as LlamaGrammar;

  test("compiles a key once, also for lookups arriving while it compiles; reports compiles and hits", async () => {
    const compiled: number[] = [];
    const lookups: boolean[] = [];
    const cache = new GrammarCache({ capacity: 4, onCompiled: (_kind, seconds) => compiled.push(seconds), onLookup: (_kind, hit) => lookups.push(hit) });
    let calls = 0;
    const compile = async (): Promise<LlamaGrammar> => grammar(`g${++calls}`);
    const [a, b] = await Promise.all([cache.get("k", "response_format", compile), cache.get("k", "response_format", compile)]);
    assert.equal(a, b);
    assert.equal(calls, 1);
    assert.equal(compiled.length, 1);
    assert.deepEqual(lookups, [false, true]);
  });

  test("a refused schema is not kept; the least recently used key goes first", async () => {
    const cache = new GrammarCache({ capacity: 2 });
    await assert.rejects(cache.get("bad", "tool_calls", () => Promise.reject(new Error("refused"))));
    assert.equal(cache.size, 0);
    let calls = 0;
    const compile = async (): Promise<LlamaGrammar> => grammar(`g${++calls}`);
    await cache.get("a", "tool_calls", compile);
    await cache.get("b", "tool_calls", compile);
    await cache.get("a", "tool_calls", compile);
    await cache.get("c", "tool_calls", compile);
    assert.equal(calls, 3);
    await cache.get("a", "tool_calls", compile);
    assert.equal(calls, 3, "a was used last, b went");
    await cache.get("b", "tool_calls", compile);
    assert.equal(calls, 4);
  });
});
