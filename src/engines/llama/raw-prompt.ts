/**
 * Raw prompts (legacy completions) → prompt tokens, without a chat template:
 * text is tokenized as llama-server tokenizes a completion prompt (special
 * tokens written in the text are read as such, BOS prepended where the model
 * wants one); token ids are used as they are, after a check against the
 * vocabulary. With a `suffix`, the prompt is the model's fill-in-the-middle
 * layout (prefix-suffix-middle, as llama.cpp's infill): `<FIM_PRE>` prompt
 * `<FIM_SUF>` suffix `<FIM_MID>`, then the model writes the middle; a model
 * without FIM tokens refuses a suffix.
 */
import type { LlamaModel, Token } from "node-llama-cpp";
import type { RawPrompt } from "../../protocol/chat-request.js";
import { invalidRequest } from "../../protocol/errors.js";

export interface RawPromptTokens {
  /** Per prompt of the request, in order. */
  prompts: Token[][];
  /** Per prompt, the text an echo repeats; null when the request asked for no echo. */
  echoes: string[] | null;
}

function textTokens(model: LlamaModel, text: string): Token[] {
  return model.tokenize(text, true);
}

function checkedIds(ids: readonly number[], vocabSize: number, param: string): Token[] {
  for (const id of ids) {
    if (id >= vocabSize) throw invalidRequest(`Token id ${id} is outside the vocabulary (size ${vocabSize}).`, param, "invalid_value");
  }
  return ids as Token[];
}

function withBos(model: LlamaModel, tokens: Token[]): Token[] {
  const bos = model.tokens.bos;
  return bos !== null && model.tokens.shouldPrependBosToken && tokens[0] !== bos ? [bos, ...tokens] : tokens;
}

/** The model's FIM tokens, or a 400 naming `suffix` where it has none. */
function fimTokens(model: LlamaModel): { prefix: Token; suffix: Token; middle: Token } {
  const { prefix, suffix, middle } = model.tokens.infill;
  if (prefix === null || suffix === null || middle === null) {
    throw invalidRequest(
      "suffix is not supported by this model: its GGUF declares no fill-in-the-middle tokens (tokenizer.ggml.fim_pre/suf/mid_token_id).",
      "suffix",
      "unsupported_value",
    );
  }
  return { prefix, suffix, middle };
}

export function rawPromptTokens(model: LlamaModel, raw: RawPrompt, vocabSize: number): RawPromptTokens {
  const fim = raw.suffix === null ? null : fimTokens(model);
  const several = raw.prompts.length > 1;
  const prompts = raw.prompts.map((prompt, i) => {
    const param = several ? `prompt[${i}]` : "prompt";
    const own = typeof prompt === "string" ? textTokens(model, prompt) : checkedIds(prompt, vocabSize, param);
    const tokens =
      fim === null || raw.suffix === null
        ? typeof prompt === "string"
          ? withBos(model, own)
          : own
        : withBos(model, [fim.prefix, ...own, fim.suffix, ...textTokens(model, raw.suffix), fim.middle]);
    if (tokens.length === 0) throw invalidRequest("The prompt is empty: this model has no BOS token to start from.", param, "invalid_value");
    return tokens;
  });
  const echoes = raw.echo ? raw.prompts.map((prompt) => (typeof prompt === "string" ? prompt : model.detokenize(prompt as Token[], false))) : null;
  return { prompts, echoes };
}
