/**
 * An independent tokenizer for assertions: the same GGUF loaded vocabulary-only
 * in the test process, so counts reported by the server can be checked.
 */
import { getLlama, LlamaLogLevel, type LlamaModel, type Token } from "node-llama-cpp";

const cache = new Map<string, Promise<LlamaModel>>();

export function loadVocab(modelPath: string): Promise<LlamaModel> {
  let model = cache.get(modelPath);
  if (model === undefined) {
    model = getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error }).then((llama) =>
      llama.loadModel({ modelPath, vocabOnly: true }),
    );
    cache.set(modelPath, model);
  }
  return model;
}

/** ChatML as the tiny test model's template renders it, with the generation prompt. */
export function chatml(messages: ReadonlyArray<{ role: string; content: string }>): string {
  return messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join("") + "<|im_start|>assistant\n";
}

export function countTokens(model: LlamaModel, text: string): number {
  return model.tokenize(text, true).length;
}

/** A token whose text round-trips on its own, for logit_bias tests. */
export function singleToken(model: LlamaModel, text: string): Token {
  const tokens = model.tokenize(text, false);
  if (tokens.length !== 1 || tokens[0] === undefined) throw new Error(`'${text}' is ${tokens.length} tokens, not one`);
  return tokens[0];
}
