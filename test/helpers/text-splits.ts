/** The ways a model's text may arrive in pieces, for parser tests: the result must not depend on them. */
import { seededRandom } from "./random.js";

function randomPieces(text: string, seed: number, maxLength: number): string[] {
  const next = seededRandom(seed);
  const pieces: string[] = [];
  let at = 0;
  while (at < text.length) {
    const length = 1 + Math.floor(next() * maxLength);
    pieces.push(text.slice(at, at + length));
    at += length;
  }
  return pieces;
}

/** Every way of cutting `text` in two, random small pieces, and one piece per character. */
export function textSplits(text: string): string[][] {
  const all: string[][] = [];
  for (let i = 0; i <= text.length; i++) all.push([text.slice(0, i), text.slice(i)]);
  for (let seed = 1; seed <= 12; seed++) all.push(randomPieces(text, seed, 1 + (seed % 6)));
  all.push(Array.from({ length: text.length }, (_, i) => text.charAt(i)));
  return all;
}
