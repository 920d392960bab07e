/**
 * An upstream's legacy completions (`text_completion` bodies and chunks) in
 * the chat shape the {@link ResponseDecoder} reads: each choice's `text`
 * becomes content (a chunk's `delta`, a body's `message`), legacy logprobs
 * (`tokens`, `token_logprobs`, `top_logprobs` dicts) become logprob entries.
 * An echoed prompt's logprobs (`echo` with `logprobs`: the first token's
 * logprob is null) cannot be told from the generated tokens' that follow
 * them in the same choice, so a choice holding a null logprob keeps all its
 * entries, nulls included, as `prompt_logprobs` ({@link promptLogprobsOf}
 * reads them back for the decoder). Anything else passes unchanged.
 */
import type { PromptTokenLogprob, TopLogprob } from "../protocol/chat-events.js";

type JsonRecord = Record<string, unknown>;

const isRecord = (value: unknown): value is JsonRecord => typeof value === "object" && value !== null && !Array.isArray(value);

/** Legacy logprobs hold an echoed prompt's: some token's logprob is null. */
function holdsPrompt(raw: unknown): boolean {
  return isRecord(raw) && Array.isArray(raw.tokens) && Array.isArray(raw.token_logprobs) && raw.token_logprobs.some((lp: unknown, i: number) => lp === null && i < (raw.tokens as unknown[]).length);
}

/** Legacy logprobs → `[{token, logprob, top_logprobs}]` with their nulls (an echoed prompt's first token). */
function nullableEntries(raw: JsonRecord): JsonRecord[] {
  const tokens = Array.isArray(raw.tokens) ? raw.tokens : [];
  const logprobs = Array.isArray(raw.token_logprobs) ? raw.token_logprobs : [];
  const tops = Array.isArray(raw.top_logprobs) ? raw.top_logprobs : [];
  return tokens.map((token: unknown, i: number) => {
    const logprob: unknown = logprobs[i];
    const top: unknown = tops[i];
    return { token: typeof token === "string" ? token : "", logprob: typeof logprob === "number" ? logprob : null, top_logprobs: isRecord(top) ? top : null };
  });
}

/** The `prompt_logprobs` {@link textCompletionAsChat} kept on a choice, as events carry them; undefined when it has none. */
export function promptLogprobsOf(choice: unknown): PromptTokenLogprob[] | undefined {
  if (!isRecord(choice) || !Array.isArray(choice.prompt_logprobs) || choice.prompt_logprobs.length === 0) return undefined;
  return choice.prompt_logprobs.filter(isRecord).map((entry) => {
    const top = isRecord(entry.top_logprobs) ? entry.top_logprobs : null;
    const alternatives: TopLogprob[] | null =
      top === null
        ? null
        : Object.entries(top)
            .filter((pair): pair is [string, number] => typeof pair[1] === "number")
            .map(([token, logprob]) => ({ token, logprob, bytes: Array.from(Buffer.from(token, "utf8")) }));
    return { token: typeof entry.token === "string" ? entry.token : "", logprob: typeof entry.logprob === "number" ? entry.logprob : null, topLogprobs: alternatives };
  });
}

/** Legacy logprobs → `{content: [{token, logprob, top_logprobs}]}`; a token whose logprob is null is left out. */
function chatLogprobs(raw: unknown): JsonRecord | null {
  if (!isRecord(raw) || !Array.isArray(raw.tokens)) return null;
  const logprobs = Array.isArray(raw.token_logprobs) ? raw.token_logprobs : [];
  const tops = Array.isArray(raw.top_logprobs) ? raw.top_logprobs : [];
  const content: JsonRecord[] = [];
  raw.tokens.forEach((token: unknown, i: number) => {
    const logprob: unknown = logprobs[i];
    if (typeof token !== "string" || typeof logprob !== "number") return;
    const top: unknown = tops[i];
    const alternatives = isRecord(top) ? Object.entries(top).map(([t, lp]) => ({ token: t, logprob: lp })) : [];
    content.push({ token, logprob, top_logprobs: alternatives });
  });
  return { content };
}

/** A `text_completion` body or chunk → the same in the chat shape; other JSON as it is. */
export function textCompletionAsChat(json: unknown): unknown {
  if (!isRecord(json) || json.object !== "text_completion" || !Array.isArray(json.choices)) return json;
  return {
    ...json,
    choices: json.choices.map((choice: unknown) => {
      if (!isRecord(choice)) return choice;
      const text = typeof choice.text === "string" ? choice.text : "";
      const { text: _text, ...rest } = choice;
      // A chunk's reader takes `delta`, a body's `message`.
      const message = { role: "assistant", content: text };
      if (holdsPrompt(choice.logprobs) && isRecord(choice.logprobs)) {
        return { ...rest, delta: { content: text }, message, logprobs: null, prompt_logprobs: nullableEntries(choice.logprobs) };
      }
      return { ...rest, delta: { content: text }, message, logprobs: chatLogprobs(choice.logprobs) };
    }),
  };
}
