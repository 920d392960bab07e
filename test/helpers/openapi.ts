/**
 * Validates bodies and chunks against the official OpenAI OpenAPI document
 * in ../shared/spec. The document mixes 3.1 (`type: "null"`) and 3.0
 * (`nullable: true`) idioms; the latter is rewritten to a null alternative.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv, type ValidateFunction } from "ajv";

const here = path.dirname(fileURLToPath(import.meta.url));
export const specPath = path.resolve(here, "../../../shared/spec/openai-openapi.json");

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

const spec = rewriteNullable(JSON.parse(fs.readFileSync(specPath, "utf8"))) as Record<string, unknown>;
const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
ajv.addSchema({ $id: "openai", components: spec.components }, "openai");

const cache = new Map<string, ValidateFunction>();

/** Throws with the validation errors when `value` does not match `components.schemas[name]`. */
export function assertMatchesSchema(name: string, value: unknown): void {
  let validate = cache.get(name);
  if (validate === undefined) {
    validate = ajv.compile({ $ref: `openai#/components/schemas/${name}` });
    cache.set(name, validate);
  }
  if (!validate(value)) {
    throw new Error(`${name} does not match the OpenAPI schema: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(value).slice(0, 2000)}`);
  }
}
