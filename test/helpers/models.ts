/** Test models: generated once per checkout into .cache/, plus the GGUF made elsewhere in ../shared/models. */
import fs from "node:fs";
import path from "node:path";
import { writeTestModel } from "../../src/gguf/test-model.js";
import { repoRoot } from "./server.js";

export const sharedLlama2Path = path.resolve(repoRoot, "../shared/models/llama-2-tiny-random.gguf");

export async function tinyModelPath(seed = 1): Promise<string> {
  const out = path.join(repoRoot, ".cache", "test-models", `tiny-seed${seed}.gguf`);
  if (!fs.existsSync(out)) {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    await writeTestModel({ out, shape: "tiny", seed, type: "f16" });
  }
  return out;
}
