/**
 * An upstream's legacy completions (`text_completion` bodies and chunks) in
 * the chat shape the {@link ResponseDecoder} reads: each choice's `text`
 * becomes content (a chunk's `delta`, a body's `message`), legacy logprobs
 * (`tokens`, `token_logprobs`, `top_logprobs` dicts) become logprob entries.
 * Anything else passes unchanged.
 */
type JsonRecord = Record<string, unknown>;

const isRecord = (value: unknown): value is JsonRecord => typeof value === "object" && value !== null && !Array.isArray(value);

/** Legacy logprobs → `{content: [{token, logprob, top_logprobs}]}`; a token whose logprob is null (an echoed prompt's first) is left out. */
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
      return { ...rest, delta: { content: text }, message: { role: "assistant", content: text }, logprobs: chatLogprobs(choice.logprobs) };
    }),
  };
}
