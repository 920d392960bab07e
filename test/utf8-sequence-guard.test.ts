/**
 * Under a grammar the byte after an open E0, ED, F0 or F4 lead is in its
 * narrowed range: the guard's byte rules; on a real vocabulary, that llama.cpp's
 * grammar itself lets an overlong continuation through (the bug) and the guard
 * bans it; and that sampling under a grammar with the guard never writes
 * ill-formed UTF-8.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { getLlama, LlamaGrammarEvaluationState, LlamaLogLevel, type Token } from "node-llama-cpp";
import { grammarProbeOf } from "../src/engines/llama/grammar-token-boost.js";
import { grammarSamplingBias } from "../src/engines/llama/grammar-sampling-bias.js";
import { responseFormatGbnf } from "../src/engines/llama/response-grammar.js";
import { TokenBytes } from "../src/engines/llama/token-bytes.js";
import { bannedAfterLead, mayFollowLead, openLeadAfter, secondByteRange } from "../src/engines/llama/utf8-sequence-guard.js";
import type { SamplingParams } from "../src/protocol/chat-request.js";
import { tinyModelPath } from "./helpers/models.js";

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

test("the lead bytes whose second byte is narrowed, and when one is left open", () => {
  assert.deepEqual(secondByteRange(0xf0), [0x90, 0xbf]);
  assert.deepEqual(secondByteRange(0xe0), [0xa0, 0xbf]);
  assert.deepEqual(secondByteRange(0xed), [0x80, 0x9f]);
  assert.deepEqual(secondByteRange(0xf4), [0x80, 0x8f]);
  assert.equal(secondByteRange(0xc3), null);
  assert.equal(secondByteRange(0xf1), null);
  assert.equal(openLeadAfter(0, bytes(0xf0)), 0xf0);
  assert.equal(openLeadAfter(0, bytes(0x61, 0xed)), 0xed, "a token that ends in the lead");
  assert.equal(openLeadAfter(0xf0, bytes(0x9f)), 0, "the second byte came");
  assert.equal(openLeadAfter(0, utf8("abc")), 0);
  assert.equal(openLeadAfter(0xf0, new Uint8Array()), 0xf0, "an empty token changes nothing");
});

test("what may follow an open lead", () => {
  assert.equal(mayFollowLead(0xf0, bytes(0x8c, 0xa6, 0xa6)), false, "the case that broke maxLength: F0 8C is overlong");
  assert.equal(mayFollowLead(0xf0, bytes(0x9f, 0x98, 0x80)), true);
  assert.equal(mayFollowLead(0xed, bytes(0xa0, 0x80)), false, "a surrogate half");
  assert.equal(mayFollowLead(0xe0, bytes(0x80)), false, "overlong");
  assert.equal(mayFollowLead(0xf4, bytes(0x90)), false, "past U+10FFFF");
  assert.equal(mayFollowLead(0xf0, utf8(" draw")), true, "not a continuation: llama.cpp rejects it by itself");
  assert.equal(mayFollowLead(0, bytes(0x80)), true, "nothing open");
});

test("on a real vocabulary: llama.cpp's grammar lets an overlong continuation through, and the guard bans it", async () => {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: await tinyModelPath() });
  try {
    const vocab = TokenBytes.fromModel(model);
    const probe = grammarProbeOf(model);
    // The pinned node-llama-cpp has it; an upgrade that drops it must fail here, not skip.
    assert.ok(probe !== null, "node-llama-cpp's single-token grammar check is there");
    const single = (byte: number): Token => {
      for (let token = 0; token < vocab.size; token++) {
        const b = vocab.bytes(token as Token);
        if (b.length === 1 && b[0] === byte) return token as Token;
      }
      throw new Error(`no token for byte ${byte}`);
    };
    const grammar = await llama.createGrammar({ grammar: String.raw`root ::= "\"" [\x20-\x21\x23-\x5B\x5D-\x7E\x80-\uD7FF\uE000-\U0010FFFF]{0,12} "\""` });
    const state = new LlamaGrammarEvaluationState({ model, grammar });
    const accept = (token: Token): void => {
      assert.ok(probe(state, token));
      (model.llama as unknown as { _bindings: { AddonSampler: { acceptGrammarEvaluationStateToken(s: unknown, t: number): void } } })._bindings.AddonSampler.acceptGrammarEvaluationStateToken(
        (state as unknown as { _state: unknown })._state,
        token,
      );
    };
    accept(single(0x22));
    accept(single(0xf0));
    assert.equal(probe(state, single(0x20)), false, "llama.cpp rejects a byte that continues nothing");
    assert.equal(probe(state, single(0x8c)), true, "but takes F0 8C, an overlong form, as a character");
    const banned = new Set(bannedAfterLead(vocab, 0xf0));
    assert.ok(banned.has(single(0x8c)) && !banned.has(single(0x9f)), "the guard bans 8C and lets 9F through");
    assert.ok(banned.size < 256, `a short list (${banned.size}), not the vocabulary`);
    assert.deepEqual(bannedAfterLead(vocab, 0), [], "nothing open: nothing banned");
  } finally {
    await model.dispose();
  }
});

test("sampling under a grammar with the guard writes well-formed UTF-8 (seeds where llama.cpp alone wrote F0 8C …)", async () => {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: await tinyModelPath() });
  const context = await model.createContext({ contextSize: 512, sequences: 1, threads: 1 });
  try {
    const sequence = context.getSequence();
    const vocab = TokenBytes.fromModel(model);
    const name = { type: "string", maxLength: 12 };
    const schema = { type: "object", properties: { name, sub: { type: "array", maxItems: 2, items: { type: "object", properties: { name }, required: ["name"], additionalProperties: false } } }, required: ["name", "sub"], additionalProperties: false };
    const grammar = await llama.createGrammar({ grammar: responseFormatGbnf({ type: "json_schema", name: "s", strict: true, schema })! });
    const prompt = model.tokenize("JSON:");
    const sampling = { logitBias: new Map(), repetitionPenalty: 1 } as unknown as SamplingParams;
    const decoder = new TextDecoder("utf-8", { fatal: true });
    // Without the guard (only the malformed-token ban), seeds 112, 115 and 124 wrote an overlong F0 8x sequence.
    for (const seed of [112, 115, 124, 179, 191, 194]) {
      await sequence.eraseContextTokenRanges([{ start: 0, end: sequence.nextTokenIndex }]);
      const state = new LlamaGrammarEvaluationState({ model, grammar });
      const bias = grammarSamplingBias(model, vocab, sampling, false);
      const tokens: Token[] = [];
      const iterator = sequence.evaluateWithMetadata(prompt, {}, { temperature: 1, topK: null as unknown as undefined, topP: 1, minP: 0, seed, grammarEvaluationState: state, tokenBias: () => bias.bias(state), yieldEogToken: true });
      let step = await iterator.next();
      while (!step.done && tokens.length < 200 && !model.isEogToken(step.value.token)) {
        tokens.push(step.value.token);
        bias.accept(step.value.token);
        step = await iterator.next();
      }
      await iterator.return();
      const written = Buffer.concat(tokens.map((token) => vocab.bytes(token)));
      assert.doesNotThrow(() => decoder.decode(written), `seed ${seed}: ${written.toString("hex")}`);
    }
  } finally {
    await context.dispose();
    await model.dispose();
  }
});
