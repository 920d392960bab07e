/**
 * Is a client-supplied JSON Schema a valid schema at all? (Whether an engine can enforce it is the engine's question.)
 *
 * The schema (and every `$defs` entry) is checked against the meta-schema of
 * its `$schema` (draft-04, -06, -07, 2019-09 or 2020-12; draft-07 when it has
 * none; a draft-04 schema is read in draft-07 terms, its boolean exclusive
 * bounds made numeric), its patterns must be regular expressions and its local
 * references (`#/$defs/a`) must point into it; it is not compiled. Compiling
 * untrusted schemas on one shared Ajv instance kept every schema (and its
 * `$id`s) for the life of the process — a second request reusing an `$id` was
 * refused — and Ajv's code generation is quadratic in the schema's size (2,000
 * properties held the event loop for seconds; 3,000 overflowed the stack).
 * These checks are linear and keep no state between requests.
 */
import { Ajv } from "ajv";
import { Ajv2019 } from "ajv/dist/2019.js";
import { Ajv2020 } from "ajv/dist/2020.js";
import draft06MetaSchema from "ajv/dist/refs/json-schema-draft-06.json" with { type: "json" };
import { invalidRequest } from "./errors.js";

const metaOptions = { strict: false, logger: false } as const;
const draft07Validator = new Ajv(metaOptions);
draft07Validator.addMetaSchema(draft06MetaSchema);
const draft2019Validator = new Ajv2019(metaOptions);
const draft2020Validator = new Ajv2020(metaOptions);

/** The JSON Schema drafts chatport reads. */
export type SchemaDraft = "draft-04" | "draft-06" | "draft-07" | "2019-09" | "2020-12";

/** `$schema` values of the supported drafts (http or https, with or without the trailing `#`). */
const draftsBySchemaUri: ReadonlyArray<[RegExp, SchemaDraft]> = [
  [/^https?:\/\/json-schema\.org\/draft-04\/schema#?$/, "draft-04"],
  [/^https?:\/\/json-schema\.org\/draft-06\/schema#?$/, "draft-06"],
  [/^https?:\/\/json-schema\.org\/draft-07\/schema#?$/, "draft-07"],
  [/^https?:\/\/json-schema\.org\/draft\/2019-09\/schema#?$/, "2019-09"],
  [/^https?:\/\/json-schema\.org\/draft\/2020-12\/schema#?$/, "2020-12"],
];

/** The draft a `$schema` value names; null when it is absent or names no supported draft. */
export function declaredDraft($schema: unknown): SchemaDraft | null {
  if (typeof $schema !== "string") return null;
  return draftsBySchemaUri.find(([pattern]) => pattern.test($schema))?.[1] ?? null;
}

/**
 * A schema as Ajv's draft-07, 2019-09 and 2020-12 classes read it: in every
 * schema (not in `properties` names or `enum` values) draft-04's boolean
 * exclusiveMinimum/Maximum made numeric bounds, and `$schema`, Ajv's own
 * `$async` (which would make validation return a promise) and string `id`s
 * (draft-04's `$id`, an annotation in later drafts, which Ajv refuses to
 * compile: "NOT SUPPORTED: keyword id") dropped.
 */
export function asAjvSchema(schema: unknown): unknown {
  if (!isObject(schema)) return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === "$schema" || key === "$async" || (key === "id" && typeof value === "string")) continue;
    if ((key === "exclusiveMinimum" || key === "exclusiveMaximum") && typeof value === "boolean") continue;
    if (schemaKeywords.has(key) && isObject(value)) out[key] = asAjvSchema(value);
    else if (schemaListKeywords.has(key) && Array.isArray(value)) out[key] = value.map(asAjvSchema);
    else if (schemaMapKeywords.has(key) && isObject(value)) out[key] = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, asAjvSchema(sub)]));
    else out[key] = value;
  }
  for (const [flag, bound] of [["exclusiveMinimum", "minimum"], ["exclusiveMaximum", "maximum"]] as const) {
    if (schema[flag] === true && typeof schema[bound] === "number") {
      out[flag] = schema[bound];
      delete out[bound];
    }
  }
  return out;
}

/** Keywords whose value is a schema, a list of schemas, or a map of names to schemas (every draft's). */
export const schemaKeywords: ReadonlySet<string> = new Set(["items", "additionalItems", "additionalProperties", "contains", "propertyNames", "if", "then", "else", "not", "unevaluatedItems", "unevaluatedProperties"]);
export const schemaListKeywords: ReadonlySet<string> = new Set(["items", "allOf", "anyOf", "oneOf", "prefixItems"]);
export const schemaMapKeywords: ReadonlySet<string> = new Set(["properties", "patternProperties", "definitions", "$defs", "dependencies", "dependentSchemas"]);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** What a JSON Pointer (`/$defs/a~1b`) points to in `root`, or undefined. */
function resolvePointer(root: unknown, pointer: string): unknown {
  let node = root;
  for (const raw of pointer.split("/").slice(1)) {
    let token: string;
    try {
      token = decodeURIComponent(raw).replaceAll("~1", "/").replaceAll("~0", "~");
    } catch {
      return undefined;
    }
    if (Array.isArray(node) && /^(0|[1-9]\d*)$/.test(token)) node = node[Number(token)];
    else if (isObject(node) && Object.hasOwn(node, token)) node = node[token];
    else return undefined;
  }
  return node;
}

/** Is `pattern` a regular expression Ajv would accept (it compiles them with the `u` flag)? Compiling matches nothing, so no ReDoS here. */
function badPattern(pattern: string): boolean {
  try {
    new RegExp(pattern, "u");
    return false;
  } catch {
    return true;
  }
}

/** Why `schema` fails the meta-schema of its draft, or null. Its `$schema` is checked first: anything else never reaches Ajv's key lookup. */
function metaProblem(schema: unknown): string | null {
  if (typeof schema === "boolean") return null;
  if (!isObject(schema)) return "a schema must be an object or a boolean";
  const $schema = schema.$schema ?? "";
  const draft = $schema === "" ? "draft-07" : declaredDraft($schema);
  if (draft === null) {
    return `unsupported $schema ${typeof $schema === "string" ? JSON.stringify($schema.slice(0, 100)) : typeof $schema}: drafts 04, 06, 07, 2019-09 and 2020-12 are supported`;
  }
  try {
    if (draft === "draft-04") draft07Validator.validateSchema(asAjvSchema(schema) as object, true);
    else (draft === "2019-09" ? draft2019Validator : draft === "2020-12" ? draft2020Validator : draft07Validator).validateSchema(schema, true);
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/**
 * What the draft-07 meta-schema cannot see: a `$defs` entry (a later draft's
 * `definitions`, which grammar compilers read) that is not a valid schema, a
 * `pattern` that is not a regular expression, or a `#/…` reference that
 * points nowhere in the schema; null if none. Walks schema positions only
 * (not `enum` or `default` values), iteratively. Below a nested `$id`, `#`
 * means that subschema; references there are left to whoever compiles them.
 */
/**
 * OpenAI's structured-output limits: beyond them a schema is refused here,
 * before a grammar compiler spends seconds (enum alternatives cost
 * quadratic time to compile) on the event loop.
 */
export const schemaLimits = { enumValues: 1000, properties: 5000 };

function schemaProblem(root: Record<string, unknown>): string | null {
  const schemas: unknown[] = [root];
  const underId: boolean[] = [false];
  const refs: string[] = [];
  let enumValues = 0;
  let properties = 0;
  while (schemas.length > 0) {
    const node = schemas.pop();
    const scoped = (underId.pop() ?? false) || (isObject(node) && node !== root && node.$id !== undefined);
    if (!isObject(node)) continue;
    if (Array.isArray(node.enum)) enumValues += node.enum.length;
    if (isObject(node.properties)) properties += Object.keys(node.properties).length;
    if (enumValues > schemaLimits.enumValues) return `more than ${schemaLimits.enumValues} enum values in all`;
    if (properties > schemaLimits.properties) return `more than ${schemaLimits.properties} properties in all`;
    if (!scoped && typeof node.$ref === "string" && node.$ref.startsWith("#/")) refs.push(node.$ref);
    const patterns = [...(typeof node.pattern === "string" ? [node.pattern] : []), ...(isObject(node.patternProperties) ? Object.keys(node.patternProperties) : [])];
    const bad = patterns.find(badPattern);
    if (bad !== undefined) return `invalid pattern ${JSON.stringify(bad.slice(0, 200))}`;
    if (node.$defs !== undefined) {
      if (!isObject(node.$defs)) return "$defs must be an object";
      for (const [name, def] of Object.entries(node.$defs)) {
        const problem = metaProblem(def);
        if (problem !== null) return `$defs/${name.slice(0, 100)}: ${problem}`;
      }
    }
    const push = (sub: unknown): void => {
      schemas.push(sub);
      underId.push(scoped);
    };
    for (const [key, value] of Object.entries(node)) {
      if (schemaKeywords.has(key) && isObject(value)) push(value);
      // One at a time: spreading a list of 200,000 schemas would overflow the stack.
      if (schemaListKeywords.has(key) && Array.isArray(value)) for (const sub of value as unknown[]) push(sub);
      if (schemaMapKeywords.has(key) && isObject(value)) for (const sub of Object.values(value)) push(sub);
    }
  }
  const dangling = refs.find((ref) => resolvePointer(root, ref.slice(1)) === undefined);
  return dangling === undefined ? null : `can't resolve reference ${JSON.stringify(dangling.slice(0, 200))}`;
}

/** Throws a 400 naming `param` when `schema` is not a valid JSON Schema. */
export function assertValidJsonSchema(schema: unknown, param: string, what: string): void {
  const problem = metaProblem(schema) ?? (isObject(schema) ? schemaProblem(schema) : null);
  if (problem !== null) throw invalidRequest(`Invalid JSON Schema for ${what}: ${problem}`, param, "invalid_json_schema");
}
