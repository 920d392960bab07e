/** Deterministic prompt text of roughly a given token count (≈ 1.3 tokens per word for this vocabulary). */
const words =
  "the model reads a long passage about rivers mountains cities and the weather before it answers each question with care and detail".split(" ");

export function filler(tokens: number, salt: number): string {
  const count = Math.max(1, Math.round(tokens / 1.3));
  const out: string[] = [`Case ${salt}.`];
  for (let i = 0; i < count; i++) out.push(words[(i * 7 + salt * 13) % words.length] ?? "x");
  return out.join(" ");
}
