/**
 * Two measures of a prompt no tokenizer here can count (the upstream's is elsewhere).
 *
 * `estimatePromptTokens`: a prompt's size in tokens when no tokenizer counted it: an upstream that
 * reported no usage (or whose stream was cut before its usage chunk). About
 * four characters a token for the text of every message and the tool
 * definitions, rounded up per message, plus the chat template's framing of
 * each message — an overestimate for English with the common BPE
 * vocabularies, so a key is not undercharged. Media parts are not counted
 * (their cost depends on the provider).
 *
 * `promptTokensUpperBound`: how many tokens a prompt will be upstream, before sending it, at most: the
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
import type { ChatMessage } from "./chat-messages.js";
import type { ChatRequest } from "./chat-request.js";

/** Characters per token assumed for text. */
const CHARS_PER_TOKEN = 4;
/** Tokens a chat template spends around each message (role header, separators). */
const MESSAGE_FRAMING_TOKENS = 4;
/** Tokens that open the assistant's turn after the last message. */
const REPLY_PRIMER_TOKENS = 3;

function textTokens(text: string): number {
  return Math.ceil(text.length / CHARS_PER_TOKEN);
}

function messageTokens(message: ChatMessage): number {
  let tokens = MESSAGE_FRAMING_TOKENS + textTokens(message.content);
  if (message.role === "assistant") {
    tokens += textTokens(message.reasoning ?? "");
    for (const call of message.toolCalls) tokens += MESSAGE_FRAMING_TOKENS + textTokens(call.name) + textTokens(call.arguments);
  }
  if (message.role === "tool") tokens += textTokens(message.name ?? "");
  return tokens;
}

export function estimatePromptTokens(request: Pick<ChatRequest, "messages" | "tools">): number {
  let tokens = REPLY_PRIMER_TOKENS;
  for (const message of request.messages) tokens += messageTokens(message);
  // Counted whatever tool_choice says: the upstream is sent the definitions either way.
  if (request.tools.tools.length > 0) tokens += textTokens(JSON.stringify(request.tools.tools));
  return tokens;
}

/** Tokens a chat template may add of its own, beyond the messages' JSON. */
export const TEMPLATE_PREAMBLE_TOKENS = 64;

/** Fields of a chat (or legacy completions) request that the upstream renders into the prompt. */
const PROMPT_FIELDS = ["messages", "tools", "functions", "response_format", "prompt", "suffix"] as const;

const utf8 = new TextEncoder();

/** An upper bound of the prompt tokens of a chat-completions (or completions) request body (see the bound above). */
export function promptTokensUpperBound(body: Readonly<Record<string, unknown>>): number {
  const parts = PROMPT_FIELDS.map((field) => body[field]).filter((value) => value !== undefined && value !== null);
  return utf8.encode(JSON.stringify(parts)).length + TEMPLATE_PREAMBLE_TOKENS;
}
