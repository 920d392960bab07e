/**
 * A prompt's size in tokens when no tokenizer counted it: an upstream that
 * reported no usage (or whose stream was cut before its usage chunk). About
 * four characters a token for the text of every message and the tool
 * definitions, rounded up per message, plus the chat template's framing of
 * each message — an overestimate for English with the common BPE
 * vocabularies, so a key is not undercharged. Media parts are not counted
 * (their cost depends on the provider).
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
