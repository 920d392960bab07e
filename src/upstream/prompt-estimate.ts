/**
 * How many tokens a prompt will be upstream, before sending it: the
 * upstream's tokenizer is not here, so this is a bound, not a count. A
 * budget reserves it before admission and settles to the upstream's reported
 * usage afterwards, so it must never fall short; it errs high instead.
 *
 * The bound: byte-level BPE tokenizers (GPT's cl100k/o200k, Llama 3, Qwen,
 * Mistral's tekken…) and SentencePiece with byte fallback (Llama 2, Gemma)
 * make at most one token per UTF-8 byte of text. The bytes counted are the
 * JSON of everything the upstream renders into the prompt — messages, tools,
 * legacy functions, the response format — whose quotes, keys and brackets
 * (28 bytes for the smallest message) outnumber the tokens a chat template
 * puts around a message (3–8), plus {@link TEMPLATE_PREAMBLE_TOKENS} for a
 * template's own text (a default system prompt, the assistant's header).
 * Typical English text is ~4 bytes per token, so the bound is ~4× the truth
 * there and ~1–3× for other scripts.
 */

/** Tokens a chat template may add of its own, beyond the messages' JSON. */
export const TEMPLATE_PREAMBLE_TOKENS = 64;

/** Fields of a chat request that the upstream renders into the prompt. */
const PROMPT_FIELDS = ["messages", "tools", "functions", "response_format"] as const;

/** An upper bound of the prompt tokens of a chat-completions request body. */
export function estimatePromptTokens(body: Readonly<Record<string, unknown>>): number {
  const parts = PROMPT_FIELDS.map((field) => body[field]).filter((value) => value !== undefined && value !== null);
  return Buffer.byteLength(JSON.stringify(parts), "utf8") + TEMPLATE_PREAMBLE_TOKENS;
}
