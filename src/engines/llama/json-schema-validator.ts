/**
 * A client's JSON Schema → an Ajv validation function, in the schema's own
 * draft: what "the output validates against its schema" means for every
 * grammar-constrained answer.
 *
 * Each schema gets an Ajv instance of its own (a shared one keeps every
 * schema and `$id` for the life of the process, and a second schema reusing
 * an `$id` would be refused). `$schema` picks the dialect: draft-04 (whose
 * `id` and boolean `exclusiveMinimum` later drafts reject), draft-06/07,
 * 2019-09 or 2020-12; a schema without one is read as 2020-12, then as
 * draft-07 and draft-04 when that dialect cannot compile it. Formats are
 * ajv-formats' full set (`time` and `date-time` need a time-zone offset, as in
 * RFC 3339); a format neither knows is an annotation. Patterns are ECMAScript
 * regular expressions with the `u` flag, as the request check compiles them.
 *
 * Ajv generates code: compiling a 337 KB schema took 280-330 ms, which is
 * why this runs on a worker thread ({@link ./validation-worker.ts}).
 */
import { Ajv, type ErrorObject, type Options, ValidationError } from "ajv";
import { Ajv2019 } from "ajv/dist/2019.js";
import { Ajv2020 } from "ajv/dist/2020.js";
import ajvDraft04Module from "ajv-draft-04";
import ajvFormatsModule, { type FormatsPlugin } from "ajv-formats";
import { asAjvSchema, declaredDraft } from "../../protocol/json-schema.js";

/** These two are CommonJS modules with a default export, which their ESM view may nest once more. */
function unwrapDefault<T>(module: unknown): T {
  const inner = (module as { default?: unknown }).default;
  return (typeof inner === "function" ? inner : module) as T;
}

const addFormats = unwrapDefault<FormatsPlugin>(ajvFormatsModule);

type Dialect = "draft-04" | "draft-07" | "2019-09" | "2020-12";

const dialects: Record<Dialect, new (options: Options) => Ajv> = {
  "draft-04": unwrapDefault<new (options: Options) => Ajv>(ajvDraft04Module),
  "draft-07": Ajv,
  "2019-09": Ajv2019,
  "2020-12": Ajv2020,
};

const options: Options = {
  strict: false,
  logger: false,
  allErrors: false,
  // Whether the schema is a schema is the request check's question; here it is only compiled.
  validateSchema: false,
};

/** The dialects to try for a `$schema` value, in order (every one when it names none). */
function dialectsFor($schema: unknown): Dialect[] {
  const draft = declaredDraft($schema);
  if (draft === null) return ["2020-12", "draft-07", "draft-04"];
  return [draft === "draft-06" ? "draft-07" : draft];
}

/**
 * Why `value` fails the schema (the first failure: where, and which
 * keyword), or null when it validates; a promise of that for a schema marked
 * `$async` (Ajv then validates asynchronously: its result is a promise, which
 * a plain truth test would take for a pass).
 */
export type SchemaCheck = (value: unknown) => string | null | Promise<string | null>;

function describe(errors: readonly ErrorObject[] | null | undefined): string {
  const error = errors?.[0];
  if (error === undefined) return "does not validate";
  // The keyword and the places, never the generated value itself (it is the user's content).
  return `${error.instancePath || "/"} fails '${error.keyword}' at ${error.schemaPath}`;
}

/** Compiles `schema` (throws when no dialect can). */
export function compileSchemaCheck(schema: unknown): SchemaCheck {
  const $schema = typeof schema === "object" && schema !== null ? (schema as Record<string, unknown>).$schema : undefined;
  let lastError: unknown = null;
  // The declared dialect first; then, for schemas that mix drafts (a draft-04
  // `$schema` over draft-06 numeric bounds, as generators write), the schema
  // normalised the way the grammar compiler reads it, as 2020-12.
  const attempts: Array<[Dialect, unknown]> = [...dialectsFor($schema).map((d): [Dialect, unknown] => [d, schema]), ["2020-12", asAjvSchema(schema)]];
  for (const [dialect, candidate] of attempts) {
    try {
      const ajv = new dialects[dialect](options);
      addFormats(ajv);
      const validate = ajv.compile(candidate as object);
      return (value) => {
        const result: unknown = validate(value);
        if (!(result instanceof Promise)) return result === true ? null : describe(validate.errors);
        return result.then(
          () => null,
          (err: unknown) => (err instanceof ValidationError ? describe(err.errors as ErrorObject[]) : `cannot be validated: ${String(err)}`),
        );
      };
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}
