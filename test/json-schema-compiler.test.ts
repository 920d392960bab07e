/**
 * The JSON Schema → GBNF compiler, keyword by keyword, on llama.cpp's real
 * grammar engine: every accepted text validates with Ajv and the grammar
 * matches it; every near-miss fails Ajv and the grammar rejects it. Then the
 * refusals (keyword and JSON Pointer named), and outputs sampled from the
 * tiny model under a grammar, each validated.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Ajv } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { getLlama, LlamaGrammarEvaluationState, LlamaLogLevel, type Llama, type LlamaContext, type LlamaGrammar, type LlamaModel } from "node-llama-cpp";
import { compileJsonSchema } from "../src/engines/llama/json-schema/schema-compiler.js";
import { responseFormatGbnf } from "../src/engines/llama/response-grammar.js";
import { SchemaRefusal } from "../src/engines/llama/json-schema/schema-refusal.js";
import { patternsWithFormat, stringFormatLengths, stringFormats } from "../src/engines/llama/json-schema/string-formats.js";
import { asAjvSchema } from "../src/protocol/json-schema.js";
import { tinyModelPath } from "./helpers/models.js";

let llama: Llama;

before(async () => {
  llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
});

async function grammarOf(schema: unknown): Promise<LlamaGrammar> {
  const { rules, root } = compileJsonSchema(schema);
  return llama.createGrammar({ grammar: `root ::= ${root}\n${rules}` });
}

function accepts(grammar: LlamaGrammar, text: string): boolean {
  return (grammar as unknown as { _testText(text: string): boolean })._testText(text);
}

/** Ajv of the schema's draft, with ajv-formats (full), as a client would validate. */
function validatorOf(schema: Record<string, unknown>): ((value: unknown) => boolean) & { errors: () => string } {
  const $schema = String(schema.$schema ?? "");
  const options = { strict: false, logger: false as const };
  const ajv = $schema.includes("2020-12") ? new Ajv2020(options) : new Ajv(options);
  (addFormats as unknown as (a: unknown) => void)(ajv);
  const validate = ajv.compile(asAjvSchema(schema) as object);
  return Object.assign((value: unknown) => validate(value) as boolean, { errors: () => JSON.stringify(validate.errors) });
}

interface Case {
  schema: Record<string, unknown>;
  /** Valid, and the grammar writes them. */
  good: string[];
  /** Invalid (near-misses), and the grammar never writes them. */
  bad: string[];
  /** Valid, but the grammar writes them another way (e.g. `1e2` as `100`): never invalid, only narrower. */
  narrowed?: string[];
}

async function check({ schema, good, bad, narrowed = [] }: Case): Promise<void> {
  const grammar = await grammarOf(schema);
  const validate = validatorOf(schema);
  for (const text of good) {
    assert.equal(validate(JSON.parse(text)), true, `test data: ${text} should be valid`);
    assert.equal(accepts(grammar, text), true, `the grammar should accept ${text}`);
  }
  for (const text of bad) {
    let parsed: unknown = undefined;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not even JSON: a near-miss of the syntax
    }
    if (parsed !== undefined) assert.equal(validate(parsed), false, `test data: ${text} should be invalid`);
    assert.equal(accepts(grammar, text), false, `the grammar should reject ${text}`);
  }
  for (const text of narrowed) {
    assert.equal(validate(JSON.parse(text)), true, `test data: ${text} should be valid`);
    assert.equal(accepts(grammar, text), false, `the grammar should not write ${text}`);
  }
}

const cases: Record<string, Case> = {
  "draft-04 boolean exclusiveMinimum": {
    schema: { $schema: "http://json-schema.org/draft-04/schema#", type: "integer", minimum: 0, exclusiveMinimum: true, id: "legacy" },
    good: ["1", "5"],
    bad: ["0", "-1"],
  },
  "2020-12 prefixItems and items false": {
    schema: { $schema: "https://json-schema.org/draft/2020-12/schema", type: "array", prefixItems: [{ type: "integer" }, { type: "string" }], items: false },
    good: ['[1, "a"]', "[1]", "[]"],
    bad: ['["a", 1]', '[1, "a", 2]'],
  },
  "draft-07 items list and additionalItems": {
    schema: { type: "array", items: [{ type: "boolean" }], additionalItems: { type: "null" }, minItems: 2 },
    good: ["[true, null]", "[false, null, null]"],
    bad: ["[true]", "[true, 1]"],
  },
  "type lists and null": {
    schema: { type: ["string", "null"] },
    good: ['"x"', "null"],
    bad: ["1", "true", "{}"],
  },
  "enum and const of every JSON type": {
    schema: { enum: [1, "a", null, { b: [true] }, [1.5]] },
    good: ["1", '"a"', "null", '{"b":[true]}', "[1.5]"],
    bad: ["2", '"b"', '{"b":[false]}'],
  },
  "properties, required, additionalProperties false": {
    schema: { type: "object", properties: { a: { type: "integer" }, b: { type: "string" } }, required: ["a"], additionalProperties: false, title: "annotations are ignored" },
    good: ['{"a": 1}', '{"a": 1, "b": "x"}', '{ "a" : 1,\n  "b": "x" }'],
    bad: ["{}", '{"a": 1, "c": 2}', '{"a": "1"}', '{"a": 1.5}'],
  },
  "additionalProperties as a schema (a map)": {
    schema: { type: "object", additionalProperties: { type: "integer" } },
    good: ["{}", '{"x": 1, "y": 2}'],
    bad: ['{"x": "s"}', "[]"],
  },
  patternProperties: {
    schema: { type: "object", patternProperties: { "^n_[a-z]+$": { type: "number" } }, additionalProperties: false },
    good: ['{"n_a": 1.5}', "{}"],
    bad: ['{"m": 1}', '{"n_a": "x"}'],
  },
  propertyNames: {
    schema: { type: "object", propertyNames: { pattern: "^[a-z]+$", maxLength: 4 }, additionalProperties: { type: "boolean" } },
    good: ['{"abc": true}'],
    bad: ['{"Abc": true}', '{"abcde": false}'],
  },
  "minProperties and maxProperties over optional properties": {
    schema: { type: "object", properties: { a: { type: "integer" }, b: { type: "integer" }, c: { type: "integer" } }, minProperties: 1, maxProperties: 2, additionalProperties: false },
    good: ['{"a": 1}', '{"a": 1, "c": 3}', '{"c": 3}'],
    bad: ["{}", '{"a": 1, "b": 2, "c": 3}'],
  },
  "items, minItems, maxItems": {
    schema: { type: "array", items: { type: "integer" }, minItems: 1, maxItems: 3 },
    good: ["[1]", "[1, 2, 3]"],
    bad: ["[]", "[1, 2, 3, 4]", "[1.5]"],
  },
  "contains and minContains": {
    schema: { $schema: "https://json-schema.org/draft/2020-12/schema", type: "array", items: { type: "integer" }, contains: { minimum: 10 }, minContains: 2 },
    good: ["[10, 11]", "[10, 11, 3]"],
    bad: ["[10, 1]", "[]", "[10]"],
  },
  anyOf: {
    schema: { anyOf: [{ type: "string", maxLength: 2 }, { type: "integer", minimum: 5 }] },
    good: ['"ab"', "7"],
    bad: ['"abc"', "4"],
  },
  "oneOf told apart by a const discriminator": {
    schema: {
      oneOf: [
        { type: "object", properties: { kind: { const: "a" }, x: { type: "integer" } }, required: ["x"] },
        { type: "object", properties: { kind: { const: "b" }, y: { type: "string" } }, required: ["y"] },
      ],
    },
    good: ['{"kind": "a", "x": 1}', '{"kind": "b", "y": "s"}'],
    bad: ['{"kind": "a", "y": "s"}', '{"kind": "c", "x": 1}'],
  },
  "oneOf of required lists: each alternative leaves out a key the others require": {
    schema: { type: "object", properties: { r: { type: "integer" }, l: { type: "integer" }, w: { type: "integer" } }, oneOf: [{ required: ["r"] }, { required: ["l", "w"] }] },
    good: ['{"r": 1}', '{"l": 1, "w": 2}'],
    bad: ['{"r": 1, "l": 1, "w": 2}', "{}", '{"l": 1}'],
    narrowed: ['{"r": 1, "l": 1}'],
  },
  "allOf merged": {
    schema: { allOf: [{ type: "object", properties: { a: { type: "integer", minimum: 0 } }, required: ["a"] }, { properties: { a: { maximum: 9 }, b: { type: "string" } }, required: ["b"] }] },
    good: ['{"a": 1, "b": "x"}', '{"a": 9, "b": ""}'],
    bad: ['{"a": 1}', '{"a": 10, "b": "x"}', '{"a": -1, "b": "x"}'],
  },
  "$ref to $defs, recursive": {
    schema: { $defs: { node: { type: "object", properties: { v: { type: "integer" }, kids: { type: "array", items: { $ref: "#/$defs/node" } } }, required: ["v"], additionalProperties: false } }, $ref: "#/$defs/node" },
    good: ['{"v": 1, "kids": [{"v": 2, "kids": []}, {"v": 3}]}'],
    bad: ['{"v": 1, "kids": [{}]}', '{"v": 1, "kids": [{"v": 2, "w": 1}]}'],
  },
  "$ref to definitions and to #": {
    schema: { type: "object", definitions: { n: { type: "integer" } }, properties: { a: { $ref: "#/definitions/n" }, self: { $ref: "#" } }, additionalProperties: false },
    good: ['{"a": 1, "self": {"self": {"a": 2}}}'],
    bad: ['{"a": "x"}', '{"self": {"a": 1.5}}'],
  },
  "$anchor and $id-relative references": {
    schema: {
      $schema: "https://json-schema.org/draft/2020-12/schema",
      $id: "https://example.test/root.json",
      $defs: { a: { $anchor: "positive", type: "integer", minimum: 1 }, b: { $id: "b.json", type: "string", maxLength: 1 } },
      type: "object",
      properties: { p: { $ref: "#positive" }, q: { $ref: "b.json" } },
      required: ["p", "q"],
      additionalProperties: false,
    },
    good: ['{"p": 3, "q": "z"}'],
    bad: ['{"p": 0, "q": "z"}', '{"p": 1, "q": "zz"}'],
  },
  "pattern, anchored": {
    schema: { type: "string", pattern: "^[A-Z]{2}-\\d{3}(x|yz)?$" },
    good: ['"AB-123"', '"AB-123yz"'],
    bad: ['"AB-12"', '"ab-123"', '"AB-123y"'],
  },
  "pattern, unanchored (matches anywhere)": {
    schema: { type: "string", pattern: "x\\d" },
    good: ['"ax1b"', '"x9"'],
    bad: ['"ab"', '"x"'],
  },
  "pattern with minLength and maxLength": {
    schema: { type: "string", pattern: "^[a-z]+$", minLength: 2, maxLength: 3 },
    good: ['"ab"', '"abc"'],
    bad: ['"a"', '"abcd"', '"aB"'],
  },
  "pattern over quote, backslash and newline": {
    schema: { type: "string", pattern: '^["\\\\\\n]+$' },
    good: ['"\\"\\\\\\n"'],
    bad: ['"a"', '""'],
  },
  "pattern classes with ^, -, [ and ] (written as llama.cpp reads them)": {
    schema: { type: "string", pattern: "^[\\^\\-\\[\\]a-c]+$" },
    good: ['"a^-[]"', '"c"'],
    bad: ['"d"', '"a^-x"'],
  },
  "maxLength 1000 (a repetition llama.cpp accepts)": {
    schema: { type: "string", maxLength: 1000 },
    good: ['"abc"', `"${"\\u00e9".repeat(1000)}"`],
    bad: [`"${"a".repeat(1001)}"`],
  },
  "minLength and maxLength count characters, not bytes or escapes": {
    schema: { type: "string", minLength: 2, maxLength: 3 },
    good: ['"é😀"', '"abc"', '"a\\nb"', '"\\u00e9\\u00e9"'],
    bad: ['"a"', '"abcd"', '"é😀ab"'],
  },
  "integer ranges are exact": {
    schema: { type: "integer", minimum: -15, maximum: 130 },
    good: ["-15", "0", "99", "130", "-9"],
    bad: ["-16", "131", "1.5", "007"],
    narrowed: ["1e2", "-0", "1.0"],
  },
  "exclusive integer bounds": {
    schema: { type: "integer", exclusiveMinimum: 0, exclusiveMaximum: 100 },
    good: ["1", "99"],
    bad: ["0", "100"],
  },
  "zod's safe-integer range": {
    schema: { type: "integer", minimum: -9007199254740991, maximum: 9007199254740991 },
    good: ["9007199254740991", "-9007199254740991", "42"],
    bad: ["9007199254740992", "-9007199254740992"],
  },
  "number bounds": {
    schema: { type: "number", minimum: 0.5, exclusiveMaximum: 10 },
    good: ["1", "9.99", "5.5", "9"],
    bad: ["0.4", "10", "10.5", "-1", "1e1"],
    narrowed: ["0.5", "9.5e0"],
  },
  "multipleOf on integers": {
    schema: { type: "integer", multipleOf: 7, minimum: 0 },
    good: ["0", "14", "700"],
    bad: ["15", "-7"],
    narrowed: ["7.0"],
  },
  "multipleOf a decimal fraction: integers (every integer is a multiple of 0.01, also in floating point)": {
    schema: { type: "number", multipleOf: 0.01, minimum: -5, maximum: 250 },
    good: ["0", "12", "250", "-5"],
    bad: ["251", "-6", "1.001"],
    // 0.07 / 0.01 is 7.000000000000001 in floating point, so fractions are never written; 0.5 would pass, but is narrowed away.
    narrowed: ["0.5", "1.25"],
  },
  "multipleOf 0.03: the integers that are multiples of 3": {
    schema: { type: "number", multipleOf: 0.03, minimum: 0 },
    good: ["0", "3", "300"],
    bad: ["1", "-3", "0.031"],
    narrowed: ["0.03", "0.06"],
  },
  "multipleOf 0.001 with a large bound: digits capped where floating point stays exact": {
    schema: { type: "integer", multipleOf: 0.001, minimum: 0, maximum: 9007199254740991 },
    good: ["0", "123456789012"],
    bad: ["-1"],
    narrowed: ["9007199254740991"],
  },
  "pattern: anchors inside groups": {
    schema: { type: "string", pattern: "(^ab|cd$)" },
    good: ['"ab"', '"abxyz"', '"cd"', '"xyzcd"'],
    bad: ['"xab"', '"cdx"', '"a"'],
  },
  "pattern: a group of anchored alternatives in the middle of the pattern": {
    schema: { type: "string", pattern: "^x(y$|z)w?$" },
    good: ['"xy"', '"xz"', '"xzw"'],
    bad: ['"xyw"', '"x"', '"axz"'],
  },
  "uniqueItems: arrays of at most one item": {
    schema: { type: "array", items: { type: "integer" }, uniqueItems: true },
    good: ["[]", "[3]"],
    bad: ["[1, 1]"],
  },
  "uniqueItems over enum values: each at most once, in declared order": {
    schema: { type: "array", items: { enum: ["read", "write", "admin"] }, uniqueItems: true, minItems: 1 },
    good: ['["read"]', '["read", "admin"]', '["read", "write", "admin"]'],
    bad: ['["read", "read"]', "[]", '["delete"]'],
    narrowed: ['["admin", "read"]'],
  },
  "not: a type": {
    schema: { type: ["string", "integer"], not: { type: "string" } },
    good: ["1"],
    bad: ['"a"'],
  },
  "not: a required key": {
    schema: { type: "object", properties: { a: { type: "integer" }, b: { type: "integer" } }, not: { required: ["b"] } },
    good: ['{"a": 1}', "{}"],
    bad: ['{"a": 1, "b": 2}'],
  },
  "not: string values beside a plain string (any string but those)": {
    schema: { type: "string", not: { enum: ["admin", "root", 7] } },
    good: ['"adm"', '"admins"', '"x"', '""', '"x\\n"', '"7"'],
    bad: ['"admin"', '"root"', '"\\u0061dmin"', '"ro\\u006ft"'],
    narrowed: ['"\\u0078"'],
  },
  "not: a const string": {
    schema: { type: "object", properties: { name: { type: "string", not: { const: "" } } }, required: ["name"] },
    good: ['{"name": "a"}'],
    bad: ['{"name": ""}'],
  },
  "if/then written as both": {
    schema: { type: "object", properties: { a: { enum: [1, 2] }, b: { type: "integer" } }, required: ["a"], if: { properties: { a: { const: 1 } } }, then: { required: ["b"] }, else: { required: [] } },
    good: ['{"a": 1, "b": 5}'],
    bad: ['{"a": 1}', '{"a": 3, "b": 1}'],
  },
  "dependentRequired: a required key brings its dependencies": {
    schema: { type: "object", properties: { card: { type: "string" }, address: { type: "string" } }, required: ["card"], dependencies: { card: ["address"] } },
    good: ['{"card": "x", "address": "y"}'],
    bad: ['{"card": "x"}'],
  },
  "unknown keywords and vendor extensions are ignored": {
    schema: { type: "object", "x-order": 1, example: {}, id: "thing", self: { href: "x" }, properties: { a: { type: "string", _format: "weird", preferredOrder: 1, maxLength: 1 } }, required: ["a"] },
    good: ['{"a": "z"}'],
    bad: ['{"a": "zz"}', "{}"],
  },
};

describe("keywords on the grammar engine", () => {
  for (const [name, c] of Object.entries(cases)) test(name, () => check(c));
});

const formatSamples: Record<string, { good: string[]; bad: string[] }> = {
  "date-time": { good: ["2024-02-28T12:30:00Z", "1999-12-31T23:59:59.123Z"], bad: ["2024-02-30T12:30:00Z", "2024-02-28 12:30:00"] },
  date: { good: ["2024-12-31", "2023-04-30"], bad: ["2024-13-01", "2023-04-31"] },
  time: { good: ["23:59:59Z"], bad: ["24:00:00Z", "12:00"] },
  duration: { good: ["P3D", "PT12H"], bad: ["P", "3D"] },
  email: { good: ["a.b@example.com"], bad: ["a@b", "@example.com"] },
  hostname: { good: ["api.example.com", "localhost"], bad: ["-bad-.com", "a..b"] },
  ipv4: { good: ["192.168.0.1", "0.0.0.0"], bad: ["256.1.1.1", "1.2.3"] },
  ipv6: { good: ["2001:db8:0:0:0:0:0:1"], bad: ["2001:db8::g", "1:2:3"] },
  uuid: { good: ["123e4567-e89b-42d3-a456-426614174000"], bad: ["123e4567-e89b-42d3-a456-42661417400", "not-a-uuid"] },
  uri: { good: ["https://example.com/a/b?x=1"], bad: ["example", "//no-scheme"] },
};

describe("formats", () => {
  for (const [format, { good, bad }] of Object.entries(formatSamples)) {
    test(format, () => check({ schema: { type: "string", format }, good: good.map((s) => JSON.stringify(s)), bad: bad.map((s) => JSON.stringify(s)) }));
  }

  test("every format has a grammar, and its outputs pass ajv-formats (sampled)", async () => {
    const model = await llama.loadModel({ modelPath: await tinyModelPath() });
    const context = await model.createContext({ contextSize: 512, threads: 1 });
    try {
      for (const format of Object.keys(stringFormats)) {
        const schema = { type: "string", format };
        const validate = validatorOf(schema);
        for (const seed of [1, 2, 3]) {
          const text = await sample(model, context, schema, seed, 200);
          if (text === null) continue;
          const value: unknown = JSON.parse(text);
          assert.ok(validate(value), `${format}: ${text}`);
          const [shortest, longest] = stringFormatLengths[format] ?? [0, 0];
          const length = [...(value as string)].length;
          assert.ok(shortest <= length && length <= longest, `${format}: ${text} has ${length} characters, outside the declared ${shortest}…${longest}`);
        }
        // With a library's pattern beside the format: every output passes both.
        for (const pattern of patternsWithFormat[format]?.keys() ?? []) {
          const paired = { type: "string", format, pattern };
          const validatePaired = validatorOf(paired);
          for (const seed of [1, 2, 3]) {
            const text = await sample(model, context, paired, seed, 200);
            if (text === null) continue;
            assert.ok(validatePaired(JSON.parse(text)), `${format} with ${pattern}: ${text}`);
          }
        }
      }
    } finally {
      await context.dispose();
      await model.dispose();
    }
  });
});

describe("integer ranges against arithmetic", () => {
  test("for many ranges, exactly the integers within are accepted", async () => {
    const ranges: Array<[number | null, number | null]> = [[0, 0], [-1, 1], [7, 7], [3, 1009], [-250, -13], [-99, 100], [1, null], [null, -5], [120, 120000], [999, 1001]];
    for (const [lo, hi] of ranges) {
      const grammar = await grammarOf({ type: "integer", ...(lo === null ? {} : { minimum: lo }), ...(hi === null ? {} : { maximum: hi }) });
      const probes = new Set<number>();
      for (const edge of [lo ?? -2000, hi ?? 2000, 0]) for (let d = -25; d <= 25; d++) probes.add(edge + d);
      for (const n of probes) {
        const inside = (lo === null || n >= lo) && (hi === null || n <= hi);
        assert.equal(accepts(grammar, String(n)), inside, `${n} in [${lo}, ${hi}]`);
      }
    }
  });
});

describe("refusals name the keyword and its JSON Pointer", () => {
  const refusals: Array<[string, unknown, string, string]> = [
    ["uniqueItems on two or more items", { type: "array", items: { type: "integer" }, uniqueItems: true, minItems: 2 }, "uniqueItems", ""],
    ["multipleOf a fraction beside an upper bound on multiples of 3", { type: "object", properties: { a: { type: "number", multipleOf: 0.3, maximum: 10 } } }, "multipleOf", "/properties/a"],
    ["an anchor inside a repeated group", { type: "string", pattern: "(^a)+" }, "pattern", ""],
    ["a 'not' of string values beside a maxLength", { type: "string", maxLength: 5, not: { enum: ["a"] } }, "not", ""],
    ["a pattern with lookahead", { type: "object", properties: { s: { type: "string", pattern: "^(?=a)a+$" } } }, "pattern", "/properties/s"],
    ["a pattern with a backreference", { type: "string", pattern: "^(a)\\1$" }, "pattern", ""],
    ["a 'not' of a structure", { type: "object", not: { properties: { a: { type: "string" } } } }, "not", "/not"],
    ["a reference outside the document", { $ref: "https://example.com/x.json" }, "$ref", "/$ref"],
    ["an enum of objects beside object keywords", { type: "object", required: ["a"], enum: [{}, { a: 1 }] }, "enum", ""],
    ["maxContains", { type: "array", contains: { type: "integer" }, maxContains: 1 }, "maxContains", ""],
    ["a oneOf whose alternatives overlap", { oneOf: [{ type: "string" }, { type: "string", maxLength: 3 }] }, "oneOf", "/oneOf"],
    ["a oneOf that every output matches twice (the rest requires every key)", { type: "object", properties: { r: { type: "integer" }, l: { type: "integer" } }, required: ["r", "l"], oneOf: [{ required: ["r"] }, { required: ["l"] }] }, "oneOf", "/oneOf"],
    ["a grammar too large", { type: "object", properties: Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`p${i}`, { type: "string", maxLength: 999 }])), required: Array.from({ length: 400 }, (_, i) => `p${i}`) }, "$schema", ""],
  ];
  for (const [name, schema, keyword, pointer] of refusals) {
    test(name, () => {
      assert.throws(
        () => compileJsonSchema(schema),
        (err: unknown) => err instanceof SchemaRefusal && err.keyword === keyword && err.pointer.startsWith(pointer) && err.message.includes(`'${keyword}'`),
      );
    });
  }
});

let model: LlamaModel;
let context: LlamaContext;

async function sample(m: LlamaModel, ctx: LlamaContext, schema: unknown, seed: number, maxTokens: number): Promise<string | null> {
  const grammar = await grammarOf(schema);
  const sequence = ctx.getSequence();
  try {
    const grammarEvaluationState = new LlamaGrammarEvaluationState({ model: m, grammar });
    const out = [];
    for await (const token of sequence.evaluate(m.tokenize("JSON:"), { temperature: 1, seed, grammarEvaluationState })) {
      if (m.isEogToken(token)) return m.detokenize(out);
      out.push(token);
      if (out.length >= maxTokens) return null;
    }
    return m.detokenize(out);
  } finally {
    sequence.dispose();
  }
}

describe("sampled outputs validate", () => {
  before(async () => {
    model = await llama.loadModel({ modelPath: await tinyModelPath() });
    context = await model.createContext({ contextSize: 1024, threads: 1 });
  });
  after(async () => {
    await context?.dispose();
    await model?.dispose();
  });

  test("string lengths hold even where the model writes bytes that are not UTF-8 (was: a value llama.cpp decoded from ill-formed bytes read as one character, written as four U+FFFD)", async () => {
    // JSONSchemaBench Github_easy o17544: seed 1 wrote 53 characters into a 50-character password.
    const schema = { type: "object", properties: { email: { type: "string", minLength: 4, maxLength: 30 }, password: { type: "string", minLength: 4, maxLength: 50 } }, required: ["email", "password"] };
    const validate = validatorOf(schema);
    const grammar = await llama.createGrammar({ grammar: responseFormatGbnf({ type: "json_schema", name: "login", schema, strict: true }) ?? "" });
    const sequence = context.getSequence();
    try {
      const grammarEvaluationState = new LlamaGrammarEvaluationState({ model, grammar });
      const out = [];
      for await (const token of sequence.evaluate(model.tokenize("Answer in JSON."), { temperature: 1, seed: 1, grammarEvaluationState })) {
        if (model.isEogToken(token)) break;
        out.push(token);
        if (out.length >= 300 || model.detokenize(out.slice(-8)).includes("\n\n\n\n")) break;
      }
      const text = model.detokenize(out);
      assert.equal(validate(JSON.parse(text)), true, `${text}\n${validate.errors()}`);
    } finally {
      sequence.dispose();
    }
  });

  test("a schema with most keywords at once: every finished output is valid", async () => {
    const schema = {
      $schema: "https://json-schema.org/draft/2020-12/schema",
      type: "object",
      $defs: { tag: { type: "string", pattern: "^[a-z]{1,6}$" } },
      properties: {
        id: { type: "integer", minimum: 1, maximum: 500 },
        email: { type: "string", format: "email" },
        when: { type: "string", format: "date" },
        ratio: { type: "number", minimum: 0, maximum: 1 },
        tags: { type: "array", items: { $ref: "#/$defs/tag" }, minItems: 1, maxItems: 3 },
        kind: { enum: ["a", "b", null] },
        note: { anyOf: [{ type: "string", maxLength: 8 }, { type: "null" }] },
        size: { type: "integer", exclusiveMinimum: 0, multipleOf: 5 },
      },
      required: ["id", "email", "when", "ratio", "tags", "kind", "note"],
      additionalProperties: false,
    };
    const validate = validatorOf(schema);
    let finished = 0;
    for (let seed = 1; seed <= 12; seed++) {
      const text = await sample(model, context, schema, seed, 400);
      if (text === null) continue;
      finished++;
      assert.ok(validate(JSON.parse(text)), `${text}\n${validate.errors()}`);
    }
    assert.ok(finished >= 6, `only ${finished} of 12 outputs finished`);
  });
});


describe("asAjvSchema (how a validator reads a schema of any draft)", () => {
  test("drops $schema, $async and string ids in schemas, keeps properties of those names; draft-04 bounds made numeric", () => {
    const schema = {
      $schema: "http://json-schema.org/draft-04/schema#",
      $async: true,
      id: "legacy",
      type: "object",
      properties: { $schema: { type: "string" }, id: { type: "integer", minimum: 0, exclusiveMinimum: true } },
      additionalProperties: false,
      enum: [{ $schema: "kept", id: "kept" }],
    };
    assert.deepEqual(asAjvSchema(schema), {
      type: "object",
      properties: { $schema: { type: "string" }, id: { type: "integer", exclusiveMinimum: 0 } },
      additionalProperties: false,
      enum: [{ $schema: "kept", id: "kept" }],
    });
  });
});
