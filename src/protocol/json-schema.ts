/** Is a client-supplied JSON Schema a valid schema at all? (Whether an engine can enforce it is the engine's question.) */
import { Ajv } from "ajv";
import { invalidRequest } from "./errors.js";

const metaValidator = new Ajv({ strict: false, validateSchema: true });

/** Throws a 400 naming `param` when `schema` is not a valid JSON Schema. */
export function assertValidJsonSchema(schema: unknown, param: string, what: string): void {
  try {
    metaValidator.compile(schema as object);
  } catch (err) {
    throw invalidRequest(`Invalid JSON Schema for ${what}: ${err instanceof Error ? err.message : String(err)}`, param, "invalid_json_schema");
  }
}
