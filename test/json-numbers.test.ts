/**
 * Grammar-enforced numbers are numbers a client can use: an `integer` never
 * has a fraction or an exponent, a `number` is always finite — in
 * json_schema, in tool-call arguments and in json_object mode. Checked on the
 * real llama.cpp grammar engine (a whole text either matches or not).
 */
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { getLlama, LlamaLogLevel, type Llama, type LlamaGrammar } from "node-llama-cpp";
import { grammarForResponseFormat } from "../src/engines/llama/response-grammar.js";
import { toolCallGrammar } from "../src/engines/llama/tool-call-grammar.js";

let llama: Llama;

before(async () => {
  llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
});

/** Whether the grammar matches the whole text (node-llama-cpp's internal check, on llama.cpp's grammar engine). */
function accepts(grammar: LlamaGrammar, text: string): boolean {
  return (grammar as unknown as { _testText(text: string): boolean })._testText(text);
}

/** node-llama-cpp's schema grammars end the output with four newlines (its stop trigger). */
const ended = (json: string): string => `${json}\n\n\n\n`;

const schema = {
  type: "object",
  properties: { count: { type: "integer" }, ratio: { type: "number" } },
  required: ["count", "ratio"],
  additionalProperties: false,
};

test("json_schema: integers are digits only and numbers are finite", async () => {
  const grammar = await grammarForResponseFormat(llama, { type: "json_schema", name: "n", schema, strict: true });
  assert.ok(grammar !== null);
  for (const good of ['{"count": 0, "ratio": 0}', '{"count": -42, "ratio": -1.5}', '{"count": 9007199254740991, "ratio": 6.02e23}', '{"count": 7, "ratio": 1.25E-99}']) {
    assert.equal(accepts(grammar, ended(good)), true, good);
  }
  for (const bad of [
    '{"count": 8E88888888, "ratio": 1}', // Infinity where an integer belongs
    '{"count": 80108e-3, "ratio": 1}', // a fraction written as an exponent
    '{"count": 1e2, "ratio": 1}', // an integer value, but not written as one
    '{"count": 1.0, "ratio": 1}',
    '{"count": 1, "ratio": -5e141163}', // -Infinity
    '{"count": 1, "ratio": 1e308}', // finite, but past the exponent bound
    '{"count": 1, "ratio": 1e999}',
  ]) {
    assert.equal(accepts(grammar, ended(bad)), false, bad);
  }
});

test("every number the bounds allow parses to a finite double, every integer to an integer", () => {
  const widest = ["9999999999999999.9999999999999999e99", "-9999999999999999.9999999999999999e+99", "1e-99", "-0"];
  for (const text of widest) assert.ok(Number.isFinite(JSON.parse(text) as number), text);
  assert.ok(Number.isInteger(JSON.parse("-9999999999999999") as number));
});

test("tool-call arguments get the same number rules", async () => {
  const grammar = await toolCallGrammar(
    llama,
    [{ name: "set", description: null, strict: true, parameters: schema }],
    { onlyName: null, syntax: "hermes", parallel: false, afterMarker: false },
  );
  const call = (args: string): string => `<tool_call>\n{"name": "set", "arguments": ${args}}\n</tool_call>`;
  assert.equal(accepts(grammar, call('{"count": 3, "ratio": 0.5}')), true);
  assert.equal(accepts(grammar, call('{"count": 80108e-3, "ratio": 0.5}')), false);
  assert.equal(accepts(grammar, call('{"count": 3, "ratio": -5e141163}')), false);
});

test("json_object: any object, with finite numbers", async () => {
  const grammar = await grammarForResponseFormat(llama, { type: "json_object" });
  assert.ok(grammar !== null);
  assert.equal(accepts(grammar, '{"a": [1, -2.5e10, {"b": null}], "c": "x"}'), true);
  assert.equal(accepts(grammar, '{"a": 1e400}'), false);
  assert.equal(accepts(grammar, '{"a": 5e141163}'), false);
  assert.equal(accepts(grammar, "[1]"), false, "the root is an object");
});
