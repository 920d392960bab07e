/**
 * fast-check arbitraries for fuzzing `POST /v1/chat/completions`: valid chat
 * requests, then mutations of them down to the byte level — wrong types, huge
 * and non-finite numbers, NaN strings, deep nesting, megabyte strings, invalid
 * UTF-8, prototype-pollution keys, duplicate keys, unknown fields, broken JSON,
 * wrong content types.
 *
 * A generated {@link FuzzCase} is a small description; {@link materialise}
 * turns it into the bytes and headers to send, and says what the answer must
 * be where the mutations make that certain (413 over the body limit, 415 for a
 * non-JSON content type, 400 for JSON that does not parse or carries
 * `__proto__`, …).
 */
import fc from "fast-check";

/** A JSON text under construction: bodies with duplicate keys, raw bytes and raw tokens cannot be built with JSON.stringify. */
export type JsonNode =
  | { t: "lit"; v: null | boolean | number | string }
  /** JSON text written as is: `1e999`, `-0`, `NaN` (not JSON), `"\ud800"`. */
  | { t: "raw"; text: string }
  /** A JSON string whose UTF-8 has `bytes` (usually not UTF-8) between `before` and `after`. */
  | { t: "bytes"; before: string; bytes: number[]; after: string }
  /** `open` × depth, `leaf`, `close` × depth. */
  | { t: "deep"; depth: number; open: string; close: string; leaf: string }
  /** A JSON string of `unit` repeated `count` times. */
  | { t: "big"; unit: string; count: number }
  | { t: "arr"; items: JsonNode[] }
  /** Keys are string-like nodes (lit string, raw, bytes, big); duplicates and `__proto__` allowed. */
  | { t: "obj"; entries: Array<[JsonNode, JsonNode]> };

export type Mutation =
  | { kind: "wrongType"; at: number; value: fc.JsonValue }
  | { kind: "number"; field: string; token: string }
  | { kind: "deep"; at: number; depth: number; shape: number; key: string | null }
  | { kind: "big"; at: number; unit: string; bytes: number; inKey: boolean }
  | { kind: "utf8"; at: number; bytes: number[]; inKey: boolean }
  | { kind: "escape"; at: number; text: string }
  | { kind: "protoKey"; at: number; key: string; value: fc.JsonValue }
  | { kind: "dupKey"; at: number; entry: number; value: fc.JsonValue | null }
  | { kind: "unknown"; at: number; key: string; value: fc.JsonValue }
  | { kind: "drop"; at: number; entry: number }
  | { kind: "schema"; target: "response_format" | "tool"; schema: fc.JsonValue }
  | { kind: "body"; text: string | null; bytes: number[] }
  | { kind: "truncate"; permille: number }
  | { kind: "flip"; positions: number[]; bytes: number[] };

export interface FuzzCase {
  /** A request the server must accept as it is. */
  base: Record<string, unknown>;
  mutations: Mutation[];
  /** Content-Type header; null: none sent. */
  contentType: string | null;
  /** Content-Length or chunked transfer encoding. */
  transfer: "length" | "chunked";
}

export interface Materialised {
  body: Buffer;
  headers: Record<string, string>;
  /** Short description for reports: mutation kinds, model, size. */
  label: string;
  /** The exact status the server must answer, where certain. */
  expectStatus: number | null;
  /** Why the request must be refused (any 4xx), or null when it may be served. */
  mustReject: string | null;
  /** Nothing changed what the valid base asked: the server must serve it (2xx). */
  mustServe: boolean;
}

export const bodyLimit = 4 * 1024 * 1024;
/** The server's nesting limit (src/protocol/chat-request.ts). */
export const maxNestingDepth = 128;

// ---------------------------------------------------------------- valid requests

const asciiText = fc.string({ unit: "grapheme-ascii", maxLength: 40 });
/** Any code point (lone surrogates excluded: JSON.stringify escapes them, which is its own mutation). */
const unicodeText = fc.string({ unit: "binary", maxLength: 12 });
const text = fc.oneof({ weight: 3, arbitrary: asciiText }, { weight: 1, arbitrary: unicodeText });
const nonEmpty = fc.oneof(fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 8 }), fc.string({ unit: "binary", minLength: 1, maxLength: 4 }));

const textPart = fc.record({ type: fc.constant("text"), text });
const message = fc.oneof(
  { weight: 4, arbitrary: fc.record({ role: fc.constant("user"), content: fc.oneof(text, fc.array(textPart, { minLength: 1, maxLength: 2 })) }) },
  { weight: 1, arbitrary: fc.record({ role: fc.constantFrom("system", "developer"), content: text }) },
  { weight: 1, arbitrary: fc.record({ role: fc.constant("assistant"), content: text }) },
);

const toolName = fc.stringMatching(/^[a-zA-Z0-9_-]{1,16}$/);
/** Small schemas every engine here can turn into a grammar. */
const smallSchema = fc.oneof(
  fc.constant({ type: "object", properties: { a: { type: "string" } }, required: ["a"], additionalProperties: false }),
  fc.constant({ type: "object", properties: { n: { type: "integer" }, ok: { type: "boolean" } } }),
  fc.constant({ type: "object", properties: { tags: { type: "array", items: { enum: ["x", "y"] }, maxItems: 2 } } }),
  fc.constant({ type: "object", $defs: { leaf: { type: "string", maxLength: 3 } }, properties: { l: { $ref: "#/$defs/leaf" } } }),
  fc.constant({ type: "object", properties: {} }),
);
const tool = fc.record(
  {
    type: fc.constant("function"),
    function: fc.record(
      { name: toolName, description: asciiText, parameters: smallSchema, strict: fc.boolean() },
      { requiredKeys: ["name"] },
    ),
  },
  { requiredKeys: ["type", "function"] },
);
const toolFields = fc
  .uniqueArray(tool, { minLength: 1, maxLength: 2, selector: (t) => t.function.name })
  .chain((tools) =>
    fc.record(
      {
        tools: fc.constant(tools),
        tool_choice: fc.oneof(fc.constantFrom("none", "auto", "required"), fc.constantFrom(...tools).map((t) => ({ type: "function", function: { name: t.function.name } }))),
        parallel_tool_calls: fc.boolean(),
      },
      { requiredKeys: ["tools"] },
    ),
  );

const responseFormat = fc.oneof(
  fc.constant({ type: "text" }),
  fc.constant({ type: "json_object" }),
  fc.record({ type: fc.constant("json_schema"), json_schema: fc.record({ name: toolName, schema: smallSchema, strict: fc.boolean() }, { requiredKeys: ["name"] }) }),
);

const sampling = fc.record(
  {
    temperature: fc.double({ min: 0, max: 2, noNaN: true }),
    top_p: fc.double({ min: 0, max: 1, noNaN: true }),
    top_k: fc.integer({ min: -1, max: 200 }),
    min_p: fc.double({ min: 0, max: 1, noNaN: true }),
    presence_penalty: fc.double({ min: -2, max: 2, noNaN: true }),
    frequency_penalty: fc.double({ min: -2, max: 2, noNaN: true }),
    repetition_penalty: fc.double({ min: 0.5, max: 2, noNaN: true }),
    seed: fc.maxSafeInteger(),
    stop: fc.oneof(nonEmpty, fc.array(nonEmpty, { minLength: 1, maxLength: 4 })),
    logit_bias: fc.dictionary(fc.integer({ min: 0, max: 4095 }).map(String), fc.integer({ min: -100, max: 100 }), { maxKeys: 4, noNullPrototype: true }),
    user: asciiText,
    reasoning_effort: fc.constantFrom("none", "minimal", "low", "medium", "high"),
    n: fc.integer({ min: 1, max: 2 }),
    ignore_eos: fc.boolean(),
    fullTextEnabled: fc.boolean(),
    usage_timings: fc.boolean(),
    metadata: fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3, noNullPrototype: true }),
  },
  { requiredKeys: [] },
);

/** A request any model here must serve: at most 2 choices of at most 2 tokens, a prompt well inside a 512-token context. */
export function validRequest(models: readonly string[]): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .record({
      model: fc.constantFrom(...models),
      messages: fc.array(message, { minLength: 1, maxLength: 3 }),
      limit: fc.record({ key: fc.constantFrom("max_tokens", "max_completion_tokens"), value: fc.integer({ min: 1, max: 2 }) }),
      sampling,
      stream: fc.option(fc.record({ include_usage: fc.option(fc.boolean(), { nil: undefined }) }), { nil: undefined }),
      logprobs: fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }),
      responseFormat: fc.option(responseFormat, { nil: undefined, freq: 4 }),
      tools: fc.option(toolFields, { nil: undefined, freq: 4 }),
    })
    .map(({ model, messages, limit, sampling: s, stream, logprobs, responseFormat: rf, tools }) => {
      const body: Record<string, unknown> = { model, messages, [limit.key]: limit.value, ...s };
      if (stream !== undefined) {
        body.stream = true;
        if (stream.include_usage !== undefined) body.stream_options = { include_usage: stream.include_usage };
      }
      if (logprobs !== undefined) Object.assign(body, { logprobs: true, top_logprobs: logprobs });
      // A forced tool call and a response format both want the whole output; keep one.
      if (tools !== undefined) Object.assign(body, tools);
      else if (rf !== undefined) body.response_format = rf;
      return body;
    });
}

// ---------------------------------------------------------------- mutations

const numericFields = [
  "n", "temperature", "top_p", "top_k", "min_p", "max_tokens", "max_completion_tokens", "presence_penalty",
  "frequency_penalty", "repetition_penalty", "top_logprobs", "seed",
];
/** JSON numbers at and past the edges, and things that look like numbers but are not JSON. */
const numberTokens = [
  "1e999", "-1e999", "1e308", "-1.7976931348623157e308", "9007199254740993", "-9007199254740993", "123456789012345678901234567890",
  "-0", "0.0", "1e-400", "5e-324", "2.5", "-1", "0", "1", "129", "4294967296", "1.0000000000000002",
  '"NaN"', '"Infinity"', '"-Infinity"', '"1e999"', '"0x10"', '" 1"', '""', '"1"', "[1]", "{}", "true", "null",
  "NaN", "Infinity", "-Infinity", "+1", "01", ".5", "1.", "0x1F", "1e", "--1", "1_000",
];
const invalidUtf8 = [
  [0xff], [0xfe, 0xff], [0xc3, 0x28], [0xa0, 0xa1], [0xe2, 0x28, 0xa1], [0xe2, 0x82], [0xf0, 0x28, 0x8c, 0xbc],
  [0xf0, 0x90, 0x28, 0xbc], [0xf8, 0xa1, 0xa1, 0xa1, 0xa1], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf], [0xf4, 0x90, 0x80, 0x80], [0x00], [0x1f], [0x7f], [0xef, 0xbb, 0xbf],
];
/** String bodies as JSON text, valid or not: lone surrogates, bad escapes, raw control characters. */
const escapes = [
  '"\\ud800"', '"\\udfff\\ud800"', '"a\\ud83d"', '"\\u0000"', '"\\u202e\\u200b"', '"\\x41"', '"\\u12"', '"\\uZZZZ"',
  '"\\"', '"a\tb"', '"a\nb"', '"\u0000"', "'single'", '"\\/\\b\\f"',
];
const protoKeys = ["__proto__", "constructor", "prototype", "__defineGetter__", "hasOwnProperty", "toString", "valueOf"];

const smallJson = fc.jsonValue({ maxDepth: 3 });
const at = fc.nat();

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 20, arbitrary: fc.record({ kind: fc.constant("wrongType" as const), at, value: fc.oneof(fc.constantFrom(null, true, false, 0, -1, 1e308, "", "x", [], {}), smallJson) }) },
  { weight: 14, arbitrary: fc.record({ kind: fc.constant("number" as const), field: fc.constantFrom(...numericFields, "logit_bias"), token: fc.oneof(fc.constantFrom(...numberTokens), fc.double().map((d) => (Number.isFinite(d) ? String(d) : JSON.stringify(String(d))))) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("deep" as const), at, depth: fc.constantFrom(2, 50, 127, 128, 129, 200, 1000, 10_000, 100_000), shape: fc.nat({ max: 3 }), key: fc.option(fc.constantFrom("x", "messages", "tools", "response_format", "metadata", "stop", "logit_bias")) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("big" as const),
      at,
      unit: fc.constantFrom("x", "word ", "é", "😀", "\\u0000"),
      bytes: fc.constantFrom(64 * 1024, 64 * 1024, 1_000_000, 3_900_000, bodyLimit + 1, 6_000_000),
      inKey: fc.boolean(),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("utf8" as const), at, bytes: fc.oneof(fc.constantFrom(...invalidUtf8), fc.array(fc.integer({ min: 0x80, max: 0xff }), { minLength: 1, maxLength: 6 })), inKey: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("escape" as const), at, text: fc.constantFrom(...escapes) }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant("protoKey" as const), at, key: fc.constantFrom(...protoKeys), value: fc.oneof(fc.constant({ model: "x", polluted: true }), fc.constant({ prototype: { polluted: true } }), smallJson) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("dupKey" as const), at, entry: fc.nat(), value: fc.option(smallJson) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("unknown" as const), at, key: fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom("model ", "Model", "messages\u0000", "", "max_tokens\u200b")), value: smallJson }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("drop" as const), at, entry: fc.nat() }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("schema" as const), target: fc.constantFrom("response_format" as const, "tool" as const), schema: schemaLike() }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("body" as const),
      text: fc.option(fc.oneof(fc.constantFrom("", " ", "null", "[]", "[1,2,3]", "1", '"hi"', "{}", "{", "}", "{}{}", '{"model":"tiny"}', "\ufeff{}", "true"), fc.jsonValue().map((v) => JSON.stringify(v)))),
      bytes: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 64 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("truncate" as const), permille: fc.integer({ min: 0, max: 999 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("flip" as const), positions: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }) }) },
);

/** Schema-shaped JSON, often invalid: wrong keyword types, dangling and recursive references, odd patterns. */
function schemaLike(): fc.Arbitrary<fc.JsonValue> {
  const { node } = fc.letrec<{ node: fc.JsonValue }>((tie) => ({
    node: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.constantFrom<fc.JsonValue>(true, false, {}, { type: "string" }, { type: 12 }, { type: ["string", "null"] }, { enum: [] }, { const: null }),
      fc.record({ type: fc.constantFrom("object", "objekt", "array", "integer", "number") as fc.Arbitrary<fc.JsonValue>, properties: fc.dictionary(fc.string({ maxLength: 6 }), tie("node"), { maxKeys: 3, noNullPrototype: true }), required: fc.array(fc.string({ maxLength: 6 }), { maxLength: 3 }) }, { requiredKeys: [] }),
      fc.record({ type: fc.constant("array"), items: tie("node"), minItems: fc.integer({ min: -1, max: 3 }), maxItems: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constant("2")) as fc.Arbitrary<fc.JsonValue> }, { requiredKeys: ["items"] }),
      fc.record({ anyOf: fc.array(tie("node"), { maxLength: 3 }) }),
      fc.record({ $ref: fc.constantFrom("#", "#/$defs/a", "#/definitions/a", "#/properties/x", "#/$defs/missing", "http://example.com/s.json", "#/%ZZ", "other.json#/a") }),
      fc.record({ $defs: fc.record({ a: tie("node") }), $ref: fc.constantFrom("#/$defs/a", "#/$defs/b") }),
      fc.record({ type: fc.constant("string"), pattern: fc.constantFrom("^a+$", "(", "[", "\\p{L}+", "(a+)+$", "\\"), format: fc.constantFrom("date", "email", "uri", "nope") }, { requiredKeys: [] }),
      fc.record({ $schema: fc.constantFrom("http://json-schema.org/draft-07/schema#", "https://json-schema.org/draft/2020-12/schema", "__proto__", "", "constructor"), $id: fc.constantFrom("http://x/a", "#a", "__proto__", "constructor") }, { requiredKeys: [] }),
      fc.record({ minimum: fc.oneof(fc.double(), fc.string({ maxLength: 3 })) as fc.Arbitrary<fc.JsonValue>, multipleOf: fc.oneof(fc.double(), fc.constant(0)) as fc.Arbitrary<fc.JsonValue> }, { requiredKeys: [] }),
    ),
  }));
  return node;
}

export function fuzzCase(models: readonly string[]): fc.Arbitrary<FuzzCase> {
  return fc.record({
    base: validRequest(models),
    mutations: fc.oneof({ weight: 1, arbitrary: fc.constant<Mutation[]>([]) }, { weight: 9, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }) }),
    contentType: fc.oneof(
      { weight: 30, arbitrary: fc.constant("application/json") },
      {
        weight: 2,
        arbitrary: fc.constantFrom(
          null, "", "application/json; charset=utf-8", "APPLICATION/JSON", "application/json;charset=latin1", "application/json; charset=utf-16",
          "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx", "application/vnd.api+json",
          "application/octet-stream", "text/json", "*/*", "application/json, text/plain",
        ),
      },
    ),
    transfer: fc.oneof({ weight: 9, arbitrary: fc.constant("length" as const) }, { weight: 1, arbitrary: fc.constant("chunked" as const) }),
  });
}

// ---------------------------------------------------------------- JSON text

export function toNode(value: unknown): JsonNode {
  if (value === null || typeof value === "boolean" || typeof value === "number" || typeof value === "string") return { t: "lit", v: value };
  if (Array.isArray(value)) return { t: "arr", items: value.map(toNode) };
  if (typeof value === "object") return { t: "obj", entries: Object.entries(value).map(([k, v]): [JsonNode, JsonNode] => [{ t: "lit", v: k }, toNode(v)]) };
  return { t: "lit", v: null };
}

function deepText(node: Extract<JsonNode, { t: "deep" }>): string {
  return node.open.repeat(node.depth) + node.leaf + node.close.repeat(node.depth);
}

/** JSON text (or not quite) as bytes. Recursion is bounded by the tree the mutations build, never by `deep` nodes. */
export function serialise(node: JsonNode, out: Array<string | Buffer>): void {
  switch (node.t) {
    case "lit":
      // JSON.stringify writes NaN and ±Infinity as null, as a client would.
      out.push(JSON.stringify(node.v));
      return;
    case "raw":
      out.push(node.text);
      return;
    case "bytes":
      out.push(JSON.stringify(node.before).slice(0, -1), Buffer.from(node.bytes), JSON.stringify(node.after).slice(1));
      return;
    case "deep":
      out.push(deepText(node));
      return;
    case "big":
      out.push(`"${node.unit.repeat(node.count)}"`);
      return;
    case "arr":
      out.push("[");
      node.items.forEach((item, i) => {
        if (i > 0) out.push(",");
        serialise(item, out);
      });
      out.push("]");
      return;
    case "obj":
      out.push("{");
      node.entries.forEach(([key, value], i) => {
        if (i > 0) out.push(",");
        serialise(key, out);
        out.push(":");
        serialise(value, out);
      });
      out.push("}");
      return;
  }
}

function toBuffer(node: JsonNode): Buffer {
  const out: Array<string | Buffer> = [];
  serialise(node, out);
  return Buffer.concat(out.map((p) => (typeof p === "string" ? Buffer.from(p, "utf8") : p)));
}

interface Slot {
  node: JsonNode;
  set(next: JsonNode): void;
}

/** Every value position in the tree (the root included), parents before children. */
function slots(root: { node: JsonNode }): Slot[] {
  const out: Slot[] = [];
  const visit = (slot: Slot): void => {
    out.push(slot);
    const node = slot.node;
    if (node.t === "arr") node.items.forEach((item, i) => visit({ node: item, set: (next) => (node.items[i] = next) }));
    if (node.t === "obj") node.entries.forEach((entry) => visit({ node: entry[1], set: (next) => (entry[1] = next) }));
  };
  visit({ node: root.node, set: (next) => (root.node = next) });
  return out;
}

function objects(root: JsonNode): Array<Extract<JsonNode, { t: "obj" }>> {
  return slots({ node: root })
    .map((s) => s.node)
    .filter((n): n is Extract<JsonNode, { t: "obj" }> => n.t === "obj");
}

function keyText(key: JsonNode): string | null {
  return key.t === "lit" && typeof key.v === "string" ? key.v : null;
}

function field(root: JsonNode, name: string): Slot | null {
  if (root.t !== "obj") return null;
  const entry = root.entries.find(([k]) => keyText(k) === name);
  return entry === undefined ? null : { node: entry[1], set: (next) => (entry[1] = next) };
}

function pick<T>(list: readonly T[], index: number): T | undefined {
  return list.length === 0 ? undefined : list[index % list.length];
}

const deepShapes: Array<{ open: string; close: string; leaf: string; levels: number }> = [
  { open: "[", close: "]", leaf: "", levels: 1 },
  { open: '{"a":', close: "}", leaf: "1", levels: 1 },
  { open: '[{"b":', close: "}]", leaf: "null", levels: 2 },
  { open: '{"items":', close: "}", leaf: '{"type":"string"}', levels: 1 },
];

/** The entries JSON.parse keeps: of duplicate keys, the last. */
function kept(entries: ReadonlyArray<[JsonNode, JsonNode]>): Array<[JsonNode, JsonNode]> {
  return entries.filter(([key], i) => {
    const text = keyText(key);
    return text === null || !entries.slice(i + 1).some(([later]) => keyText(later) === text);
  });
}

/** Depth of a subtree in JSON nesting levels (an object or array is one level; scalars none), as parsed. */
function depthOf(node: JsonNode): number {
  switch (node.t) {
    case "arr":
      return 1 + Math.max(0, ...node.items.map(depthOf));
    case "obj":
      return 1 + Math.max(0, ...kept(node.entries).map(([, v]) => depthOf(v)));
    case "deep": {
      const shape = deepShapes.find((s) => s.open === node.open);
      return node.depth * (shape?.levels ?? 1) + (node.leaf.startsWith("{") ? 1 : 0);
    }
    default:
      return 0;
  }
}

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Does every raw token in the tree parse as JSON, and every key hold a string? */
function wellFormed(node: JsonNode): boolean {
  switch (node.t) {
    case "raw":
      return parses(node.text);
    case "bytes":
      // Raw control bytes are not allowed inside JSON strings; any other byte is (the decoder substitutes U+FFFD).
      return node.bytes.every((b) => b >= 0x20);
    case "big":
      return parses(`"${node.unit}"`);
    case "arr":
      return node.items.every(wellFormed);
    case "obj":
      return node.entries.every(([k, v]) => k.t !== "arr" && k.t !== "obj" && k.t !== "deep" && (k.t !== "lit" || typeof k.v === "string") && wellFormed(k) && wellFormed(v));
    default:
      return true;
  }
}

/** Is there a `__proto__` key in what JSON.parse returns (a duplicate key may have replaced the object holding one)? */
function hasProtoKey(node: JsonNode): boolean {
  if (node.t === "arr") return node.items.some(hasProtoKey);
  if (node.t !== "obj") return false;
  return kept(node.entries).some(([k, v]) => keyText(k) === "__proto__" || hasProtoKey(v));
}

/** `application/json`, in UTF-8: the body is parsed as JSON. */
function plainJson(contentType: string | null): boolean {
  return contentType !== null && /^application\/json(;\s*charset=utf-8)?$/i.test(contentType);
}

/**
 * Fastify parses a body as JSON for `application/json` (any case, any
 * charset); any other type, or none, is a 415 before the body is read —
 * except no type and `Content-Length: 0`, which is no body at all.
 */
function contentTypeStatus(contentType: string | null, body: Buffer, transfer: FuzzCase["transfer"]): number | null {
  if (contentType?.split(";")[0]?.trim().toLowerCase() === "application/json") return null;
  if (contentType === null && body.length === 0 && transfer === "length") return null;
  return 415;
}

const cappedFields = new Set(["max_tokens", "max_completion_tokens", "n"]);

/** Apply the AST mutations in order, then the byte-level ones; say what the answer must be. */
export function materialise(c: FuzzCase): Materialised {
  const root = { node: toNode(c.base) };
  const kinds: string[] = [];
  const byteLevel: Mutation[] = [];
  for (const m of c.mutations) {
    kinds.push(m.kind);
    if (m.kind === "body" || m.kind === "truncate" || m.kind === "flip") {
      byteLevel.push(m);
      continue;
    }
    applyTreeMutation(root, m);
  }
  keepCheap(root.node);

  let body = toBuffer(root.node);
  let mustReject: string | null = null;
  if (!wellFormed(root.node)) mustReject = "not JSON";
  else if (hasProtoKey(root.node)) mustReject = "__proto__ key";
  else if (root.node.t !== "obj") mustReject = "not an object";
  else if (depthOf(root.node) > maxNestingDepth) mustReject = "too deep";
  let predictable = true;
  for (const m of byteLevel) {
    if (m.kind === "body") {
      body = m.text === null ? Buffer.from(m.bytes) : Buffer.from(m.text, "utf8");
      mustReject = null;
      if (m.text !== null) {
        let parsed: unknown = undefined;
        try {
          parsed = JSON.parse(m.text);
        } catch {
          mustReject = "not JSON";
        }
        if (mustReject === null && (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))) mustReject = "not an object";
        if (mustReject === null) predictable = false;
      } else predictable = false;
    } else if (m.kind === "truncate") {
      const cut = Math.floor((body.length * m.permille) / 1000);
      body = body.subarray(0, cut);
      mustReject = "truncated";
    } else if (m.kind === "flip") {
      const copy = Buffer.from(body);
      m.positions.forEach((p, i) => {
        if (copy.length > 0) copy[p % copy.length] = m.bytes[i % m.bytes.length] ?? 0;
      });
      body = copy;
      mustReject = null;
      predictable = false;
    }
  }

  const headers: Record<string, string> = {};
  if (c.contentType !== null) headers["content-type"] = c.contentType;
  if (c.transfer === "length") headers["content-length"] = String(body.length);
  else headers["transfer-encoding"] = "chunked";

  let expectStatus: number | null = null;
  const typeStatus = contentTypeStatus(c.contentType, body, c.transfer);
  if (typeStatus !== null) expectStatus = typeStatus;
  else if (body.length > bodyLimit) expectStatus = 413;
  else if (mustReject !== null && mustReject !== "too deep") expectStatus = 400;
  if (typeStatus !== null) mustReject = "content type";
  else if (body.length > bodyLimit) mustReject = "too large";

  const model = root.node.t === "obj" ? field(root.node, "model") : null;
  const modelName = model?.node.t === "lit" ? String(model.node.v) : "?";
  const label = `${kinds.length === 0 ? "valid" : kinds.join("+")} model=${modelName.slice(0, 12)} ${c.contentType ?? "no-type"} ${c.transfer} ${body.length}B`;
  const mustServe = c.mutations.length === 0 && predictable && plainJson(c.contentType);
  return { body, headers, label, expectStatus, mustReject, mustServe };
}

function applyTreeMutation(root: { node: JsonNode }, m: Mutation): void {
  const all = slots(root);
  switch (m.kind) {
    case "wrongType": {
      const slot = pick(all, m.at);
      slot?.set(toNode(m.value));
      return;
    }
    case "number": {
      const target = field(root.node, m.field);
      const token: JsonNode = { t: "raw", text: m.token };
      if (m.field === "logit_bias") {
        const value: JsonNode = { t: "obj", entries: [[{ t: "lit", v: "5" }, token]] };
        if (target !== null) target.set(value);
        else if (root.node.t === "obj") root.node.entries.push([{ t: "lit", v: "logit_bias" }, value]);
        return;
      }
      if (target !== null) target.set(token);
      else if (root.node.t === "obj") root.node.entries.push([{ t: "lit", v: m.field }, token]);
      return;
    }
    case "deep": {
      const shape = deepShapes[m.shape % deepShapes.length] ?? { open: "[", close: "]", leaf: "", levels: 1 };
      const node: JsonNode = { t: "deep", depth: Math.max(1, Math.round(m.depth / shape.levels)), open: shape.open, close: shape.close, leaf: shape.leaf };
      if (m.key !== null && root.node.t === "obj") {
        const target = field(root.node, m.key);
        if (target !== null) target.set(node);
        else root.node.entries.push([{ t: "lit", v: m.key }, node]);
      } else pick(all, m.at)?.set(node);
      return;
    }
    case "big": {
      const count = Math.ceil(m.bytes / Buffer.byteLength(m.unit));
      const node: JsonNode = { t: "big", unit: m.unit, count };
      const obj = pick(objects(root.node), m.at);
      if (m.inKey && obj !== undefined) obj.entries.push([node, { t: "lit", v: 1 }]);
      else {
        const strings = all.filter((s) => s.node.t === "lit" && typeof s.node.v === "string");
        (pick(strings, m.at) ?? pick(all, m.at))?.set(node);
      }
      return;
    }
    case "utf8": {
      const node: JsonNode = { t: "bytes", before: "a", bytes: m.bytes, after: "b" };
      const obj = pick(objects(root.node), m.at);
      if (m.inKey && obj !== undefined) {
        const entry = pick(obj.entries, m.at);
        if (entry !== undefined) entry[0] = node;
        else obj.entries.push([node, { t: "lit", v: "x" }]);
        return;
      }
      const strings = all.filter((s) => s.node.t === "lit" && typeof s.node.v === "string");
      (pick(strings, m.at) ?? pick(all, m.at))?.set(node);
      return;
    }
    case "escape": {
      const strings = all.filter((s) => s.node.t === "lit" && typeof s.node.v === "string");
      (pick(strings, m.at) ?? pick(all, m.at))?.set({ t: "raw", text: m.text });
      return;
    }
    case "protoKey": {
      const obj = pick(objects(root.node), m.at);
      obj?.entries.splice(m.at % (obj.entries.length + 1), 0, [{ t: "lit", v: m.key }, toNode(m.value)]);
      return;
    }
    case "dupKey": {
      const obj = pick(objects(root.node), m.at);
      const entry = obj === undefined ? undefined : pick(obj.entries, m.entry);
      if (obj !== undefined && entry !== undefined) obj.entries.push([entry[0], m.value === null ? entry[1] : toNode(m.value)]);
      return;
    }
    case "unknown": {
      const obj = pick(objects(root.node), m.at);
      obj?.entries.push([{ t: "lit", v: m.key }, toNode(m.value)]);
      return;
    }
    case "drop": {
      const obj = pick(objects(root.node), m.at);
      if (obj !== undefined && obj.entries.length > 0) obj.entries.splice(m.entry % obj.entries.length, 1);
      return;
    }
    case "schema": {
      if (root.node.t !== "obj") return;
      const schema = toNode(m.schema);
      const entry: [JsonNode, JsonNode] =
        m.target === "response_format"
          ? [{ t: "lit", v: "response_format" }, toNode({ type: "json_schema", json_schema: { name: "fuzz", strict: true } })]
          : [{ t: "lit", v: "tools" }, toNode([{ type: "function", function: { name: "fuzz", strict: true } }])];
      const holder = entry[1].t === "obj" ? entry[1] : entry[1].t === "arr" && entry[1].items[0]?.t === "obj" ? entry[1].items[0] : null;
      const inner = holder?.entries[holder.entries.length - 1]?.[1];
      if (inner?.t === "obj") inner.entries.push([{ t: "lit", v: m.target === "response_format" ? "schema" : "parameters" }, schema]);
      root.node.entries = root.node.entries.filter(([k]) => !["response_format", "tools", "tool_choice", "functions"].includes(keyText(k) ?? ""));
      root.node.entries.push(entry);
      if (m.target === "tool") root.node.entries.push([{ t: "lit", v: "tool_choice" }, { t: "lit", v: "required" }]);
      return;
    }
    default:
      return;
  }
}

/**
 * Keep served requests cheap and within capacity: n between 3 and 128 is
 * valid but would hold most of the queue (a 503 is right then, and not what
 * this fuzzes); a missing, null or large token limit runs to the end of the
 * context. Wrong types and out-of-range values are left alone.
 */
function keepCheap(root: JsonNode): void {
  if (root.t !== "obj") return;
  let limited = false;
  for (const entry of root.entries) {
    const name = keyText(entry[0]);
    if (name === null || !cappedFields.has(name)) continue;
    const value = entry[1];
    if (name !== "n") limited = true;
    if (name !== "n" && value.t === "lit" && value.v === null) entry[1] = { t: "lit", v: 2 };
    const number = value.t === "lit" && typeof value.v === "number" ? value.v : value.t === "raw" && /^-?\d+(\.0*)?(e\+?\d+)?$/i.test(value.text) ? Number(value.text) : null;
    if (number === null || !Number.isInteger(number)) continue;
    if (name === "n" && number >= 3 && number <= 128) entry[1] = { t: "lit", v: 2 };
    if (name !== "n" && number > 64 && number < 512) entry[1] = { t: "lit", v: 2 };
  }
  if (!limited) root.entries.push([{ t: "lit", v: "max_completion_tokens" }, { t: "lit", v: 2 }]);
}
