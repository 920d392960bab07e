/** Token chains of a test model (`make-test-model --chain`): texts → steps, and what is refused. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { buildBpeVocab, TokenType } from "../src/gguf/bpe-vocab.js";
import { chainSteps } from "../src/gguf/token-chains.js";

const vocab = buildBpeVocab({ size: 4096, seed: 1, regularTokens: 4000, specialTokens: ["<s>", "<think>", "</think>"].map((text) => ({ text, type: TokenType.CONTROL })) });
const id = (text: string): number => vocab.specialIds.get(text) ?? vocab.tokens.indexOf(text.replace(/^ /, "Ġ"));

test("special and regular tokens, as plain text, become steps from each token to the next", () => {
  const steps = chainSteps(vocab, [["<s>", "<think>", " think"], ["</think>", " answer", "<s>"]]);
  assert.deepEqual(steps, [
    { from: id("<s>"), to: id("<think>") },
    { from: id("<think>"), to: id(" think") },
    { from: id("</think>"), to: id(" answer") },
    { from: id(" answer"), to: id("<s>") },
  ]);
  assert.ok(steps.every((s) => s.from >= 0 && s.to >= 0));
});

test("two chains may lead into the same token, but a token has one successor", () => {
  assert.equal(chainSteps(vocab, [["<think>", " answer"], ["</think>", " answer"]]).length, 2);
  assert.throws(() => chainSteps(vocab, [["<think>", " answer"], ["<think>", " think"]]), /followed by two different tokens/);
});

test("a text that is not one token of the vocabulary, or a chain of one token, is refused", () => {
  assert.throws(() => chainSteps(vocab, [["<s>", " no-such-token-here"]]), /not one token/);
  assert.throws(() => chainSteps(vocab, [["<s>"]]), /at least two tokens/);
});
