/** Test models: generated once per checkout into .cache/ (the GGUF made by other tools is in ./shared-files.ts). */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { customChatTemplate, withFim } from "../../src/cli/test-model-template.js";
import { writeTestModel } from "../../src/gguf/test-model.js";
import { repoRoot } from "./server.js";

/**
 * The tiny generated model; `template: "thinking"` gives the variant whose chat
 * template has a Qwen3-style thinking switch.
 */
export async function tinyModelPath(seed = 1, template: "chatml" | "thinking" = "chatml"): Promise<string> {
  const name = template === "chatml" ? `tiny-seed${seed}.gguf` : `tiny-${template}-seed${seed}.gguf`;
  const out = path.join(repoRoot, ".cache", "test-models", name);
  if (!fs.existsSync(out)) {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    await writeTestModel({ out, shape: "tiny", seed, type: "f16", template });
  }
  return out;
}

/**
 * A model of Qwen2.5-0.5B's shape and vocabulary size (random Q8_0 weights,
 * 531 MB), generated once per checkout: big enough for llama.cpp's kernels to
 * take the paths real models take.
 */
export async function qwenShapedModelPath(): Promise<string> {
  const out = path.join(repoRoot, ".cache", "test-models", "qwen2.5-0.5b-q8_0-seed1.gguf");
  if (!fs.existsSync(out)) {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    await writeTestModel({ out, shape: "qwen2.5-0.5b", seed: 1, type: "q8_0", template: "chatml" });
  }
  return out;
}

/** A test model with a chat template from a file (a family's real template, or a fixture), and the special tokens it uses. */
export async function templateModelPath(templateFile: string, seed = 1): Promise<string> {
  const text = fs.readFileSync(templateFile, "utf8");
  const name = path.basename(templateFile, ".jinja");
  const template = customChatTemplate(name, text);
  // Keyed by the template and the tokens its family gives the model, so a family's new token makes a new model.
  const hash = createHash("sha256").update(JSON.stringify(template)).digest("hex").slice(0, 8);
  const out = path.join(repoRoot, ".cache", "test-models", `tiny-${name}-${hash}-seed${seed}.gguf`);
  if (!fs.existsSync(out)) {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    await writeTestModel({ out, shape: "tiny", seed, type: "f16", template });
  }
  return out;
}

/** chatport's own templates in the families' styles, for runs without ../shared. */
export function fixtureTemplate(name: "mistral-style" | "llama3-style" | "granite-style" | "harmony-style" | "ministral-think-style" | "command-style" | "nemotron-style" | "smollm3-style"): string {
  return path.join(repoRoot, "test", "fixtures", "templates", `${name}.jinja`);
}

/** The tiny model (ChatML) with fill-in-the-middle tokens declared in its GGUF, as `make-test-model --fim` writes it. */
export async function fimModelPath(seed = 1): Promise<string> {
  const out = path.join(repoRoot, ".cache", "test-models", `tiny-fim-seed${seed}.gguf`);
  if (!fs.existsSync(out)) {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    await writeTestModel({ out, shape: "tiny", seed, type: "f16", template: withFim("chatml") });
  }
  return out;
}

/** The tiny generated model declared as an embedding model (mean pooling; `make-test-model --embedding`). */
export async function tinyEmbeddingModelPath(seed = 1): Promise<string> {
  const out = path.join(repoRoot, ".cache", "test-models", `tiny-embedding-seed${seed}.gguf`);
  if (!fs.existsSync(out)) {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    await writeTestModel({ out, shape: "tiny", seed, type: "f16", embedding: true });
  }
  return out;
}

/**
 * A test model with a chat template from a file that follows token chains
 * (`make-test-model --chain`, `src/gguf/token-chains.ts`): after each token
 * of a chain it writes the next, so a random-weights model writes a family's
 * own markers where a test needs them.
 */
export async function chainedTemplateModelPath(templateFile: string, chains: ReadonlyArray<readonly string[]>): Promise<string> {
  const text = fs.readFileSync(templateFile, "utf8");
  const name = path.basename(templateFile, ".jinja");
  const hash = createHash("sha256").update(text).update(JSON.stringify(chains)).digest("hex").slice(0, 8);
  const out = path.join(repoRoot, ".cache", "test-models", `tiny-${name}-chained-${hash}.gguf`);
  if (!fs.existsSync(out)) {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    await writeTestModel({ out, shape: "tiny", seed: 1, type: "f16", template: customChatTemplate(name, text), chains });
  }
  return out;
}
