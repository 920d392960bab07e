/**
 * A schema with its applicators taken apart: no `$ref`, `allOf`, `anyOf`,
 * `oneOf`, `if`, only the assertions of one alternative, their values
 * merged across the schemas that were combined. Subschemas (of properties,
 * items, …) stay as schema nodes, compiled when the grammar reaches them.
 * `mergeFlat` is the conjunction of two flat schemas (null: nothing
 * satisfies both).
 */
import { isObject } from "./schema-document.js";
import { SchemaRefusal } from "./schema-refusal.js";

export type JsonType = "null" | "boolean" | "object" | "array" | "string" | "number" | "integer";
export const allTypes: readonly JsonType[] = ["null", "boolean", "object", "array", "string", "number"];

/** A schema node (a schema object or boolean), or a conjunction made while merging. */
export type SchemaNode = unknown;

export interface FlatSchema {
  /** Where the schema came from, for refusals. */
  pointer: string;
  types: ReadonlySet<JsonType> | null;
  /** `enum` and `const` together, as canonical JSON texts with their values. */
  values: ReadonlyMap<string, unknown> | null;
  minimum: number | null;
  exclusiveMinimum: number | null;
  maximum: number | null;
  exclusiveMaximum: number | null;
  multipleOf: readonly number[];
  minLength: number;
  maxLength: number | null;
  patterns: readonly string[];
  /** Strings a `not` of string values excludes. */
  excludedStrings: readonly string[];
  formats: readonly string[];
  prefixItems: readonly SchemaNode[] | null;
  /** Items after the prefix; null: not constrained. */
  items: SchemaNode | null;
  unevaluatedItems: SchemaNode | null;
  minItems: number;
  maxItems: number | null;
  contains: readonly SchemaNode[];
  minContains: number | null;
  maxContains: number | null;
  uniqueItems: boolean;
  properties: ReadonlyMap<string, SchemaNode>;
  required: ReadonlySet<string>;
  /** Keys that must not appear. */
  forbidden: ReadonlySet<string>;
  additionalProperties: SchemaNode | null;
  unevaluatedProperties: SchemaNode | null;
  patternProperties: ReadonlyMap<string, SchemaNode>;
  propertyNames: readonly SchemaNode[];
  minProperties: number;
  maxProperties: number | null;
  dependentRequired: ReadonlyMap<string, readonly string[]>;
  dependentSchemas: ReadonlyMap<string, SchemaNode>;
}

export const unconstrained: FlatSchema = {
  pointer: "",
  types: null,
  values: null,
  minimum: null,
  exclusiveMinimum: null,
  maximum: null,
  exclusiveMaximum: null,
  multipleOf: [],
  minLength: 0,
  maxLength: null,
  patterns: [],
  excludedStrings: [],
  formats: [],
  prefixItems: null,
  items: null,
  unevaluatedItems: null,
  minItems: 0,
  maxItems: null,
  contains: [],
  minContains: null,
  maxContains: null,
  uniqueItems: false,
  properties: new Map(),
  required: new Set(),
  forbidden: new Set(),
  additionalProperties: null,
  unevaluatedProperties: null,
  patternProperties: new Map(),
  propertyNames: [],
  minProperties: 0,
  maxProperties: null,
  dependentRequired: new Map(),
  dependentSchemas: new Map(),
};

/** JSON text with object keys sorted: equal values, equal texts. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (isObject(value)) {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const count = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? Math.floor(v) : null);

/**
 * Conjunctions of schema nodes made while merging, one object per distinct
 * list of members, so that merging the same schemas again (recursion) finds
 * the same node and the same grammar rule.
 */
export class Conjunctions {
  private readonly ids = new WeakMap<object, number>();
  private readonly made = new Map<string, { allOf: SchemaNode[] }>();
  private readonly madeNodes = new WeakSet<object>();
  private next = 1;

  private idOf(node: object): number {
    let id = this.ids.get(node);
    if (id === undefined) {
      id = this.next++;
      this.ids.set(node, id);
    }
    return id;
  }

  private members(node: object): object[] {
    return this.madeNodes.has(node) ? ((node as { allOf: object[] }).allOf) : [node];
  }

  /** The conjunction of two nodes (null: no constraint from that side). */
  of(a: SchemaNode | null, b: SchemaNode | null): SchemaNode | null {
    if (a === null || a === true) return b;
    if (b === null || b === true) return a;
    if (a === false || b === false) return false;
    if (typeof a !== "object" || typeof b !== "object") return a;
    const members = new Map<number, object>();
    for (const m of [...this.members(a), ...this.members(b)]) members.set(this.idOf(m), m);
    const sorted = [...members.entries()].sort(([x], [y]) => x - y);
    if (sorted.length === 1) return sorted[0]?.[1] ?? null;
    const key = sorted.map(([id]) => id).join(",");
    let node = this.made.get(key);
    if (node === undefined) {
      node = { allOf: sorted.map(([, m]) => m) };
      this.made.set(key, node);
      this.madeNodes.add(node);
    }
    return node;
  }
}

function typeSet(value: unknown): Set<JsonType> | null {
  const list = typeof value === "string" ? [value] : Array.isArray(value) ? value : null;
  if (list === null) return null;
  const known = new Set<JsonType>(["null", "boolean", "object", "array", "string", "number", "integer"]);
  return new Set(list.filter((t): t is JsonType => typeof t === "string" && known.has(t as JsonType)));
}

/** The assertions of one schema object itself (its applicators are the compiler's business). */
export function ownFlat(node: Record<string, unknown>, pointer: string): FlatSchema {
  const flat: { -readonly [K in keyof FlatSchema]: FlatSchema[K] } = { ...unconstrained, pointer };
  flat.types = typeSet(node.type);
  const values: unknown[] | null = "const" in node ? [node.const] : Array.isArray(node.enum) ? node.enum : null;
  if (values !== null) {
    const map = new Map(values.map((v) => [canonicalJson(v), v]));
    if ("const" in node && Array.isArray(node.enum)) {
      const allowed = new Set((node.enum as unknown[]).map(canonicalJson));
      for (const key of [...map.keys()]) if (!allowed.has(key)) map.delete(key);
    }
    flat.values = map;
  }
  // Numeric bounds; draft-04's boolean exclusiveMinimum/Maximum turn the bound exclusive.
  const minimum = num(node.minimum);
  const maximum = num(node.maximum);
  if (node.exclusiveMinimum === true) flat.exclusiveMinimum = minimum;
  else {
    flat.minimum = minimum;
    flat.exclusiveMinimum = num(node.exclusiveMinimum);
  }
  if (node.exclusiveMaximum === true) flat.exclusiveMaximum = maximum;
  else {
    flat.maximum = maximum;
    flat.exclusiveMaximum = num(node.exclusiveMaximum);
  }
  const multipleOf = num(node.multipleOf);
  if (multipleOf !== null && multipleOf > 0) flat.multipleOf = [multipleOf];
  flat.minLength = count(node.minLength) ?? 0;
  flat.maxLength = count(node.maxLength);
  if (typeof node.pattern === "string") flat.patterns = [node.pattern];
  if (typeof node.format === "string") flat.formats = [node.format];
  // Arrays: `items` as a list is a tuple (drafts before 2020-12), then `additionalItems`.
  if (Array.isArray(node.items)) {
    flat.prefixItems = node.items;
    flat.items = node.additionalItems ?? null;
  } else {
    if (Array.isArray(node.prefixItems)) flat.prefixItems = node.prefixItems;
    flat.items = node.items ?? null;
  }
  flat.unevaluatedItems = node.unevaluatedItems ?? null;
  flat.minItems = count(node.minItems) ?? 0;
  flat.maxItems = count(node.maxItems);
  if (node.contains !== undefined) flat.contains = [node.contains];
  flat.minContains = count(node.minContains);
  flat.maxContains = count(node.maxContains);
  flat.uniqueItems = node.uniqueItems === true;
  // Objects.
  if (isObject(node.properties)) flat.properties = new Map(Object.entries(node.properties));
  if (Array.isArray(node.required)) flat.required = new Set(node.required.filter((k): k is string => typeof k === "string"));
  flat.additionalProperties = node.additionalProperties ?? null;
  flat.unevaluatedProperties = node.unevaluatedProperties ?? null;
  if (isObject(node.patternProperties)) flat.patternProperties = new Map(Object.entries(node.patternProperties));
  if (node.propertyNames !== undefined) flat.propertyNames = [node.propertyNames];
  flat.minProperties = count(node.minProperties) ?? 0;
  flat.maxProperties = count(node.maxProperties);
  const dependentRequired = new Map<string, string[]>();
  const dependentSchemas = new Map<string, SchemaNode>();
  for (const source of [node.dependencies, node.dependentRequired, node.dependentSchemas]) {
    if (!isObject(source)) continue;
    for (const [key, value] of Object.entries(source)) {
      if (Array.isArray(value)) dependentRequired.set(key, value.filter((k): k is string => typeof k === "string"));
      else dependentSchemas.set(key, value);
    }
  }
  flat.dependentRequired = dependentRequired;
  flat.dependentSchemas = dependentSchemas;
  return flat;
}

function intersectTypes(a: ReadonlySet<JsonType> | null, b: ReadonlySet<JsonType> | null): Set<JsonType> | null {
  if (a === null) return b === null ? null : new Set(b);
  if (b === null) return new Set(a);
  const out = new Set<JsonType>();
  for (const t of a) {
    if (b.has(t)) out.add(t);
    else if (t === "integer" && b.has("number")) out.add("integer");
    else if (t === "number" && b.has("integer")) out.add("integer");
  }
  return out;
}

const maxOf = (a: number | null, b: number | null): number | null => (a === null ? b : b === null ? a : Math.max(a, b));
const minOf = (a: number | null, b: number | null): number | null => (a === null ? b : b === null ? a : Math.min(a, b));
const union = <T>(a: readonly T[], b: readonly T[]): T[] => [...new Set([...a, ...b])];

/** Does a JS RegExp of the pattern match `text`? (The compiler's own test of names against patterns; refuses a pattern JS cannot compile.) */
export function patternMatches(pattern: string, text: string, pointer: string): boolean {
  try {
    return new RegExp(pattern, "u").test(text);
  } catch {
    throw new SchemaRefusal("pattern", pointer, `the pattern ${JSON.stringify(pattern.slice(0, 100))} is not a valid regular expression`);
  }
}

function coveredBy(flat: FlatSchema, key: string): boolean {
  return flat.properties.has(key) || [...flat.patternProperties.keys()].some((p) => patternMatches(p, key, flat.pointer));
}

/** The conjunction of two flat schemas; null when nothing can satisfy both. */
export function mergeFlat(a: FlatSchema, b: FlatSchema, conjunctions: Conjunctions): FlatSchema | null {
  const types = intersectTypes(a.types, b.types);
  if (types !== null && types.size === 0) return null;
  let values: Map<string, unknown> | null = null;
  if (a.values !== null || b.values !== null) {
    values = new Map(a.values ?? b.values ?? []);
    const other = a.values === null ? null : b.values;
    if (other !== null) for (const key of [...values.keys()]) if (!other.has(key)) values.delete(key);
    if (values.size === 0) return null;
  }
  // Properties: a key one side does not declare meets that side's additionalProperties.
  const properties = new Map<string, SchemaNode>();
  const forbidden = new Set([...a.forbidden, ...b.forbidden]);
  const sides: Array<[FlatSchema, FlatSchema]> = [[a, b], [b, a]];
  for (const [side, other] of sides) {
    for (const [key, schema] of side.properties) {
      let merged: SchemaNode | null = conjunctions.of(properties.get(key) ?? null, schema);
      if (!coveredBy(other, key) && other.additionalProperties !== null) {
        if (other.additionalProperties === false) forbidden.add(key);
        else merged = conjunctions.of(merged, other.additionalProperties);
      }
      properties.set(key, merged ?? true);
    }
  }
  const required = new Set([...a.required, ...b.required]);
  for (const key of forbidden) {
    if (required.has(key)) return null;
    properties.delete(key);
  }
  const patternProperties = new Map(a.patternProperties);
  for (const [p, schema] of b.patternProperties) patternProperties.set(p, conjunctions.of(patternProperties.get(p) ?? null, schema) ?? true);
  const prefixLength = Math.max(a.prefixItems?.length ?? 0, b.prefixItems?.length ?? 0);
  const prefixItems =
    a.prefixItems === null && b.prefixItems === null
      ? null
      : Array.from({ length: prefixLength }, (_, i) => conjunctions.of(a.prefixItems?.[i] ?? a.items, b.prefixItems?.[i] ?? b.items) ?? true);
  const dependentRequired = new Map(a.dependentRequired);
  for (const [key, deps] of b.dependentRequired) dependentRequired.set(key, union(dependentRequired.get(key) ?? [], deps));
  const dependentSchemas = new Map(a.dependentSchemas);
  for (const [key, schema] of b.dependentSchemas) dependentSchemas.set(key, conjunctions.of(dependentSchemas.get(key) ?? null, schema) ?? true);
  return {
    pointer: a.pointer,
    types,
    values,
    minimum: maxOf(a.minimum, b.minimum),
    exclusiveMinimum: maxOf(a.exclusiveMinimum, b.exclusiveMinimum),
    maximum: minOf(a.maximum, b.maximum),
    exclusiveMaximum: minOf(a.exclusiveMaximum, b.exclusiveMaximum),
    multipleOf: union(a.multipleOf, b.multipleOf),
    minLength: Math.max(a.minLength, b.minLength),
    maxLength: minOf(a.maxLength, b.maxLength),
    patterns: union(a.patterns, b.patterns),
    excludedStrings: union(a.excludedStrings, b.excludedStrings),
    formats: union(a.formats, b.formats),
    prefixItems,
    items: conjunctions.of(a.items, b.items),
    unevaluatedItems: conjunctions.of(a.unevaluatedItems, b.unevaluatedItems),
    minItems: Math.max(a.minItems, b.minItems),
    maxItems: minOf(a.maxItems, b.maxItems),
    contains: union(a.contains, b.contains),
    minContains: maxOf(a.minContains, b.minContains),
    maxContains: minOf(a.maxContains, b.maxContains),
    uniqueItems: a.uniqueItems || b.uniqueItems,
    properties,
    required,
    forbidden,
    additionalProperties: conjunctions.of(a.additionalProperties, b.additionalProperties),
    unevaluatedProperties: conjunctions.of(a.unevaluatedProperties, b.unevaluatedProperties),
    patternProperties,
    propertyNames: union(a.propertyNames, b.propertyNames),
    minProperties: Math.max(a.minProperties, b.minProperties),
    maxProperties: minOf(a.maxProperties, b.maxProperties),
    dependentRequired,
    dependentSchemas,
  };
}

/** The JSON type of a value (`integer` for whole numbers). */
export function jsonTypeOf(value: unknown): JsonType {
  if (value === null) return "null";
  if (typeof value === "boolean") return "boolean";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  if (typeof value === "string") return "string";
  return Array.isArray(value) ? "array" : "object";
}
