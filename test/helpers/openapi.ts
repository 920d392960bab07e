/**
 * Validates what the server sends: always against the project's own schemas
 * (./wire-schemas.ts), and also against the official OpenAI OpenAPI document
 * where one is available (./shared-files.ts). The official document mixes 3.1
 * (`type: "null"`) and 3.0 (`nullable: true`) idioms; the latter is rewritten
 * to a null alternative.
 */
import fs from "node:fs";
import { Ajv, type ValidateFunction } from "ajv";
import { officialOpenApiPath } from "./shared-files.js";
import { wireSchemas, type WireSchemaName } from "./wire-schemas.js";

function rewriteNullable(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(rewriteNullable);
  if (typeof node !== "object" || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "discriminator" || key === "nullable") continue;
    out[key] = rewriteNullable(value);
  }
  if ((node as { nullable?: unknown }).nullable === true) return { anyOf: [out, { type: "null" }] };
  return out;
}

const ownAjv = new Ajv({ strict: true, allErrors: true });
const own = new Map<WireSchemaName, ValidateFunction>();

/** The official document's validators, compiled on first use; null without the document. */
let official: { ajv: Ajv; validators: Map<string, ValidateFunction> } | null | undefined;

function officialValidator(name: string): { ajv: Ajv; validate: ValidateFunction } | null {
  if (official === undefined) {
    const file = officialOpenApiPath();
    if (file === null) {
      official = null;
    } else {
      const spec = rewriteNullable(JSON.parse(fs.readFileSync(file, "utf8"))) as Record<string, unknown>;
      const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
      ajv.addSchema({ $id: "openai", components: spec.components }, "openai");
      official = { ajv, validators: new Map() };
    }
  }
  if (official === null) return null;
  let validate = official.validators.get(name);
  if (validate === undefined) {
    validate = official.ajv.compile({ $ref: `openai#/components/schemas/${name}` });
    official.validators.set(name, validate);
  }
  return { ajv: official.ajv, validate };
}

/** Whether bodies are also checked against the official OpenAPI document in this run. */
export function officialSchemaAvailable(): boolean {
  return officialOpenApiPath() !== null;
}

/**
 * Throws with the validation errors when `value` does not match the project's
 * schema `name` or, where the official document is available, its
 * `components.schemas[name]`.
 */
export function assertMatchesSchema(name: WireSchemaName, value: unknown): void {
  let validate = own.get(name);
  if (validate === undefined) {
    validate = ownAjv.compile(wireSchemas[name]);
    own.set(name, validate);
  }
  if (!validate(value)) {
    throw new Error(`${name} does not match chatport's wire schema: ${ownAjv.errorsText(validate.errors)}\n${JSON.stringify(value).slice(0, 2000)}`);
  }
  const checker = officialValidator(name);
  if (checker !== null && !checker.validate(value)) {
    throw new Error(`${name} does not match the OpenAPI schema: ${checker.ajv.errorsText(checker.validate.errors)}\n${JSON.stringify(value).slice(0, 2000)}`);
  }
}
