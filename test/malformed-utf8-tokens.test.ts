/**
 * Tokens that can never be part of valid UTF-8 are known (and banned under a
 * grammar): llama.cpp's grammar engine reads them leniently as characters the
 * grammar allows, while the client's text gets U+FFFD for each byte.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { getLlama, LlamaLogLevel, type Token } from "node-llama-cpp";
import { canBePartOfUtf8, malformedUtf8Tokens } from "../src/engines/llama/malformed-utf8-tokens.js";
import { TokenBytes } from "../src/engines/llama/token-bytes.js";
import { tinyModelPath } from "./helpers/models.js";

const b = (...bytes: number[]): Uint8Array => Uint8Array.from(bytes);

test("byte sequences that can occur inside well-formed UTF-8, and those that cannot", () => {
  for (const ok of [b(0x41), b(0xc3, 0xa9), b(0xa9), b(0xe0), b(0xe0, 0xa4), b(0x9f, 0x98, 0x80), b(0xf0, 0x9f), b(0xed, 0x9f, 0xbf)]) {
    assert.equal(canBePartOfUtf8(ok), true, [...ok].map((x) => x.toString(16)).join(" "));
  }
  for (const bad of [b(0xc1, 0x81), b(0xc0), b(0xff), b(0xf5), b(0xe0, 0x80), b(0xed, 0xa0, 0x80), b(0xf0, 0x80), b(0xf4, 0x90), b(0x41, 0x80), b(0x80, 0x80, 0x80, 0x80)]) {
    assert.equal(canBePartOfUtf8(bad), false, [...bad].map((x) => x.toString(16)).join(" "));
  }
});

test("the test model's byte tokens for C0, C1 and F5–FF are found", async () => {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: await tinyModelPath() });
  try {
    const bytes = TokenBytes.fromModel(model);
    const banned = new Set(malformedUtf8Tokens(bytes));
    const single = (byte: number): Token | undefined => {
      for (let t = 0; t < bytes.size; t++) {
        const tb = bytes.bytes(t as Token);
        if (tb.length === 1 && tb[0] === byte) return t as Token;
      }
      return undefined;
    };
    for (const byte of [0xc0, 0xc1, 0xf5, 0xff]) {
      const token = single(byte);
      assert.ok(token !== undefined && banned.has(token), `byte ${byte.toString(16)}`);
    }
    for (const byte of [0x41, 0xc3, 0xe0, 0x80]) {
      const token = single(byte);
      assert.ok(token !== undefined && !banned.has(token), `byte ${byte.toString(16)} is allowed`);
    }
  } finally {
    await model.dispose();
  }
});
