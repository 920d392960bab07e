import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { getLlama, LlamaLogLevel, type Llama, type LlamaModel, type Token } from "node-llama-cpp";
import { TokenBytes } from "../src/engines/llama/token-bytes.js";
import { writeTestModel } from "../src/gguf/test-model.js";
import { foreignLlama2Path, missingSharedFile } from "./helpers/shared-files.js";

/** Made by other tools, outside the checkout: the SPM tests are skipped without it. */
const spmPath = foreignLlama2Path();
const needsSpm = { skip: spmPath === null ? missingSharedFile("models/llama-2-tiny-random.gguf") : false };

let dir: string;
let llama: Llama;
/** The generated model: qwen2 architecture, byte-level BPE (`gpt2`) vocabulary. */
let bpe: LlamaModel;
/** Made elsewhere: llama-2 SentencePiece (`llama`) vocabulary with <0xNN> byte tokens. */
let spm: LlamaModel;

before(async () => {
  dir = await mkdtemp(join(os.tmpdir(), "chatport-token-bytes-"));
  const bpePath = join(dir, "tiny.gguf");
  await writeTestModel({ out: bpePath, shape: "tiny", seed: 1, type: "f16" });
  llama = await getLlama({ gpu: false, logLevel: LlamaLogLevel.error });
  bpe = await llama.loadModel({ modelPath: bpePath, vocabOnly: true });
  if (spmPath !== null) spm = await llama.loadModel({ modelPath: spmPath, vocabOnly: true });
});

after(async () => {
  await bpe?.dispose();
  await spm?.dispose();
  await llama?.dispose();
  await rm(dir, { recursive: true, force: true });
});

const SAMPLES = [
  "hello",
  "The quick brown fox jumps over the lazy dog.",
  " leading space",
  "   three leading spaces and trailing  ",
  "naïve café, Ünïcödé, ÅÆØ, ß, œ",
  "e\u0301 (combining accent)",
  "日本語のテキストと中文和한국어",
  "emoji 🦊 family 👩‍👩‍👧 flag 🇫🇷 skin 👍🏽",
  "tabs\tand\nnewlines\r\n\n\n  indented\n\t\tmore",
  "\nstarts with a newline",
  '{"name": "get_weather", "arguments": {"city": "Paris"}}',
  "control \u0001\u001f del \u007f nbsp\u00a0 soft\u00adhyphen bom\ufeff",
  "Arabic مرحبا and Hebrew שלום",
];

/** Token ids are branded numbers in node-llama-cpp. */
const tok = (id: number): Token => id as Token;

function concatBytes(table: TokenBytes, tokens: readonly Token[]): Buffer {
  return Buffer.concat(tokens.map((t) => table.bytes(t)));
}

/** Checks the whole vocabulary against llama.cpp wherever its single-token text is a whole character sequence. */
function assertMatchesDetokenize(model: LlamaModel, table: TokenBytes, normalise: (ours: string) => string = (s) => s): number {
  let compared = 0;
  for (let id = 0; id < table.size; id++) {
    const token = tok(id);
    const theirs = model.detokenize([token], true);
    const ours = table.text(token);
    if (theirs.includes("\uFFFD")) {
      // Part of a character (or a token that really holds U+FFFD): ours is not whole either.
      assert.ok(ours.includes("\uFFFD"), `token ${token}: llama.cpp gives ${JSON.stringify(theirs)}, we give ${JSON.stringify(ours)}`);
      continue;
    }
    assert.equal(normalise(ours), theirs, `token ${token}`);
    compared++;
  }
  return compared;
}

// --- byte-level BPE (gpt2) -----------------------------------------------------

test("bpe: the bytes of a tokenization are the UTF-8 of the text", () => {
  const table = TokenBytes.fromModel(bpe);
  assert.equal(table.size, 4096);
  for (const text of SAMPLES) {
    const tokens = bpe.tokenize(text);
    assert.deepEqual(concatBytes(table, tokens), Buffer.from(text), JSON.stringify(text));
  }
});

test("bpe: control and user-defined tokens are their text", () => {
  const table = TokenBytes.fromModel(bpe);
  const prompt = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\nhm\n</think>\n\n<tool_call>\n{}\n</tool_call><|endoftext|>";
  const tokens = bpe.tokenize(prompt, true);
  for (const id of [4000, 4001, 4002, 4003, 4004, 4005, 4006]) assert.ok(tokens.includes(tok(id)), `token ${id} in the prompt`);
  assert.deepEqual(concatBytes(table, tokens), Buffer.from(prompt));
  assert.equal(table.text(tok(4002)), "<|im_end|>");
  assert.equal(table.text(tok(4006)), "</think>");
  assert.equal(table.text(tok(4095)), "[PAD4095]");
});

test("bpe: a character split across byte tokens yields its individual bytes", () => {
  const table = TokenBytes.fromModel(bpe);
  const fox = bpe.tokenize("🦊");
  assert.equal(fox.length, 4, "the synthetic vocabulary has no emoji merges");
  assert.deepEqual(fox.map((t) => [...table.bytes(t)]), [[0xf0], [0x9f], [0xa6], [0x8a]]);
  assert.deepEqual(fox.map((t) => table.text(t)), ["\uFFFD", "\uFFFD", "\uFFFD", "\uFFFD"]);
  assert.equal(bpe.detokenize([fox[0]!]), "\uFFFD", "what detokenize cannot tell us");
  // Two-byte characters: é is C3 A9, and each half is its own token.
  const accent = bpe.tokenize("é");
  assert.deepEqual(accent.map((t) => [...table.bytes(t)]), [[0xc3], [0xa9]]);
  // Byte tokens for space and newline map back through GPT-2's shifted characters (Ġ, Ċ).
  assert.deepEqual([...table.bytes(tok(220))], [0x20]);
  assert.deepEqual([...table.bytes(tok(198))], [0x0a]);
});

test("bpe: every token agrees with llama.cpp where its text is whole", () => {
  const table = TokenBytes.fromModel(bpe);
  const compared = assertMatchesDetokenize(bpe, table);
  assert.ok(compared >= 4096 - 128, `compared ${compared}`);
});

// --- SentencePiece (llama) -----------------------------------------------------

test("spm: the bytes of a tokenization are the UTF-8 of the text, after llama.cpp's prefix space", needsSpm, () => {
  const table = TokenBytes.fromModel(spm);
  assert.equal(table.size, 32000);
  for (const text of SAMPLES) {
    // llama.cpp's SentencePiece tokenizer always prepends a space (add_space_prefix): "hello" is "▁hello".
    assert.deepEqual(concatBytes(table, spm.tokenize(text)), Buffer.from(` ${text}`), JSON.stringify(text));
    // node-llama-cpp can tokenize without it, as for text continuing a prompt. Except that for text
    // starting with "\n" it keeps the "▁" token: its check goes through detokenize, which hides that space.
    const trimmed = text.startsWith("\n") ? ` ${text}` : text;
    assert.deepEqual(concatBytes(table, spm.tokenize(text, false, "trimLeadingSpace")), Buffer.from(trimmed), `trimmed ${JSON.stringify(text)}`);
  }
  const [hello] = spm.tokenize("hello");
  assert.equal(table.text(hello!), " hello", "▁ is a space");
  assert.equal(spm.detokenize([hello!]), "hello", "detokenize drops the leading space of the first token");
});

test("spm: byte tokens, control and unknown tokens", needsSpm, () => {
  const table = TokenBytes.fromModel(spm);
  const fox = spm.tokenize("🦊", false, "trimLeadingSpace");
  assert.deepEqual(fox.map((t) => spm.fileInfo.metadata.tokenizer.ggml.tokens[t]), ["<0xF0>", "<0x9F>", "<0xA6>", "<0x8A>"]);
  assert.deepEqual(fox.map((t) => [...table.bytes(t)]), [[0xf0], [0x9f], [0xa6], [0x8a]]);
  assert.deepEqual(fox.map((t) => table.text(t)), ["\uFFFD", "\uFFFD", "\uFFFD", "\uFFFD"]);
  assert.deepEqual([...table.bytes(tok(13))], [0x0a], "<0x0A>");
  assert.deepEqual([...table.bytes(tok(35))], [0x20], "<0x20>");
  assert.equal(table.text(tok(0)), "<unk>");
  assert.equal(table.text(tok(1)), "<s>");
  assert.equal(table.text(tok(2)), "</s>");
  assert.deepEqual(concatBytes(table, spm.tokenize("<s>hi</s>", true)), Buffer.from("<s> hi</s>"));
});

test("spm: every token agrees with llama.cpp where its text is whole", needsSpm, () => {
  const table = TokenBytes.fromModel(spm);
  // llama.cpp drops the leading space of the first detokenized token (SentencePiece's prefix space).
  const compared = assertMatchesDetokenize(spm, table, (ours) => ours.replace(/^ /, ""));
  assert.ok(compared >= 32000 - 130, `compared ${compared}`);
});

// --- contract -----------------------------------------------------------------

test("bytes() returns a copy; ids outside the vocabulary are a RangeError", () => {
  const table = TokenBytes.fromModel(bpe);
  const [hello] = bpe.tokenize("hello");
  const first = table.bytes(hello!);
  first.fill(0);
  assert.deepEqual(Buffer.from(table.bytes(hello!)), Buffer.from("hello"));
  for (const bad of [-1, 4096, 1.5, Number.NaN]) {
    assert.throws(() => table.bytes(tok(bad)), RangeError, String(bad));
    assert.throws(() => table.text(tok(bad)), RangeError, String(bad));
  }
});

test("other tokenizers fall back to llama.cpp's text of the token", () => {
  // A model whose metadata names a tokenizer we do not decode ourselves; detokenize is the real model's.
  const calls: Token[] = [];
  const fake = {
    fileInfo: { metadata: { tokenizer: { ggml: { model: "rwkv", tokens: ["a", "b", "c", "d"], token_type: [1, 1, 1, 1] } } } },
    detokenize(tokens: readonly Token[], specialTokens?: boolean): string {
      calls.push(...tokens);
      return tokens[0] === 3 ? "\uFEFF" : bpe.detokenize(tokens, specialTokens);
    },
  };
  const table = TokenBytes.fromModel(fake as unknown as LlamaModel);
  assert.equal(table.size, 4);
  assert.deepEqual([...table.bytes(tok(0))], [...Buffer.from(bpe.detokenize([tok(0)], true))]);
  assert.equal(table.text(tok(1)), bpe.detokenize([tok(1)], true));
  assert.equal(table.text(tok(1)), table.text(tok(1)));
  assert.deepEqual(calls, [0, 1], "computed once, then cached");
  assert.equal(table.text(tok(3)), "\uFEFF", "a byte-order mark is kept, not swallowed by the decoder");
  assert.throws(() => table.bytes(tok(4)), RangeError, "never asks llama.cpp about an id outside the vocabulary");
});
