/**
 * JSON Schema → GBNF: a grammar whose every output validates against the
 * schema (drafts 04, 06, 07, 2019-09 and 2020-12).
 *
 * Each schema node becomes one rule. `$ref`, `allOf`, `anyOf`, `oneOf` and
 * `if` are taken apart into alternatives of flat schemas (flat-schema.ts):
 * an `allOf` is merged into one, an `anyOf` distributes over the rest. The
 * grammar may be narrower than the schema — never wider: optional
 * properties not declared are not written, a `uniqueItems` array of at most
 * one item is unique, `if`/`then` is written as both, repetitions beyond
 * 1,000 are capped, a number between a fractional bound and the next integer
 * is not written — but when a keyword of the vocabulary cannot be enforced
 * (`not` beyond types, required keys and values; `multipleOf` on fractions;
 * `uniqueItems` on longer arrays; `maxContains`; a `pattern` with
 * lookaround; a `oneOf` whose alternatives may overlap) the schema is refused
 * with a SchemaRefusal naming the keyword and its JSON Pointer. Annotations
 * and unknown keys (`title`, `x-*`, `example`, draft-04 `id`, …) are
 * ignored, as the specification says.
 *
 * Several documents (a tool call's schemas) can be compiled into one grammar:
 * `add` returns the rule of each; `grammar` the rules of all.
 */
import { finiteNumberGbnf } from "../json-numbers.js";
import { literal, repeat } from "./gbnf-text.js";
import { jsonCharGbnf, patternStringGbnf, plainStringGbnf, repetitionCap, stringExceptGbnf } from "./json-string.js";
import { allTypes, canonicalJson, Conjunctions, jsonTypeOf, mergeFlat, ownFlat, patternMatches, unconstrained, type FlatSchema, type JsonType, type SchemaNode } from "./flat-schema.js";
import { integerInRange, numberInRange, type NumericBounds } from "./numeric-range.js";
import { UnsupportedPattern } from "./regex-pattern.js";
import { isObject, SchemaDocument, SchemaPlacements } from "./schema-document.js";
import { SchemaRefusal } from "./schema-refusal.js";
import { numberFormats, patternsWithFormat, stringFormatLengths, stringFormats } from "./string-formats.js";

/** How big a grammar may get before its schema is refused: past these, compiling and decoding get slow. */
export interface GrammarLimits {
  /** Rules in the grammar text. */
  maxRules: number;
  /** Characters of grammar text. */
  maxGrammarChars: number;
  /** Rules llama.cpp makes when it expands `x{m,n}` repetitions (about n each). */
  maxExpandedRepetitions: number;
  /** Alternatives one schema may be taken apart into (products of anyOf/oneOf). */
  maxAlternatives: number;
}

export const defaultGrammarLimits: GrammarLimits = {
  maxRules: 20_000,
  maxGrammarChars: 2_000_000,
  maxExpandedRepetitions: 200_000,
  maxAlternatives: 128,
};

/** A rule body that matches nothing: the rule of a schema nothing satisfies. */
const nothing = "[^\\x00-\\U0010FFFF]";

/** A schema (or the part of one) that no value can satisfy. */
export class UnsatisfiableSchema extends SchemaRefusal {
  constructor(pointer: string) {
    super("type", pointer, "this schema can never be satisfied (its keywords contradict each other)");
  }
}

/** Rules every grammar may use: whitespace (bounded) and any JSON value with finite numbers. */
const commonRules: Readonly<Record<string, string>> = {
  ws: '| " " | "\\n" [ \\t]{0,20}',
  "json-value": 'json-object | json-array | json-string | json-number | "true" | "false" | "null"',
  "json-object": '"{" ws ( json-string ws ":" ws json-value ("," ws json-string ws ":" ws json-value)* )? ws "}"',
  "json-array": '"[" ws ( json-value ("," ws json-value)* )? ws "]"',
  "json-string": '"\\"" json-char* "\\""',
  "json-char": jsonCharGbnf,
  "json-number": finiteNumberGbnf,
};

function typeAccepts(types: ReadonlySet<JsonType> | null, t: JsonType): boolean {
  if (types === null || types.has(t)) return true;
  return (t === "integer" && types.has("number")) || (t === "number" && types.has("integer"));
}

/** A flat schema every value satisfies. */
function isUnconstrained(flat: FlatSchema): boolean {
  return (Object.keys(unconstrained) as Array<keyof FlatSchema>).every((key) => {
    if (key === "pointer") return true;
    const a = flat[key];
    const b = unconstrained[key];
    if (a instanceof Map || a instanceof Set) return a.size === 0;
    if (Array.isArray(a)) return a.length === 0;
    return a === b;
  });
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/** A positive decimal number as numerator/denominator in lowest terms (at most 12 fraction digits), or null. */
export function decimalFraction(value: number): { numerator: number; denominator: number } | null {
  if (!(value > 0) || !Number.isFinite(value)) return null;
  for (let digits = 0; digits <= 12; digits++) {
    const scale = 10 ** digits;
    const numerator = Math.round(value * scale);
    if (numerator === 0 || numerator > 2 ** 31) continue;
    if (numerator / scale !== value) continue;
    const divisor = gcd(numerator, scale);
    return { numerator: numerator / divisor, denominator: scale / divisor };
  }
  return null;
}

export class JsonSchemaGrammar {
  private readonly rules = new Map<string, string>();
  private readonly nodeRules = new Map<object, string>();
  private readonly flatCache = new Map<object, FlatSchema[]>();
  private readonly flattening = new Set<object>();
  private readonly placements = new SchemaPlacements();
  private readonly conjunctions = new Conjunctions();
  private nextRule = 1;

  constructor(private readonly limits: GrammarLimits = defaultGrammarLimits) {}

  /** Compiles one schema document; returns the name of the rule of its value. Throws SchemaRefusal. */
  add(schema: unknown): string {
    if (typeof schema !== "boolean" && !isObject(schema)) throw new SchemaRefusal("type", "", "a schema must be an object or a boolean");
    new SchemaDocument(schema, this.placements);
    const rule = this.ruleFor(schema);
    this.checkSize();
    return rule;
  }

  /** Defines the whitespace rule `ws` (for rules written around the compiled ones). */
  useWhitespace(): string {
    return this.common("ws");
  }

  /** The rules of every document added so far. */
  grammar(): string {
    return [...this.rules].map(([name, body]) => `${name} ::= ${body}`).join("\n");
  }

  private checkSize(): void {
    const text = this.grammar();
    let expanded = 0;
    for (const m of text.matchAll(/\{(\d+)(?:,(\d*))?\}/g)) expanded += Math.max(Number(m[1]), m[2] === undefined || m[2] === "" ? 1 : Number(m[2]));
    const size = `${this.rules.size} rules, ${text.length} characters, ${expanded} expanded repetitions`;
    if (this.rules.size > this.limits.maxRules || text.length > this.limits.maxGrammarChars || expanded > this.limits.maxExpandedRepetitions) {
      throw new SchemaRefusal("$schema", "", `the grammar for this schema would be too large to decode at speed (${size})`);
    }
  }

  private common(name: string): string {
    if (!this.rules.has(name)) {
      const body = commonRules[name] ?? "";
      this.rules.set(name, body);
      for (const dependency of body.match(/\b(ws|json-[a-z]+)\b/g) ?? []) this.common(dependency);
    }
    return name;
  }

  private readonly hoisted = new Map<string, string>();
  /** A rule for a repeated group (one per distinct body). */
  private readonly hoist = (expr: string): string => {
    let name = this.hoisted.get(expr);
    if (name === undefined) {
      name = this.define("rep", expr);
      this.hoisted.set(expr, name);
    }
    return name;
  };

  private newRule(hint: string): string {
    const clean = hint.replace(/[^a-zA-Z0-9]+/g, "-").replace(/^-|-$/g, "").slice(-24).toLowerCase();
    return `s${this.nextRule++}${clean === "" ? "" : `-${clean}`}`;
  }

  private define(hint: string, body: string): string {
    const name = this.newRule(hint);
    this.rules.set(name, body);
    return name;
  }

  private pointerOf(node: SchemaNode): string {
    if (!isObject(node)) return "";
    const placed = this.placements.get(node);
    if (placed !== undefined) return placed.pointer;
    const first = Array.isArray(node.allOf) ? (node.allOf[0] as SchemaNode) : undefined;
    return first === undefined ? "" : this.pointerOf(first);
  }

  /** The rule of a schema node; refuses a node nothing can satisfy. */
  private ruleFor(node: SchemaNode): string {
    if (node === true) return this.common("json-value");
    const pointer = this.pointerOf(node);
    if (node === false) throw new SchemaRefusal("false", pointer, "the schema 'false' can never be satisfied");
    if (!isObject(node)) throw new SchemaRefusal("type", pointer, "expected a schema object or boolean");
    const known = this.nodeRules.get(node);
    if (known !== undefined) return known;
    const name = this.newRule(pointer.split("/").slice(-2).join("-"));
    this.nodeRules.set(node, name);
    // Until its body is known the rule matches nothing, so a refusal below (caught for an optional property) leaves a grammar that parses.
    this.rules.set(name, nothing);
    const bodies = this.flatten(node).map((flat) => this.flatBody(flat)).filter((b): b is string => b !== null);
    if (bodies.length === 0) throw new UnsatisfiableSchema(pointer);
    this.rules.set(name, [...new Set(bodies)].join(" | "));
    return name;
  }

  // ---- applicators: schema node → alternatives of flat schemas ----

  private product(a: FlatSchema[], b: FlatSchema[], keyword: string, pointer: string): FlatSchema[] {
    if (a.length * b.length > this.limits.maxAlternatives) {
      throw new SchemaRefusal(keyword, pointer, `the schema combines into more than ${this.limits.maxAlternatives} alternatives`);
    }
    const out: FlatSchema[] = [];
    for (const x of a) for (const y of b) {
      const merged = mergeFlat(x, y, this.conjunctions);
      if (merged !== null) out.push(merged);
    }
    return out;
  }

  private flatten(node: SchemaNode): FlatSchema[] {
    if (node === true) return [unconstrained];
    if (node === false) return [];
    if (!isObject(node)) throw new SchemaRefusal("type", "", "expected a schema object or boolean");
    const cached = this.flatCache.get(node);
    if (cached !== undefined) return cached;
    const pointer = this.pointerOf(node);
    if (this.flattening.has(node)) throw new SchemaRefusal("$ref", pointer, "the schema refers to itself without nesting (an endless $ref/allOf cycle)");
    this.flattening.add(node);
    try {
      const result = this.flattenApplicators(node, pointer);
      this.flatCache.set(node, result);
      return result;
    } finally {
      this.flattening.delete(node);
    }
  }

  private flattenApplicators(node: Record<string, unknown>, pointer: string): FlatSchema[] {
    let result = [ownFlat(node, pointer)];
    const document = this.placements.get(node)?.document;
    for (const key of ["$ref", "$recursiveRef", "$dynamicRef"]) {
      const ref = node[key];
      if (typeof ref !== "string" || document === undefined) continue;
      result = this.product(result, this.flatten(document.resolve(ref, node)), key, pointer);
    }
    if (Array.isArray(node.allOf)) for (const sub of node.allOf as SchemaNode[]) result = this.product(result, this.flatten(sub), "allOf", `${pointer}/allOf`);
    if (Array.isArray(node.anyOf)) result = this.product(result, (node.anyOf as SchemaNode[]).flatMap((sub) => this.flatten(sub)), "anyOf", `${pointer}/anyOf`);
    if (node.if !== undefined && (node.then !== undefined || node.else !== undefined)) {
      // Written as `if` and `then` together: valid whichever branch the validator takes.
      const taken = this.product(this.flatten(node.if), this.flatten(node.then ?? true), "if", `${pointer}/if`);
      if (taken.length === 0) throw new SchemaRefusal("if", `${pointer}/if`, "an 'if' whose 'then' branch can never hold (only the 'then' branch is generated)");
      result = this.product(result, taken, "if", `${pointer}/if`);
    }
    if (node.not !== undefined) result = result.flatMap((flat) => this.withNot(flat, node.not, `${pointer}/not`));
    result = result.flatMap((flat) => this.withDependentSchemas(flat, pointer));
    // Last: whether an alternative's outputs can match another depends on everything merged into it.
    if (Array.isArray(node.oneOf)) result = this.exclusiveAlternatives(result, node.oneOf as SchemaNode[], `${pointer}/oneOf`);
    return result;
  }

  /**
   * A oneOf alternative always writes its properties that only take given
   * values (`kind: {const: "circle"}`): what tells it apart from the others.
   */
  private withDiscriminators(flat: FlatSchema): FlatSchema {
    const discriminators = [...flat.properties].filter(([key, schema]) => !flat.required.has(key) && !flat.forbidden.has(key) && schema !== true && this.flatten(schema).every((f) => f.values !== null));
    if (discriminators.length === 0) return flat;
    const hasDependencies = discriminators.some(([key]) => flat.dependentRequired.has(key) || flat.dependentSchemas.has(key));
    return hasDependencies ? flat : { ...flat, required: new Set([...flat.required, ...discriminators.map(([key]) => key)]) };
  }

  /**
   * For each other alternative it could match, an object alternative leaves
   * out one key that the other requires and it does not (`oneOf` of
   * `required` lists: the circle writes no `width`).
   */
  private withoutOthersKeys(flat: FlatSchema, others: FlatSchema[]): FlatSchema {
    let narrowed = flat;
    for (const other of others) {
      if (this.neverMatches(narrowed, other)) continue;
      const key = [...other.required].find((k) => !narrowed.required.has(k));
      if (key === undefined) continue;
      const properties = new Map(narrowed.properties);
      properties.delete(key);
      narrowed = { ...narrowed, properties, forbidden: new Set([...narrowed.forbidden, key]) };
    }
    return narrowed;
  }

  /**
   * The dependencies of a required key apply always: its dependentRequired
   * keys become required, its dependentSchemas are merged in. (An optional
   * key with dependencies is not written unless they already hold.)
   */
  private withDependentSchemas(given: FlatSchema, pointer: string): FlatSchema[] {
    const required = new Set(given.required);
    for (let grew = true; grew; ) {
      grew = false;
      for (const [key, deps] of given.dependentRequired) {
        if (!required.has(key)) continue;
        for (const dep of deps) if (!required.has(dep)) grew = required.add(dep) !== null;
      }
    }
    if ([...required].some((key) => given.forbidden.has(key))) return [];
    const flat = required.size === given.required.size ? given : { ...given, required };
    let alternatives = [flat];
    for (const [key, schema] of flat.dependentSchemas) {
      if (flat.required.has(key)) alternatives = this.product(alternatives, this.flatten(schema), "dependentSchemas", `${pointer}/dependentSchemas`);
    }
    return alternatives;
  }

  /** `not`, where it can be enforced: types, required keys, values; or a `not` no output can meet. */
  private withNot(flat: FlatSchema, not: unknown, pointer: string): FlatSchema[] {
    const negated = this.flatten(not);
    if (negated.some(isUnconstrained)) return [];
    if (negated.every((n) => this.neverMatches(flat, n))) return [flat];
    if (isObject(not)) {
      const keys = Object.keys(not).filter((k) => !["title", "description", "$comment"].includes(k));
      if (keys.length === 1 && keys[0] === "type") {
        const excluded = new Set(typeof not.type === "string" ? [not.type] : Array.isArray(not.type) ? (not.type as string[]) : []);
        const types = [...this.generatedTypes(flat)].filter((t) => !excluded.has(t) && !(t === "integer" && excluded.has("number")));
        if (types.includes("number") && excluded.has("integer")) throw new SchemaRefusal("not", pointer, "'not' an integer among numbers cannot be enforced");
        return types.length === 0 ? [] : [{ ...flat, types: new Set(types) }];
      }
      if (keys.length === 1 && keys[0] === "required" && Array.isArray(not.required)) {
        const free = (not.required as string[]).find((k) => !flat.required.has(k));
        return free === undefined ? [] : [{ ...flat, forbidden: new Set([...flat.forbidden, free]) }];
      }
      if (keys.length === 1 && keys[0] === "anyOf" && Array.isArray(not.anyOf) && (not.anyOf as unknown[]).every((s) => isObject(s) && Object.keys(s).length === 1 && Array.isArray(s.required))) {
        const keysOut = (not.anyOf as Array<{ required: string[] }>).map((s) => s.required.find((k) => !flat.required.has(k)));
        if (keysOut.some((k) => k === undefined)) return [];
        return [{ ...flat, forbidden: new Set([...flat.forbidden, ...(keysOut as string[])]) }];
      }
      // `not` of string values beside a plain string: any string but those (other values are no strings here).
      const excluded = negated.length === 1 ? negated[0]?.values : null;
      const onlyValues = keys.every((k) => k === "enum" || k === "const" || (k === "type" && not.type === "string"));
      if (flat.values === null && excluded != null && onlyValues && this.isPlainString(flat)) {
        const strings = [...excluded.values()].filter((v): v is string => typeof v === "string");
        return [{ ...flat, excludedStrings: [...flat.excludedStrings, ...strings] }];
      }
      if (flat.values !== null && negated.length === 1 && negated[0]?.values !== null) {
        const values = new Map([...flat.values].filter(([key]) => !negated[0]?.values?.has(key)));
        return values.size === 0 ? [] : [{ ...flat, values }];
      }
    }
    throw new SchemaRefusal("not", pointer, "this 'not' cannot be enforced by a grammar");
  }

  /** Only strings, with no other string assertion (length, pattern, format). */
  private isPlainString(flat: FlatSchema): boolean {
    const types = this.generatedTypes(flat);
    return types.size === 1 && types.has("string") && flat.minLength === 0 && flat.maxLength === null && flat.patterns.length === 0 && flat.formats.length === 0;
  }

  // ---- what a flat schema generates, and what it can never match ----

  /** The JSON types a flat schema's grammar writes: its `type`, else those its keywords imply, else all. */
  private generatedTypes(flat: FlatSchema): Set<JsonType> {
    if (flat.values !== null) return new Set([...flat.values.values()].map(jsonTypeOf));
    if (flat.types !== null) return new Set(flat.types);
    const implied = new Set<JsonType>();
    if (flat.properties.size > 0 || flat.required.size > 0 || flat.additionalProperties !== null || flat.patternProperties.size > 0 || flat.propertyNames.length > 0 || flat.minProperties > 0 || flat.maxProperties !== null) implied.add("object");
    if (flat.prefixItems !== null || flat.items !== null || flat.contains.length > 0 || flat.minItems > 0 || flat.maxItems !== null || flat.uniqueItems) implied.add("array");
    if (flat.minLength > 0 || flat.maxLength !== null || flat.patterns.length > 0 || flat.formats.some((f) => f in stringFormats)) implied.add("string");
    if (flat.minimum !== null || flat.maximum !== null || flat.exclusiveMinimum !== null || flat.exclusiveMaximum !== null || flat.multipleOf.length > 0 || flat.formats.some((f) => f in numberFormats)) implied.add("number");
    return implied.size > 0 ? implied : new Set(allTypes);
  }

  /** A primitive assertion of `flat` that `value` certainly fails (false: it may pass). */
  private definitelyFails(value: unknown, flat: FlatSchema): boolean {
    const type = jsonTypeOf(value);
    if (flat.types !== null && !flat.types.has(type) && !(type === "integer" && flat.types.has("number"))) return true;
    if (flat.values !== null && !flat.values.has(canonicalJson(value))) return true;
    if (typeof value === "number") {
      if (flat.minimum !== null && value < flat.minimum) return true;
      if (flat.exclusiveMinimum !== null && value <= flat.exclusiveMinimum) return true;
      if (flat.maximum !== null && value > flat.maximum) return true;
      if (flat.exclusiveMaximum !== null && value >= flat.exclusiveMaximum) return true;
      if (flat.multipleOf.some((m) => !Number.isInteger(value / m))) return true;
    }
    if (typeof value === "string") {
      if (flat.excludedStrings.includes(value)) return true;
      const length = [...value].length;
      if (length < flat.minLength || (flat.maxLength !== null && length > flat.maxLength)) return true;
      if (!flat.patterns.every((p) => patternMatches(p, value, flat.pointer))) return true;
    }
    return false;
  }

  /** Whether nothing the grammar of `x` writes can satisfy `y` (false: it might). */
  private neverMatches(x: FlatSchema, y: FlatSchema): boolean {
    if (x.values !== null) return [...x.values.values()].every((v) => this.definitelyFails(v, y));
    const types = this.generatedTypes(x);
    if ([...types].every((t) => !typeAccepts(y.types, t))) return true;
    if (y.values !== null && [...types].every((t) => t === "null" || t === "boolean" || t === "object" || t === "array") && [...y.values.values()].every((v) => typeof v !== "object" || v === null)) {
      // y allows only some primitives; x writes containers (or null/boolean, checked by value)
      if ([...types].every((t) => t === "object" || t === "array")) return true;
    }
    if (types.size === 1 && types.has("object") && typeAccepts(y.types, "object")) {
      const written = this.writtenKeys(x);
      if (written !== null && [...y.required].some((k) => !written.has(k))) return true;
      if ([...y.forbidden].some((k) => x.required.has(k))) return true;
      for (const key of x.required) {
        const xs = x.properties.get(key);
        const ys = y.properties.get(key);
        if (xs === undefined || ys === undefined) continue;
        const xFlats = this.flatten(xs);
        const yFlats = this.flatten(ys);
        if (xFlats.every((xf) => yFlats.every((yf) => this.neverMatches(xf, yf)))) return true;
      }
    }
    return false;
  }

  /** The keys an object grammar of `flat` may write; null when it writes free keys. */
  private writtenKeys(flat: FlatSchema): Set<string> | null {
    const keys = new Set([...flat.properties.keys(), ...flat.required].filter((k) => !flat.forbidden.has(k)));
    return keys.size === 0 && flat.patternProperties.size <= 1 ? null : keys;
  }

  /**
   * `oneOf` holds when the output matches exactly one alternative: each
   * alternative is merged with the rest of the schema (what is really
   * written) and kept only if none of those outputs can match another
   * alternative as written (the others are left out — narrower, never
   * invalid); refused when none is kept.
   */
  private exclusiveAlternatives(rest: FlatSchema[], alternatives: SchemaNode[], pointer: string): FlatSchema[] {
    const written = alternatives.map((sub) => this.flatten(sub));
    const kept: FlatSchema[] = [];
    let satisfiable = false;
    written.forEach((branch, i) => {
      const merged = this.product(rest, branch, "oneOf", pointer)
        .flatMap((flat) => this.withDependentSchemas(flat, pointer))
        .map((flat) => this.withoutOthersKeys(this.withDiscriminators(flat), written.filter((_, j) => j !== i).flat()));
      if (merged.length === 0) return;
      satisfiable = true;
      if (merged.every((x) => written.every((other, j) => i === j || other.every((y) => this.neverMatches(x, y))))) kept.push(...merged);
    });
    if (kept.length === 0 && satisfiable) {
      throw new SchemaRefusal("oneOf", pointer, "every alternative has outputs that could also match another alternative, so 'exactly one' cannot be enforced");
    }
    return kept;
  }

  // ---- flat schema → grammar ----

  private flatBody(flat: FlatSchema): string | null {
    if (flat.values !== null) {
      const values = [...flat.values.values()].filter((v) => !this.definitelyFails(v, { ...flat, values: null }));
      if (flat.formats.some((f) => f in stringFormats) && values.some((v) => typeof v === "string")) {
        throw new SchemaRefusal("format", flat.pointer, "an enum of strings beside a format cannot be checked against the format");
      }
      const structured = flat.prefixItems !== null || flat.items !== null || flat.contains.length > 0 || flat.minItems > 0 || flat.maxItems !== null || flat.uniqueItems ||
        flat.properties.size > 0 || flat.required.size > 0 || flat.additionalProperties !== null || flat.patternProperties.size > 0 || flat.propertyNames.length > 0 ||
        flat.minProperties > 0 || flat.maxProperties !== null || flat.dependentRequired.size > 0 || flat.dependentSchemas.size > 0 || flat.forbidden.size > 0;
      if (structured && values.some((v) => typeof v === "object" && v !== null)) {
        throw new SchemaRefusal("enum", flat.pointer, "an enum of objects or arrays beside object or array keywords cannot be checked against them");
      }
      return values.length === 0 ? null : values.map((v) => literal(JSON.stringify(v))).join(" | ");
    }
    const alternatives: string[] = [];
    const types = this.generatedTypes(flat);
    for (const type of types) {
      if (type === "integer" && types.has("number")) continue;
      const body = this.typedBody(flat, type);
      if (body !== null) alternatives.push(body);
    }
    return alternatives.length === 0 ? null : alternatives.length === 1 ? (alternatives[0] ?? null) : `(${alternatives.join(" | ")})`;
  }

  private typedBody(flat: FlatSchema, type: JsonType): string | null {
    switch (type) {
      case "null":
        return '"null"';
      case "boolean":
        return '("true" | "false")';
      case "integer":
      case "number":
        return this.numberBody(flat, type === "integer");
      case "string":
        return this.stringBody(flat);
      case "array":
        return this.arrayBody(flat);
      case "object":
        return this.objectBody(flat);
    }
  }

  private numberBody(flat: FlatSchema, integerOnly: boolean): string | null {
    const bounds: NumericBounds = { minimum: flat.minimum, exclusiveMinimum: flat.exclusiveMinimum, maximum: flat.maximum, exclusiveMaximum: flat.exclusiveMaximum };
    let integer = integerOnly;
    for (const name of flat.formats) {
      const format = numberFormats[name];
      if (format === undefined) continue;
      integer ||= format.integer;
      if (format.minimum !== null) bounds.minimum = Math.max(bounds.minimum ?? -Infinity, format.minimum);
      if (format.maximum !== null) bounds.maximum = Math.min(bounds.maximum ?? Infinity, format.maximum);
    }
    // multipleOf: an integer multiple is written as digits whose remainder is 0. A decimal fraction p/q is
    // written as the integers that are multiples of p: every one of them is a multiple of p/q, also in
    // the binary floating point validators divide in (x / m rounds to the integer x·q/p while that is
    // below 2^53, so the digits are capped there); fractional multiples such as 0.07 of 0.01 are not
    // written, as 0.07 / 0.01 is 7.000000000000001 in floating point.
    let modulus = 1;
    let maxDigits = 16;
    for (const m of flat.multipleOf) {
      const fraction = Number.isInteger(m) ? { numerator: m, denominator: 1 } : decimalFraction(m);
      if (fraction === null) throw new SchemaRefusal("multipleOf", flat.pointer, `multipleOf ${m} is not a decimal fraction a grammar can enforce`);
      modulus = (modulus * fraction.numerator) / gcd(modulus, fraction.numerator);
      integer = true;
      if (fraction.denominator > 1) maxDigits = Math.min(maxDigits, Math.floor(Math.log10(2 ** 53 / fraction.denominator)));
    }
    if (maxDigits < 1) throw new SchemaRefusal("multipleOf", flat.pointer, "multipleOf with this many fraction digits cannot be enforced");
    if (maxDigits < 16) {
      const largest = 10 ** maxDigits - 1;
      bounds.maximum = Math.min(bounds.maximum ?? Infinity, largest);
      bounds.minimum = Math.max(bounds.minimum ?? -Infinity, -largest);
    }
    if (modulus > 1) return this.multipleBody(modulus, bounds, flat.pointer, maxDigits);
    return integer ? integerInRange(bounds) : numberInRange(bounds);
  }

  /** Integers divisible by `modulus`: a remainder automaton over the decimal digits. */
  private multipleBody(modulus: number, bounds: NumericBounds, pointer: string, maxDigits = 16): string | null {
    if (modulus > 250) throw new SchemaRefusal("multipleOf", pointer, `multipleOf ${modulus} is too large to enforce (at most 250)`);
    // A digit cap (maxDigits < 16) arrives as the bounds ±(10^maxDigits − 1): the automaton below holds it by its length.
    const cap = maxDigits < 16 ? 10 ** maxDigits - 1 : null;
    const maximum = bounds.maximum === cap ? null : bounds.maximum;
    // The lowest value allowed (exclusive bounds nudged up), -Infinity without a lower bound.
    const lowest = Math.max(bounds.minimum === (cap === null ? null : -cap) ? -Infinity : (bounds.minimum ?? -Infinity), bounds.exclusiveMinimum === null ? -Infinity : bounds.exclusiveMinimum + 1e-9);
    const negatives = lowest === -Infinity;
    const zero = lowest <= 0;
    if (maximum !== null || bounds.exclusiveMaximum !== null || (!negatives && lowest < 0) || lowest > modulus) {
      throw new SchemaRefusal("multipleOf", pointer, "multipleOf together with these bounds cannot be enforced (only a lower bound of at most one multiple is)");
    }
    // state(r, k): the digits after a prefix of remainder r, at most k more (16 digits in all, as every integer).
    const state = (r: number, k: number): string | null => {
      const name = `mul-m${modulus}-r${r}-k${k}`;
      if (this.rules.has(name)) return name;
      if (k === 0) return r === 0 ? '""' : null;
      const byTarget = new Map<number, number[]>();
      for (let d = 0; d <= 9; d++) byTarget.set((r * 10 + d) % modulus, [...(byTarget.get((r * 10 + d) % modulus) ?? []), d]);
      this.rules.set(name, "");
      const options = [...byTarget].flatMap(([target, ds]) => {
        const next = state(target, k - 1);
        return next === null ? [] : [next === '""' ? `[${ds.join("")}]` : `[${ds.join("")}] ${next}`];
      });
      if (r === 0) options.unshift('""');
      this.rules.set(name, options.join(" | "));
      return name;
    };
    const firstDigits = new Map<number, number[]>();
    for (let d = 1; d <= 9; d++) firstDigits.set(d % modulus, [...(firstDigits.get(d % modulus) ?? []), d]);
    const positive = [...firstDigits].map(([target, ds]) => `[${ds.join("")}] ${state(target, maxDigits - 1) ?? ""}`).join(" | ");
    return negatives ? `("0" | "-"? (${positive}))` : zero ? `("0" | ${positive})` : `(${positive})`;
  }

  private stringBody(flat: FlatSchema): string | null {
    const content = this.stringContent(flat);
    return content === null ? null : `"\\"" ${content} "\\""`;
  }

  /** The characters of a string meeting `flat`'s string assertions. */
  private stringContent(flat: FlatSchema): string | null {
    const formats = flat.formats.filter((f) => f in stringFormats);
    if (formats.length > 1) throw new SchemaRefusal("format", flat.pointer, `the formats ${formats.join(" and ")} together cannot be enforced`);
    const patterns = flat.patterns;
    if (flat.maxLength !== null && flat.minLength > flat.maxLength) return null;
    const format = formats[0];
    if (format !== undefined) {
      const paired = patterns.length === 1 ? patternsWithFormat[format]?.get(patterns[0] ?? "") : undefined;
      if (patterns.length > 0 && paired === undefined) {
        throw new SchemaRefusal("pattern", flat.pointer, `a pattern beside format '${format}' cannot be enforced together with it`);
      }
      const [shortest, longest] = stringFormatLengths[format] ?? [0, Infinity];
      if (flat.minLength > shortest || (flat.maxLength !== null && flat.maxLength < longest)) {
        throw new SchemaRefusal(flat.minLength > shortest ? "minLength" : "maxLength", flat.pointer, `length bounds narrower than format '${format}' (${shortest}…${longest} characters here) cannot be enforced together with it`);
      }
      return `(${paired ?? stringFormats[format] ?? ""})`;
    }
    if (flat.excludedStrings.length > 0) {
      if (!this.isPlainString(flat)) throw new SchemaRefusal("not", flat.pointer, "'not' of string values beside other string keywords cannot be enforced");
      return stringExceptGbnf(flat.excludedStrings, this.common("json-char"), this.hoist);
    }
    if (patterns.length > 1) throw new SchemaRefusal("pattern", flat.pointer, "several patterns on one string cannot be enforced together");
    const pattern = patterns[0];
    try {
      return pattern === undefined ? plainStringGbnf(flat.minLength, flat.maxLength, this.common("json-char")) : patternStringGbnf(pattern, flat.minLength, flat.maxLength, this.hoist);
    } catch (err) {
      if (!(err instanceof UnsupportedPattern)) throw err;
      const keyword = pattern === undefined ? "minLength" : "pattern";
      throw new SchemaRefusal(keyword, flat.pointer, pattern === undefined ? err.message : `the pattern ${JSON.stringify(pattern.slice(0, 100))} has ${err.message}, which a grammar cannot enforce`);
    }
  }

  private arrayBody(flat: FlatSchema): string | null {
    const pointer = flat.pointer;
    const prefix = flat.prefixItems ?? [];
    const tail: SchemaNode = flat.items ?? flat.unevaluatedItems ?? true;
    const containing = flat.minContains === 0 ? 0 : flat.contains.length > 0 ? (flat.minContains ?? 1) : 0;
    const minItems = Math.max(flat.minItems, containing);
    let maxItems = flat.maxItems === null ? null : Math.min(flat.maxItems, repetitionCap);
    if (minItems > repetitionCap) throw new SchemaRefusal("minItems", pointer, `minItems ${minItems} is more than a grammar can hold (${repetitionCap})`);
    if (flat.maxContains !== null && flat.contains.length > 0 && (maxItems === null || flat.maxContains < maxItems)) {
      throw new SchemaRefusal("maxContains", pointer, "maxContains cannot be enforced by a grammar");
    }
    if (flat.uniqueItems && (maxItems === null || maxItems > 1) && prefix.length === 0 && containing === 0 && minItems <= 1) {
      const distinct = this.distinctItems(tail, minItems, maxItems);
      if (distinct !== null) return distinct;
    }
    if (flat.uniqueItems && (maxItems === null || maxItems > 1)) {
      // Arrays of at most one item are unique; longer unique arrays need memory a grammar has not.
      if (minItems > 1 || containing > 1) throw new SchemaRefusal("uniqueItems", pointer, "uniqueItems on arrays of two or more items cannot be enforced by a grammar");
      maxItems = 1;
    }
    if (maxItems !== null && minItems > maxItems) return null;
    let specific = Math.max(prefix.length, containing);
    if (maxItems !== null && specific > maxItems) {
      if (containing > maxItems) return null;
      specific = maxItems;
    }
    const positions: string[] = [];
    for (let i = 0; i < specific; i++) {
      let node: SchemaNode | null = prefix[i] ?? tail;
      if (i < containing) for (const c of flat.contains) node = this.conjunctions.of(node, c);
      if (node === false || node === null) {
        if (i < minItems) return null;
        specific = i;
        maxItems = i;
        break;
      }
      positions.push(this.ruleFor(node));
    }
    const tailRule = tail === false ? null : this.ruleFor(tail);
    const tailMin = Math.max(0, minItems - specific);
    const tailMax = tailRule === null ? 0 : maxItems === null ? null : maxItems - specific;
    if (tailMax !== null && tailMin > tailMax) return null;
    let items: string;
    if (specific === 0) {
      if (tailMax === 0 || tailRule === null) items = "";
      else {
        const inner = `${tailRule} ${repeat(`("," ws ${tailRule})`, Math.max(0, tailMin - 1), tailMax === null ? null : tailMax - 1)}`.replace(/ ""$/, "");
        items = tailMin > 0 ? inner : `(${inner})?`;
      }
    } else {
      let rest = tailMax === 0 || tailRule === null ? "" : repeat(`("," ws ${tailRule})`, tailMin, tailMax);
      if (rest === '""') rest = "";
      for (let i = specific - 1; i >= 1; i--) {
        rest = `"," ws ${positions[i] ?? ""} ${rest}`.trim();
        if (i >= minItems) rest = `(${rest})?`;
      }
      items = `${positions[0] ?? ""} ${rest}`.trim();
      if (minItems === 0) items = `(${items})?`;
    }
    this.common("ws");
    return `"[" ws ${items === "" ? "" : `${items} `}ws "]"`;
  }

  /**
   * A unique array of enum values: the values in their declared order, each
   * at most once (strictly increasing positions), when there are at most 64.
   */
  private distinctItems(items: SchemaNode, minItems: number, maxItems: number | null): string | null {
    const flats = this.flatten(items);
    if (flats.length === 0 || flats.some((f) => f.values === null)) return null;
    const values = new Map<string, unknown>();
    for (const f of flats) for (const [key, v] of f.values ?? []) if (!this.definitelyFails(v, { ...f, values: null })) values.set(key, v);
    const literals = [...values.values()].map((v) => literal(JSON.stringify(v)));
    if (literals.length === 0 || literals.length > 64 || (maxItems !== null && maxItems < literals.length)) return null;
    // pick(i): one value from position i on, then optionally more after it.
    let next = "";
    for (let i = literals.length - 1; i >= 0; i--) {
      const here = next === "" ? (literals[i] ?? "") : `${literals[i] ?? ""} ("," ws ${next})?`;
      next = this.define("unique", next === "" ? here : `${here} | ${next}`);
    }
    this.common("ws");
    return `"[" ws ${minItems === 0 ? `${next}?` : next} ws "]"`;
  }

  /** Does `key` meet every propertyNames schema? */
  private nameAllowed(flat: FlatSchema, key: string): boolean {
    return flat.propertyNames.every((names) => this.flatten(names).some((f) => !this.definitelyFails(key, f) && f.formats.every((x) => !(x in stringFormats))));
  }

  private objectBody(flat: FlatSchema): string | null {
    const pointer = flat.pointer;
    const properties: Array<{ key: string; rule: string; required: boolean }> = [];
    const valueOf = (key: string, declared: SchemaNode | undefined): SchemaNode => {
      let node: SchemaNode | null = declared ?? null;
      for (const [p, schema] of flat.patternProperties) if (patternMatches(p, key, pointer)) node = this.conjunctions.of(node, schema);
      if (declared === undefined && node === null) node = flat.additionalProperties ?? flat.unevaluatedProperties ?? true;
      return node ?? true;
    };
    const declaredKeys = [...flat.properties.keys(), ...[...flat.required].filter((k) => !flat.properties.has(k))];
    for (const key of declaredKeys) {
      const required = flat.required.has(key);
      const node = valueOf(key, flat.properties.get(key));
      const dependsOnOptional = (flat.dependentRequired.get(key) ?? []).some((k) => !flat.required.has(k)) || (flat.dependentSchemas.has(key) && !required);
      if (flat.forbidden.has(key) || node === false || !this.nameAllowed(flat, key) || (!required && dependsOnOptional)) {
        if (required) return null;
        continue;
      }
      if (required) for (const dep of flat.dependentRequired.get(key) ?? []) if (!flat.required.has(dep)) return null;
      let rule: string;
      try {
        rule = this.ruleFor(node);
      } catch (err) {
        // An optional property nothing can satisfy is simply not written.
        if (err instanceof UnsatisfiableSchema && !required) continue;
        throw err;
      }
      properties.push({ key, rule, required });
    }
    this.common("ws");
    // Free keys only when the schema declares none (as writtenKeys assumes): declared keys left out above stay out.
    if (declaredKeys.length === 0 && flat.patternProperties.size <= 1) return this.mapBody(flat);
    return this.propertyChain(properties, flat);
  }

  /** An object of declared properties in their order, required ones always, within min/maxProperties. */
  private propertyChain(properties: Array<{ key: string; rule: string; required: boolean }>, flat: FlatSchema): string | null {
    const n = properties.length;
    const minProperties = flat.minProperties;
    const maxProperties = flat.maxProperties === null || flat.maxProperties >= n ? null : flat.maxProperties;
    if (minProperties > n) return null;
    const cap = Math.max(1, minProperties, maxProperties ?? 0);
    if (cap > 64) throw new SchemaRefusal("minProperties", flat.pointer, "minProperties/maxProperties above 64 on optional properties cannot be enforced");
    if (n * (cap + 1) > this.limits.maxRules) throw new SchemaRefusal("maxProperties", flat.pointer, `counting ${n} properties up to ${cap} would take more than ${this.limits.maxRules} rules`);
    const memo = new Map<string, string | null>();
    const keyValue = (i: number): string => {
      const p = properties[i];
      return p === undefined ? "" : `${literal(JSON.stringify(p.key))} ws ":" ws ${p.rule}`;
    };
    // rest(i, c): the properties from i on, c already written (c capped).
    const rest = (i: number, c: number): string | null => {
      const id = `${i},${c}`;
      if (memo.has(id)) return memo.get(id) ?? null;
      let body: string | null;
      if (i === n) body = c >= minProperties ? '""' : null;
      else {
        const options: string[] = [];
        const p = properties[i];
        if (maxProperties === null || c < maxProperties) {
          const after = rest(i + 1, Math.min(c + 1, cap));
          if (after !== null) options.push(`${c === 0 ? "" : '"," ws '}${keyValue(i)}${after === '""' ? "" : ` ${after}`}`);
        }
        if (p !== undefined && !p.required) {
          const skip = rest(i + 1, c);
          if (skip !== null) options.push(skip);
        }
        body = options.length === 0 ? null : options.length === 1 ? (options[0] ?? null) : this.define(`props-${i}`, options.join(" | "));
      }
      memo.set(id, body);
      return body;
    };
    const inside = rest(0, 0);
    if (inside === null) return null;
    return `"{" ws ${inside === '""' ? "" : `${inside} `}ws "}"`;
  }

  /** An object of free keys (a map): keys from propertyNames or the one patternProperties pattern, values from its schema. */
  private mapBody(flat: FlatSchema): string | null {
    const [pattern, patternSchema] = [...flat.patternProperties][0] ?? [null, null];
    let keyContent: string | null;
    let value: SchemaNode;
    if (pattern !== null) {
      keyContent = this.stringContent({ ...unconstrained, pointer: `${flat.pointer}/patternProperties`, patterns: [pattern] });
      value = patternSchema;
      if (flat.propertyNames.length > 0) keyContent = null;
    } else {
      value = flat.additionalProperties ?? flat.unevaluatedProperties ?? true;
      const nameFlats = flat.propertyNames.flatMap((names) => this.flatten(names));
      if (flat.propertyNames.length > 1 || nameFlats.length > 1) throw new SchemaRefusal("propertyNames", flat.pointer, "these propertyNames cannot be enforced");
      const names = nameFlats[0];
      keyContent = flat.propertyNames.length === 0 ? "json-char*" : names === undefined ? null : names.values !== null ? null : this.stringContent(names);
      if (names?.values !== null && names !== undefined) {
        const keys = [...names.values.values()].filter((k): k is string => typeof k === "string");
        keyContent = keys.length === 0 ? null : `(${keys.map((k) => literal(JSON.stringify(k).slice(1, -1))).join(" | ")})`;
      }
      if (keyContent === "json-char*") this.common("json-char");
    }
    const writesKeys = keyContent !== null && value !== false && (flat.maxProperties ?? 1) > 0;
    if (!writesKeys) return flat.minProperties > 0 ? null : '"{" ws "}"';
    if (flat.minProperties > 1) throw new SchemaRefusal("minProperties", flat.pointer, "minProperties above 1 on free keys cannot be enforced (a key could repeat)");
    let valueRule: string;
    try {
      valueRule = this.ruleFor(value);
    } catch (err) {
      // Free keys whose value nothing satisfies are simply not written.
      if (!(err instanceof UnsatisfiableSchema)) throw err;
      return flat.minProperties > 0 ? null : '"{" ws "}"';
    }
    const entry = this.define(`${flat.pointer.split("/").pop() ?? ""}-entry`, `"\\"" ${keyContent} "\\"" ws ":" ws ${valueRule}`);
    const maxProperties = flat.maxProperties === null ? null : Math.min(flat.maxProperties, repetitionCap);
    const more = repeat(`("," ws ${entry})`, 0, maxProperties === null ? null : maxProperties - 1);
    const entries = `${entry}${more === '""' ? "" : ` ${more}`}`;
    return `"{" ws ${flat.minProperties > 0 ? entries : `(${entries})?`} ws "}"`;
  }
}

/** A whole schema as one grammar: its rules and the rule of its value. */
export function compileJsonSchema(schema: unknown, limits: GrammarLimits = defaultGrammarLimits): { rules: string; root: string } {
  const grammar = new JsonSchemaGrammar(limits);
  const root = grammar.add(schema);
  return { rules: grammar.grammar(), root };
}
