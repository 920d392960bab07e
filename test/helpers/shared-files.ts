/**
 * Optional files from outside the checkout: the official OpenAI OpenAPI
 * document and a GGUF made by other tools. The project's CI has them in
 * `../shared/`; a fresh clone has nothing beside it, and the suite passes
 * without them (the checks that need them are skipped, and say so).
 *
 * - `CHATPORT_TEST_SHARED_DIR`: a folder laid out like `../shared/`
 *   (`spec/openai-openapi.json`, `models/llama-2-tiny-random.gguf`);
 * - `CHATPORT_TEST_OPENAPI`: the OpenAPI document itself (wins over the folder).
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

function sharedDir(): string {
  const fromEnv = process.env.CHATPORT_TEST_SHARED_DIR;
  return fromEnv !== undefined && fromEnv !== "" ? path.resolve(fromEnv) : path.resolve(repoRoot, "../shared");
}

function existing(file: string): string | null {
  return fs.existsSync(file) ? file : null;
}

/** The official OpenAI OpenAPI document (JSON), or null where there is none. */
export function officialOpenApiPath(): string | null {
  const fromEnv = process.env.CHATPORT_TEST_OPENAPI;
  if (fromEnv !== undefined && fromEnv !== "") {
    // Named explicitly: a wrong path is an error, not a silent skip.
    if (!fs.existsSync(fromEnv)) throw new Error(`CHATPORT_TEST_OPENAPI=${fromEnv}: no such file`);
    return path.resolve(fromEnv);
  }
  return existing(path.join(sharedDir(), "spec", "openai-openapi.json"));
}

/** A llama-2-shaped GGUF with a SentencePiece vocabulary, made by other tools; or null. */
export function foreignLlama2Path(): string | null {
  return existing(path.join(sharedDir(), "models", "llama-2-tiny-random.gguf"));
}

/** A real chat template from `templates/NAME.jinja`; or null. */
export function sharedTemplatePath(name: string): string | null {
  return existing(path.join(sharedDir(), "templates", `${name}.jinja`));
}

/** Why a test that needs a shared file is skipped. */
export function missingSharedFile(what: string): string {
  return `${what} not found: set CHATPORT_TEST_SHARED_DIR (or put ../shared beside the checkout) to run this`;
}

/** stories260K: a real (tiny) trained base model, without a chat template; or null. */
export function storiesModelPath(): string | null {
  return existing(path.join(sharedDir(), "models", "stories260K.gguf"));
}
