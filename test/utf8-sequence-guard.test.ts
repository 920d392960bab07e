/**
 * Under a grammar a character begun in one token is finished by the next:
 * the guard's byte rules, and on a real vocabulary the tokens it bans while a
 * lead byte waits for its continuation.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { getLlama, LlamaLogLevel, type Token } from "node-llama-cpp";
import { TokenBytes } from "../src/engines/llama/token-bytes.js";
import { bannedWhenOwing, mayFollow, owedAfter } from "../src/engines/llama/utf8-sequence-guard.js";
import { tinyModelPath } from "./helpers/models.js";

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

test("continuation bytes owed after a token", () => {
  assert.equal(owedAfter(0, utf8("abc")), 0);
  assert.equal(owedAfter(0, bytes(0xf0)), 3, "a four-byte lead");
  assert.equal(owedAfter(3, bytes(0x9f, 0x98)), 1);
  assert.equal(owedAfter(1, bytes(0x80)), 0);
  assert.equal(owedAfter(0, utf8("é")), 0, "a whole character");
  assert.equal(owedAfter(0, bytes(0x61, 0xe2, 0x82)), 1, "ends mid-character");
});

test("what may follow an open character", () => {
  assert.equal(mayFollow(3, utf8(" draw")), false, "the case that broke maxLength: a lead byte, then ASCII");
  assert.equal(mayFollow(3, bytes(0x9f, 0x98, 0x80)), true);
  assert.equal(mayFollow(1, bytes(0x80, 0x61)), true, "finishes the character, then a new one");
  assert.equal(mayFollow(1, bytes(0x80, 0x80)), false, "one continuation byte too many");
  assert.equal(mayFollow(0, bytes(0x80)), false, "a stray continuation byte");
  assert.equal(mayFollow(0, utf8("x")), true);
  assert.equal(mayFollow(2, new Uint8Array()), true, "special tokens have no bytes");
});

test("on a real vocabulary: nothing but continuation tokens may follow a lead byte", async () => {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: await tinyModelPath() });
  try {
    const vocab = TokenBytes.fromModel(model);
    const banned = new Set(bannedWhenOwing(vocab, 3));
    let allowed = 0;
    for (let token = 0; token < vocab.size; token++) {
      const b = vocab.bytes(token as Token);
      if (banned.has(token as Token)) continue;
      allowed++;
      assert.ok(b.length === 0 || (b[0]! & 0xc0) === 0x80, `token ${token} may follow a lead byte`);
    }
    assert.ok(allowed > 0 && banned.size > allowed, `${allowed} allowed, ${banned.size} banned`);
    assert.ok(bannedWhenOwing(vocab, 0).length < vocab.size / 2, "with nothing owed only stray continuations are banned");
  } finally {
    await model.dispose();
  }
});
