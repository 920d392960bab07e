import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { Template } from "@huggingface/jinja";
import { CommanderError } from "commander";
import {
  getLlama,
  JinjaTemplateChatWrapper,
  LlamaLogLevel,
  readGgufFileInfo,
  type Llama,
  type LlamaModel,
} from "node-llama-cpp";
import { makeTestModelCommand } from "../src/cli/make-test-model-command.js";
import { CHATML_THINKING_TOOLS_TEMPLATE, CHATML_TOOLS_TEMPLATE } from "../src/gguf/chatml-template.js";
import { buildBpeVocab, SPECIAL_TOKENS, TokenType, toByteLevel } from "../src/gguf/bpe-vocab.js";
import { GgmlType, gguf, layoutGguf, writeGgufFile, type GgufTensorSpec } from "../src/gguf/gguf-writer.js";
import { f16BitsToF32, f32ToF16Bits, Xoshiro128 } from "../src/gguf/random-weights.js";
import { Q4_0_FORMAT, Q4_K_FORMAT, Q5_0_FORMAT, Q6_K_FORMAT, randomQuantBlocks } from "../src/gguf/random-quant-blocks.js";
import { TEST_MODEL_SHAPES, testModelTensors, writeTestModel } from "../src/gguf/test-model.js";

const threads = os.availableParallelism();
let dir: string;
let tinyPath: string;
let llama: Llama | undefined;
let tinyModel: LlamaModel | undefined;

before(async () => {
  dir = await mkdtemp(join(os.tmpdir(), "chatport-make-test-model-"));
  tinyPath = join(dir, "tiny.gguf");
  await writeTestModel({ out: tinyPath, shape: "tiny", seed: 1, type: "f16" });
});

after(async () => {
  await tinyModel?.dispose();
  await llama?.dispose();
  await rm(dir, { recursive: true, force: true });
});

async function getTestLlama(): Promise<Llama> {
  llama ??= await getLlama({ gpu: false, logLevel: LlamaLogLevel.error });
  return llama;
}

async function getTinyModel(): Promise<LlamaModel> {
  tinyModel ??= await (await getTestLlama()).loadModel({ modelPath: tinyPath });
  return tinyModel;
}

async function sha256(path: string): Promise<string> {
  return createHash("sha256").update(await readFile(path)).digest("hex");
}

/** Hash of the tensor data only (the metadata names the seed, so whole files always differ). */
async function dataSha256(path: string): Promise<string> {
  const info = await readGgufFileInfo(path, { readTensorInfo: true, logWarnings: false });
  return createHash("sha256").update((await readFile(path)).subarray(info.infoEndOffset)).digest("hex");
}

/** Metadata as a flat "a.b.c" -> value record (node-llama-cpp nests keys by dots). */
function flatten(value: unknown, prefix = "", out: Record<string, unknown> = {}): Record<string, unknown> {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out[prefix] = value;
  }
  return out;
}

const bytesOf = (values: number[]): GgufTensorSpec["writeData"] => async (sink) => sink.write(Uint8Array.from(values));

// --- vocabulary ------------------------------------------------------------

test("bpe vocabulary: exact size, unique tokens, every merge built from earlier tokens", () => {
  const vocab = buildBpeVocab({ size: 4096, seed: 3, regularTokens: 4000 });
  assert.equal(vocab.tokens.length, 4096);
  assert.equal(vocab.tokenTypes.length, 4096);
  assert.equal(new Set(vocab.tokens).size, 4096, "token texts are unique");
  assert.equal(vocab.merges.length, 4000 - 256);
  // GPT-2 byte order: "!" first, newline "Ċ" at 198, space "Ġ" at 220.
  assert.equal(vocab.tokens[0], "!");
  assert.equal(vocab.tokens[198], "Ċ");
  assert.equal(vocab.tokens[220], "Ġ");
  const seen = new Map<string, number>(vocab.tokens.slice(0, 256).map((t, i) => [t, i]));
  vocab.merges.forEach((merge, i) => {
    const parts = merge.split(" ");
    assert.equal(parts.length, 2, `merge ${merge} has two parts`);
    const [left, right] = parts as [string, string];
    assert.ok(seen.has(left) && seen.has(right), `merge ${i} (${merge}) uses existing tokens`);
    assert.equal(vocab.tokens[256 + i], left + right, "merge i creates token 256 + i");
    seen.set(left + right, 256 + i);
  });
  SPECIAL_TOKENS.forEach((special, i) => {
    assert.equal(vocab.tokens[4000 + i], special.text);
    assert.equal(vocab.tokenTypes[4000 + i], special.type);
  });
  assert.deepEqual(vocab.special, {
    endOfText: 4000, imStart: 4001, imEnd: 4002, toolCallStart: 4003, toolCallEnd: 4004, thinkStart: 4005, thinkEnd: 4006,
  });
  for (let id = 4007; id < 4096; id++) {
    assert.equal(vocab.tokens[id], `[PAD${id}]`);
    assert.equal(vocab.tokenTypes[id], TokenType.CONTROL);
  }
  // Frequent English words are single tokens.
  for (const word of [" the", " and", " function", "The"]) assert.ok(seen.has(toByteLevel(word)), `${JSON.stringify(word)} is a token`);
});

test("bpe vocabulary: deterministic for a seed", () => {
  const a = buildBpeVocab({ size: 2000, seed: 5 });
  const b = buildBpeVocab({ size: 2000, seed: 5 });
  const c = buildBpeVocab({ size: 2000, seed: 6 });
  assert.deepEqual(a.merges, b.merges);
  assert.notDeepEqual(a.merges, c.merges);
  assert.throws(() => buildBpeVocab({ size: 200, seed: 1 }), RangeError);
});

test("f16 conversion rounds to nearest even and handles the edges", () => {
  assert.equal(f32ToF16Bits(1), 0x3c00);
  assert.equal(f32ToF16Bits(-2), 0xc000);
  assert.equal(f32ToF16Bits(65504), 0x7bff);
  assert.equal(f32ToF16Bits(1e6), 0x7c00);
  assert.equal(f32ToF16Bits(2 ** -24), 0x0001);
  assert.equal(f32ToF16Bits(1 + 2 ** -11), 0x3c00, "a tie rounds to even");
  assert.equal(f32ToF16Bits(1 + 3 * 2 ** -11), 0x3c02);
  for (const v of [0.02, -0.5, 3.140625, 6.1e-5]) assert.ok(Math.abs(f16BitsToF32(f32ToF16Bits(v)) - v) <= Math.abs(v) * 2 ** -11);
});

// --- GGUF writer -------------------------------------------------------------

test("gguf writer: every metadata type and tensor reads back through node-llama-cpp", async () => {
  const path = join(dir, "types.gguf");
  const f32 = new Float32Array([1.5, -2, 3.25]);
  const tensors: GgufTensorSpec[] = [
    { name: "a", dims: [3], type: GgmlType.F32, writeData: async (sink) => sink.write(new Uint8Array(f32.buffer)) },
    { name: "b", dims: [4, 2], type: GgmlType.F16, writeData: bytesOf(Array.from({ length: 16 }, (_, i) => i)) },
    { name: "c", dims: [32], type: GgmlType.Q8_0, writeData: bytesOf(Array.from({ length: 34 }, (_, i) => 100 + i)) },
  ];
  const { bytes } = await writeGgufFile({
    path,
    metadata: [
      ["general.architecture", gguf.string("llama")],
      ["t.u8", gguf.u8(255)],
      ["t.i8", gguf.i8(-128)],
      ["t.u16", gguf.u16(65535)],
      ["t.i16", gguf.i16(-32768)],
      ["t.u32", gguf.u32(4294967295)],
      ["t.i32", gguf.i32(-2147483648)],
      ["t.u64", gguf.u64(2n ** 40n)],
      ["t.i64", gguf.i64(-(2n ** 40n))],
      ["t.f32", gguf.f32(0.5)],
      ["t.f64", gguf.f64(Math.PI)],
      ["t.yes", gguf.bool(true)],
      ["t.no", gguf.bool(false)],
      ["t.text", gguf.string("héllo ✓ 日本")],
      ["t.strings", gguf.array("string", ["a", "", "ĠĊ"])],
      ["t.ints", gguf.array("i32", Int32Array.from([1, -2, 3]))],
      ["t.bools", gguf.array("bool", [true, false])],
    ],
    tensors,
  });
  assert.equal((await stat(path)).size, bytes);
  assert.equal(bytes % 32, 0);

  const info = await readGgufFileInfo(path, { readTensorInfo: true, logWarnings: false });
  assert.equal(info.version, 3);
  const md = flatten(info.metadata);
  assert.equal(md["t.u8"], 255);
  assert.equal(md["t.i8"], -128);
  assert.equal(md["t.u16"], 65535);
  assert.equal(md["t.i16"], -32768);
  assert.equal(md["t.u32"], 4294967295);
  assert.equal(md["t.i32"], -2147483648);
  assert.equal(BigInt(md["t.u64"] as bigint), 2n ** 40n);
  assert.equal(BigInt(md["t.i64"] as bigint), -(2n ** 40n));
  assert.equal(md["t.f32"], 0.5);
  assert.equal(md["t.f64"], Math.PI);
  assert.equal(md["t.yes"], true);
  assert.equal(md["t.no"], false);
  assert.equal(md["t.text"], "héllo ✓ 日本");
  assert.deepEqual(md["t.strings"], ["a", "", "ĠĊ"]);
  assert.deepEqual(md["t.ints"], [1, -2, 3]);
  assert.deepEqual(md["t.bools"], [true, false]);

  const infos = info.tensorInfo ?? [];
  assert.deepEqual(infos.map((t) => [t.name, t.dimensions.map(Number), t.ggmlType]), [
    ["a", [3], 0],
    ["b", [4, 2], 1],
    ["c", [32], 8],
  ]);
  // The data section starts aligned, and every tensor starts at an aligned offset.
  const dataStart = info.infoEndOffset ?? 0;
  assert.equal(dataStart % 32, 0);
  const file = await readFile(path);
  for (const t of infos) assert.equal(Number(t.offset) % 32, 0);
  assert.deepEqual(new Float32Array(file.buffer.slice(file.byteOffset + dataStart, file.byteOffset + dataStart + 12)), f32);
  const cAt = dataStart + Number(infos[2]!.offset);
  assert.equal(file[cAt], 100);
  assert.equal(file[cAt + 33], 133);
});

test("gguf writer: custom alignment is recorded; bad producers leave no file behind", async () => {
  const layout = layoutGguf([["general.architecture", gguf.string("llama")]], [{ name: "w", dims: [8], type: GgmlType.F32 }], 64);
  assert.equal(layout.alignment, 64);
  assert.equal(layout.header.length % 64, 0);
  assert.equal(layout.totalBytes % 64, 0);
  assert.ok(Buffer.from(layout.header).includes("general.alignment"));
  assert.throws(() => layoutGguf([], [{ name: "q", dims: [33], type: GgmlType.Q8_0 }]), /multiple of 32/);
  assert.throws(() => layoutGguf([["k", gguf.u8(1)], ["k", gguf.u8(2)]], []), /duplicate/);
  assert.throws(() => layoutGguf([["k", gguf.u8(256)]], []), RangeError);

  for (const size of [3, 5]) {
    const path = join(dir, `bad-${size}.gguf`);
    await assert.rejects(
      writeGgufFile({ path, metadata: [], tensors: [{ name: "x", dims: [4], type: GgmlType.F32, writeData: bytesOf(new Array<number>(size * 4).fill(0)) }] }),
      /tensor x wrote/,
    );
    await assert.rejects(stat(path), { code: "ENOENT" });
    await assert.rejects(stat(`${path}.tmp`), { code: "ENOENT" });
  }
});

// --- generated models --------------------------------------------------------

test("same seed and options give identical bytes; another seed or type does not", async () => {
  const again = join(dir, "tiny-again.gguf");
  const seed2 = join(dir, "tiny-seed2.gguf");
  const q8a = join(dir, "tiny-q8-a.gguf");
  const q8b = join(dir, "tiny-q8-b.gguf");
  await writeTestModel({ out: again, shape: "tiny", seed: 1, type: "f16" });
  await writeTestModel({ out: seed2, shape: "tiny", seed: 2, type: "f16" });
  await writeTestModel({ out: q8a, shape: "tiny", seed: 1, type: "q8_0" });
  await writeTestModel({ out: q8b, shape: "tiny", seed: 1, type: "q8_0" });
  const hash = await sha256(tinyPath);
  assert.equal(await sha256(again), hash);
  assert.notEqual(await dataSha256(seed2), await dataSha256(tinyPath), "the weights depend on the seed");
  assert.equal(await sha256(q8a), await sha256(q8b));
  assert.notEqual(await dataSha256(q8a), await dataSha256(tinyPath));
  await assert.rejects(stat(`${again}.tmp`), { code: "ENOENT" });
});

test("tiny model: metadata and tensor shapes", async () => {
  const info = await readGgufFileInfo(tinyPath, { readTensorInfo: true, logWarnings: false });
  const md = flatten(info.metadata);
  const shape = TEST_MODEL_SHAPES.tiny;
  assert.equal(md["general.architecture"], "qwen2");
  assert.equal(md["general.file_type"], 1);
  assert.equal(md["qwen2.embedding_length"], shape.hidden);
  assert.equal(md["qwen2.block_count"], shape.blocks);
  assert.equal(md["qwen2.attention.head_count_kv"], shape.kvHeads);
  assert.equal(md["qwen2.context_length"], shape.context);
  assert.equal(md["tokenizer.ggml.model"], "gpt2");
  assert.equal(md["tokenizer.ggml.pre"], "qwen2");
  assert.equal(md["tokenizer.ggml.add_bos_token"], false);
  assert.equal((md["tokenizer.ggml.tokens"] as string[]).length, shape.vocab);
  assert.equal(md["tokenizer.ggml.eos_token_id"], 4002);
  const tensors = new Map((info.tensorInfo ?? []).map((t) => [t.name, t]));
  assert.equal(tensors.size, 1 + shape.blocks * 12 + 1);
  assert.equal(tensors.has("output.weight"), false, "embeddings are tied");
  assert.deepEqual(tensors.get("token_embd.weight")?.dimensions.map(Number), [64, 4096]);
  assert.deepEqual(tensors.get("blk.1.attn_k.weight")?.dimensions.map(Number), [64, 32]);
  assert.deepEqual(tensors.get("blk.1.ffn_down.weight")?.dimensions.map(Number), [256, 64]);
  assert.equal(tensors.get("blk.0.attn_q.bias")?.ggmlType, 0);
});

test("tiny model: tokenize -> detokenize round-trips arbitrary UTF-8", async () => {
  const model = await getTinyModel();
  const samples = [
    "hello",
    "The quick brown fox jumps over the lazy dog.",
    "  leading, trailing and   inner spaces  ",
    "naïve café, Ünïcödé, ÅÆØ, ß, œ",
    "日本語のテキストと中文和한국어",
    "emoji 🦊 family 👩‍👩‍👧 flag 🇫🇷 skin 👍🏽",
    "tabs\tand\nnewlines\r\n\n\n  indented\n\t\tmore",
    '{"name": "get_weather", "arguments": {"city": "Paris"}}',
    "digits 0123456789 and 3.14159e-10",
    "control \u0001\u001f and del \u007f, nbsp\u00a0, soft\u00adhyphen",
    "Arabic مرحبا and Hebrew שלום, combining e\u0301",
  ];
  for (const text of samples) {
    const tokens = model.tokenize(text);
    assert.equal(model.detokenize(tokens), text, `round trip of ${JSON.stringify(text)}`);
  }
  const english = "The people of the world would come back, and they said that it was a good day.";
  assert.ok(model.tokenize(english).length * 2.5 < Buffer.byteLength(english), "English text compresses");
});

test("tiny model: special tokens", async () => {
  const model = await getTinyModel();
  assert.deepEqual(model.tokenize("<|im_start|>", true), [4001]);
  assert.deepEqual(model.tokenize("<|im_end|>", true), [4002]);
  assert.deepEqual(model.tokenize("<|endoftext|>", true), [4000]);
  assert.ok(model.tokenize("<|im_end|>", false).length > 1, "control tokens are plain text without specialTokens");
  // User-defined tokens are matched in any text (llama.cpp always splits them out).
  assert.deepEqual(model.tokenize("<tool_call>", false), [4003]);
  assert.deepEqual(model.tokenize("</think>", false), [4006]);
  assert.equal(model.tokens.eos, 4002);
  assert.equal(model.tokens.bos, 4000);
  const prompt = "<|im_start|>user\nHi<|im_end|>\n";
  assert.equal(model.detokenize(model.tokenize(prompt, true), true), prompt);
});

test("tiny model: the chat template renders ChatML through node-llama-cpp", async () => {
  const model = await getTinyModel();
  const template = model.fileInfo.metadata.tokenizer.chat_template;
  assert.ok(typeof template === "string" && template.length > 0);
  const wrapper = new JinjaTemplateChatWrapper({ template });
  const plain = wrapper.generateContextState({
    chatHistory: [
      { type: "system", text: "You are terse." },
      { type: "user", text: "Hi" },
      { type: "model", response: ["Hello!"] },
      { type: "user", text: "Bye" },
      { type: "model", response: [] },
    ],
  });
  assert.equal(
    plain.contextText.toString(),
    "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n" +
      "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n",
  );
  const tokens = plain.contextText.tokenize(model.tokenizer);
  assert.equal(tokens[0], 4001, "the turn marker is the special token");

  // Tools: node-llama-cpp recovers the Hermes-style call syntax from the template itself.
  assert.equal(wrapper.usingJinjaFunctionCallTemplate, true);
  const withTools = wrapper.generateContextState({
    chatHistory: [
      { type: "user", text: "Weather in Paris?" },
      { type: "model", response: [{ type: "functionCall", name: "get_weather", params: { city: "Paris" }, result: { temp: 21 } }, "21 degrees."] },
    ],
    availableFunctions: { get_weather: { description: "Current weather", params: { type: "object", properties: { city: { type: "string" } } } } },
  }).contextText.toString();
  assert.match(withTools, /^<\|im_start\|>system\n# Tools\n[\s\S]*<tools>\n\{"type": "function", "function": \{"name": "get_weather"/);
  assert.ok(withTools.includes('<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>\n'));
  assert.ok(withTools.includes("<|im_start|>user\n<tool_response>\n{\"temp\": 21}\n</tool_response><|im_end|>\n"));
});

test("tiny model: generates varied tokens with evaluate", async () => {
  const model = await getTinyModel();
  const context = await model.createContext({ contextSize: 256, threads });
  try {
    const prompt = model.tokenize("<|im_start|>user\nTell me a story.<|im_end|>\n<|im_start|>assistant\n", true);
    const sample = async (options: { temperature: number; seed?: number }): Promise<number[]> => {
      const sequence = context.getSequence();
      const out: number[] = [];
      try {
        for await (const token of sequence.evaluate(prompt, options)) {
          out.push(token);
          if (out.length >= 16) break;
        }
      } finally {
        sequence.dispose();
      }
      return out;
    };
    const sampled = await sample({ temperature: 1, seed: 42 });
    assert.equal(sampled.length, 16);
    assert.ok(sampled.every((t) => t >= 0 && t < 4096));
    assert.ok(new Set(sampled).size >= 4, `sampling gives varied tokens: ${sampled.join(",")}`);
    const greedyA = await sample({ temperature: 0 });
    const greedyB = await sample({ temperature: 0 });
    assert.deepEqual(greedyA, greedyB);
    assert.ok(new Set(greedyA).size >= 2, "greedy output does not collapse onto one token");
  } finally {
    await context.dispose();
  }
});

test("qwen2.5-0.5b shape, Q8_0: real tensor shapes, loads and evaluates", { timeout: 120_000 }, async () => {
  const path = join(dir, "qwen-q8_0.gguf");
  try {
    const progress: number[] = [];
    const { bytes } = await writeTestModel({
      out: path, shape: "qwen2.5-0.5b", seed: 1, type: "q8_0", onProgress: (done, total) => progress.push(done / total),
    });
    assert.equal((await stat(path)).size, bytes);
    assert.equal(progress.at(-1), 1);
    const info = await readGgufFileInfo(path, { readTensorInfo: true, logWarnings: false });
    const tensors = new Map((info.tensorInfo ?? []).map((t) => [t.name, t]));
    const dims = (name: string): number[] | undefined => tensors.get(name)?.dimensions.map(Number);
    assert.equal(tensors.size, 1 + 24 * 12 + 1);
    assert.deepEqual(dims("token_embd.weight"), [896, 151936]);
    assert.deepEqual(dims("blk.23.attn_q.weight"), [896, 896]);
    assert.deepEqual(dims("blk.23.attn_k.weight"), [896, 128]);
    assert.deepEqual(dims("blk.23.attn_v.bias"), [128]);
    assert.deepEqual(dims("blk.23.ffn_gate.weight"), [896, 4864]);
    assert.deepEqual(dims("blk.23.ffn_down.weight"), [4864, 896]);
    assert.equal(tensors.get("blk.0.ffn_up.weight")?.ggmlType, 8, "matrices are Q8_0");
    assert.equal(tensors.get("output_norm.weight")?.ggmlType, 0, "norms are F32");
    assert.equal(flatten(info.metadata)["general.file_type"], 7);

    const model = await (await getTestLlama()).loadModel({ modelPath: path });
    try {
      assert.equal(model.tokens.eos, 151645, "<|im_end|> has the real model's id");
      assert.deepEqual(model.tokenize("<|im_start|>", true), [151644]);
      const context = await model.createContext({ contextSize: 128, threads });
      const sequence = context.getSequence();
      const out: number[] = [];
      for await (const token of sequence.evaluate(model.tokenize("<|im_start|>user\nHi<|im_end|>\n", true), { temperature: 1, seed: 1 })) {
        out.push(token);
        if (out.length >= 3) break;
      }
      assert.equal(out.length, 3);
      await context.dispose();
    } finally {
      await model.dispose();
    }
  } finally {
    await rm(path, { force: true });
  }
});

test("q4_k_m and q4_0: llama.cpp's tensor-type mix, rows that K-quants cannot hold fall back", () => {
  const typeOf = (type: "q4_k_m" | "q4_0", shapeName: "tiny" | "qwen2.5-0.5b"): Map<string, string> =>
    new Map(testModelTensors(TEST_MODEL_SHAPES[shapeName], type, 1).map((t) => [t.name, t.type.name]));
  const qwen = typeOf("q4_k_m", "qwen2.5-0.5b");
  // Rows of 896 cannot hold 256-value super-blocks: Q6_K → Q8_0, Q4_K → Q5_0, as in the real Qwen2.5-0.5B Q4_K_M file.
  assert.equal(qwen.get("token_embd.weight"), "Q8_0", "the tied embedding is the output projection");
  assert.equal(qwen.get("blk.0.attn_q.weight"), "Q5_0");
  assert.equal(qwen.get("blk.0.attn_v.weight"), "Q8_0", "attn_v of a more-bits layer");
  assert.equal(qwen.get("blk.4.attn_v.weight"), "Q5_0");
  // ffn_down rows are 4864 = 19·256 values: K-quants, Q6_K in the more-bits layers (first/last eighth, every third between).
  const moreBits = [0, 1, 2, 5, 8, 11, 14, 17, 20, 21, 22, 23];
  for (let layer = 0; layer < 24; layer++) {
    assert.equal(qwen.get(`blk.${layer}.ffn_down.weight`), moreBits.includes(layer) ? "Q6_K" : "Q4_K", `layer ${layer}`);
  }
  assert.equal(qwen.get("output_norm.weight"), "F32");
  const tiny = typeOf("q4_0", "tiny");
  assert.equal(tiny.get("blk.0.attn_q.weight"), "Q4_0");
  assert.equal(tiny.get("token_embd.weight"), "Q8_0", "Q6_K output on rows of 64 falls back to Q8_0");
});

/** Q4_K's 6-bit scale and min of sub-block j from its 12 packed bytes (ggml's get_scale_min_k4). */
function q4kScaleMin(bytes: Uint8Array, j: number): [number, number] {
  if (j < 4) return [bytes[j]! & 63, bytes[j + 4]! & 63];
  return [(bytes[j + 4]! & 0xf) | ((bytes[j - 4]! >> 6) << 4), (bytes[j + 4]! >> 4) | ((bytes[j]! >> 6) << 4)];
}

test("q4_k, q6_k, q4_0, q5_0 blocks: weights decode to mean ≈ 0 and the requested std", async () => {
  const std = 0.05;
  const decode: Record<string, (block: Uint8Array) => number[]> = {
    Q4_0: (b) => {
      const d = f16BitsToF32(b[0]! | (b[1]! << 8));
      return [...b.subarray(2, 18)].flatMap((q) => [d * ((q & 0xf) - 8), d * ((q >> 4) - 8)]);
    },
    Q5_0: (b) => {
      const d = f16BitsToF32(b[0]! | (b[1]! << 8));
      const qh = b[2]! | (b[3]! << 8) | (b[4]! << 16) | (b[5]! << 24);
      const out: number[] = [];
      for (let j = 0; j < 16; j++) {
        out.push(d * ((b[6 + j]! & 0xf) + (((qh >>> j) & 1) << 4) - 16), d * ((b[6 + j]! >> 4) + (((qh >>> (j + 16)) & 1) << 4) - 16));
      }
      return out;
    },
    Q4_K: (b) => {
      const d = f16BitsToF32(b[0]! | (b[1]! << 8));
      const dmin = f16BitsToF32(b[2]! | (b[3]! << 8));
      const scales = b.subarray(4, 16);
      const out: number[] = [];
      for (let j = 0; j < 8; j++) {
        const [sc, m] = q4kScaleMin(scales, j);
        assert.deepEqual([sc, m], [32, 32], `sub-block ${j} scale and min`);
        for (let l = 0; l < 32; l++) {
          const byte = b[16 + Math.floor(j / 2) * 32 + l]!;
          out.push(d * sc * (j % 2 === 0 ? byte & 0xf : byte >> 4) - dmin * m);
        }
      }
      return out;
    },
    Q6_K: (b) => {
      const d = f16BitsToF32(b[208]! | (b[209]! << 8));
      const out: number[] = [];
      for (let i = 0; i < 256; i++) {
        const low = (b[i % 128]! >> (i >= 128 ? 4 : 0)) & 0xf;
        const high = (b[128 + (i % 64)]! >> (2 * Math.floor(i / 64))) & 3;
        out.push(d * (b[192 + Math.floor(i / 16)]! << 24 >> 24) * ((low | (high << 4)) - 32));
      }
      return out;
    },
  };
  const formats = { Q4_0: Q4_0_FORMAT, Q5_0: Q5_0_FORMAT, Q4_K: Q4_K_FORMAT, Q6_K: Q6_K_FORMAT };
  for (const [name, format] of Object.entries(formats)) {
    const count = format.blockElements * 64;
    const chunks: Uint8Array[] = [];
    await randomQuantBlocks(format, count, std, new Xoshiro128(7, 1))({ write: async (bytes) => void chunks.push(bytes.slice()) });
    const data = Buffer.concat(chunks);
    assert.equal(data.length, 64 * format.blockBytes, name);
    const values: number[] = [];
    for (let block = 0; block < 64; block++) values.push(...decode[name]!(data.subarray(block * format.blockBytes, (block + 1) * format.blockBytes)));
    const mean = values.reduce((a, v) => a + v, 0) / values.length;
    const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length);
    assert.ok(Math.abs(mean) < 0.1 * std, `${name} mean ${mean}`);
    assert.ok(Math.abs(sd / std - 1) < 0.05, `${name} std ${sd} for ${std}`);
  }
});

test("tiny q4_k_m and q4_0 models load, evaluate finite logits and generate deterministically", async () => {
  for (const type of ["q4_k_m", "q4_0"] as const) {
    const path = join(dir, `tiny-${type}.gguf`);
    await writeTestModel({ out: path, shape: "tiny", seed: 1, type });
    assert.equal(flatten((await readGgufFileInfo(path, { logWarnings: false })).metadata)["general.file_type"], type === "q4_k_m" ? 15 : 2);
    const model = await (await getTestLlama()).loadModel({ modelPath: path });
    try {
      const context = await model.createContext({ contextSize: 128, threads });
      const greedy = async (): Promise<number[]> => {
        const sequence = context.getSequence();
        const out: number[] = [];
        try {
          for await (const token of sequence.evaluate(model.tokenize("<|im_start|>user\nHi<|im_end|>\n", true), { temperature: 0 })) {
            out.push(token);
            if (out.length >= 8) break;
          }
        } finally {
          sequence.dispose();
        }
        return out;
      };
      const a = await greedy();
      assert.deepEqual(await greedy(), a, type);
      assert.ok(new Set(a).size >= 2, `${type}: greedy output does not collapse onto one token: ${a.join(",")}`);
      await context.dispose();
    } finally {
      await model.dispose();
      await rm(path, { force: true });
    }
  }
});

// --- thinking chat template ------------------------------------------------------

const renderThinking = (vars: Record<string, unknown>): string => new Template(CHATML_THINKING_TOOLS_TEMPLATE).render(vars);
const renderChatml = (vars: Record<string, unknown>): string => new Template(CHATML_TOOLS_TEMPLATE).render(vars);

const weatherTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

test("thinking template: the generation prompt opens a think block unless enable_thinking is false", () => {
  const messages = [
    { role: "system", content: "You are terse." },
    { role: "user", content: "Hi" },
  ];
  const history = "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n";
  const on = `${history}<|im_start|>assistant\n<think>\n`;
  const off = `${history}<|im_start|>assistant\n<think>\n\n</think>\n\n`;
  assert.equal(renderThinking({ messages, add_generation_prompt: true }), on, "default: thinking");
  assert.equal(renderThinking({ messages, add_generation_prompt: true, enable_thinking: null }), on, "none counts as unset");
  assert.equal(renderThinking({ messages, add_generation_prompt: true, enable_thinking: true }), on);
  assert.equal(renderThinking({ messages, add_generation_prompt: true, enable_thinking: false }), off);
  assert.equal(renderThinking({ messages, add_generation_prompt: false, enable_thinking: false }), history);
  assert.equal(renderThinking({ messages }), history);
  // The plain template ignores thinking altogether.
  assert.equal(renderChatml({ messages, add_generation_prompt: true, enable_thinking: true }), `${history}<|im_start|>assistant\n`);
});

test("thinking template: tools are listed Hermes-style in the system turn", () => {
  const withSystem = renderThinking({
    messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Weather in Paris?" }],
    tools: [weatherTool],
    add_generation_prompt: true,
    enable_thinking: false,
  });
  assert.equal(
    withSystem,
    "<|im_start|>system\nBe brief.\n\n# Tools\n\nThe functions below are available. Each is described by a JSON object inside <tools></tools>:\n<tools>\n" +
      '{"type": "function", "function": {"name": "get_weather", "description": "Current weather", "parameters": ' +
      '{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}\n</tools>\n\n' +
      "To use them, reply with one <tool_call></tool_call> block per call, each holding a JSON object with the function name and its arguments:\n" +
      '<tool_call>\n{"name": <function name>, "arguments": <arguments as a JSON object>}\n</tool_call><|im_end|>\n' +
      "<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
  );
  const withoutSystem = renderThinking({ messages: [{ role: "user", content: "Hi" }], tools: [weatherTool, weatherTool] });
  assert.match(withoutSystem, /^<\|im_start\|>system\n# Tools\n\n[^]*<tools>\n\{"type": "function"[^\n]*\n\{"type": "function"[^\n]*\n<\/tools>\n/);
  assert.ok(withoutSystem.endsWith("</tool_call><|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"));
  // Without reasoning in play, both templates render the same prompt.
  const plain = { messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }], tools: [weatherTool] };
  assert.equal(renderThinking(plain), renderChatml(plain));
  assert.equal(renderThinking({ ...plain, tools: [] }), renderChatml({ ...plain, tools: [] }));
});

test("thinking template: a tool-call round trip keeps the current round's reasoning", () => {
  const rendered = renderThinking({
    messages: [
      { role: "user", content: "Weather in Paris and Rome?" },
      {
        role: "assistant",
        content: null,
        reasoning_content: "\nI need both cities.\n\n",
        tool_calls: [
          // Arguments as an object (rendered with tojson) and as a JSON string (rendered as is).
          { id: "call_1", type: "function", function: { name: "get_weather", arguments: { city: "Paris" } } },
          { id: "call_2", type: "function", function: { name: "get_weather", arguments: '{"city":"Rome"}' } },
        ],
      },
      { role: "tool", tool_call_id: "call_1", content: '{"temp": 21}' },
      { role: "tool", tool_call_id: "call_2", content: [{ type: "text", text: '{"temp": 25}' }] },
    ],
    tools: [weatherTool],
    add_generation_prompt: true,
  });
  const afterTools = rendered.slice(rendered.indexOf("<|im_start|>user\n"));
  assert.equal(
    afterTools,
    "<|im_start|>user\nWeather in Paris and Rome?<|im_end|>\n" +
      "<|im_start|>assistant\n<think>\nI need both cities.\n</think>\n\n" +
      '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n' +
      '<tool_call>\n{"name": "get_weather", "arguments": {"city":"Rome"}}\n</tool_call><|im_end|>\n' +
      '<|im_start|>user\n<tool_response>\n{"temp": 21}\n</tool_response>\n<tool_response>\n{"temp": 25}\n</tool_response><|im_end|>\n' +
      "<|im_start|>assistant\n<think>\n",
  );
  // A call next to content, and a call without the OpenAI `function` wrapper.
  const mixed = renderThinking({
    messages: [
      { role: "user", content: "Go" },
      { role: "assistant", content: "Checking.", tool_calls: [{ name: "get_weather", arguments: { city: "Oslo" } }] },
    ],
  });
  assert.ok(mixed.endsWith('<|im_start|>assistant\nChecking.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call><|im_end|>\n'));
});

test("thinking template: reasoning before the last user message is dropped", () => {
  const rendered = renderThinking({
    messages: [
      { role: "user", content: "Q1" },
      { role: "assistant", content: "A1", reasoning_content: "R1" },
      { role: "user", content: "Q2" },
      { role: "assistant", content: "", reasoning_content: "R2", tool_calls: [{ type: "function", function: { name: "f", arguments: "{}" } }] },
      { role: "tool", content: "ok" },
      { role: "assistant", content: "A2", reasoning_content: "R3" },
      { role: "assistant", content: "A3", reasoning_content: "" },
      { role: "assistant", content: "A4" },
    ],
    add_generation_prompt: false,
  });
  assert.equal(
    rendered,
    "<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n" +
      "<|im_start|>user\nQ2<|im_end|>\n" +
      '<|im_start|>assistant\n<think>\nR2\n</think>\n\n<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call><|im_end|>\n' +
      "<|im_start|>user\n<tool_response>\nok\n</tool_response><|im_end|>\n" +
      "<|im_start|>assistant\n<think>\nR3\n</think>\n\nA2<|im_end|>\n" +
      "<|im_start|>assistant\nA3<|im_end|>\n<|im_start|>assistant\nA4<|im_end|>\n",
  );
  assert.ok(!rendered.includes("R1"));
  // Without any user message every assistant turn is "current".
  assert.equal(
    renderThinking({ messages: [{ role: "assistant", content: "A", reasoning_content: "R" }] }),
    "<|im_start|>assistant\n<think>\nR\n</think>\n\nA<|im_end|>\n",
  );
  // The plain template never renders reasoning.
  assert.equal(
    renderChatml({ messages: [{ role: "user", content: "Q" }, { role: "assistant", content: "A", reasoning_content: "R" }] }),
    "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n",
  );
});

// --- CLI -----------------------------------------------------------------------

function quietCommand(): { command: ReturnType<typeof makeTestModelCommand>; out: string[]; errors: string[] } {
  const out: string[] = [];
  const errors: string[] = [];
  const command = makeTestModelCommand()
    .exitOverride()
    .configureOutput({ writeErr: (s) => errors.push(s), writeOut: (s) => out.push(s) });
  return { command, out, errors };
}

test("cli: make-test-model validates its options", async () => {
  const cases: [string[], RegExp][] = [
    [["--shape", "tiny"], /required option '--out <file>'/],
    [["--out", join(dir, "x.gguf"), "--shape", "huge"], /Allowed choices are tiny, qwen2\.5-0\.5b/],
    [["--out", join(dir, "x.gguf"), "--type", "q5_1"], /Allowed choices are f16, q8_0, q4_k_m, q4_0/],
    [["--out", join(dir, "x.gguf"), "--template", "llama3"], /no template llama3 .*expected one of chatml, thinking/],
    [["--out", join(dir, "x.gguf"), "--template", "../x"], /neither a name nor a \.jinja file/],
    [["--out", join(dir, "x.gguf"), "--seed", "-1"], /seed must be a non-negative integer/],
    [["--out", join(dir, "x.gguf"), "--seed", "abc"], /seed must be a non-negative integer/],
    [["--out", join(tinyPath, "x.gguf")], /EEXIST|ENOTDIR/],
  ];
  for (const [args, message] of cases) {
    const { command, errors } = quietCommand();
    await assert.rejects(command.parseAsync(args, { from: "user" }), (err: unknown) => {
      assert.ok(err instanceof CommanderError, String(err));
      assert.equal(err.exitCode, 1);
      return true;
    });
    assert.match(errors.join(""), message, args.join(" "));
  }
});

test("cli: make-test-model writes the model", async () => {
  const path = join(dir, "new", "sub", "cli.gguf");
  const { command, out } = quietCommand();
  await command.parseAsync(["--out", path, "--seed", "1"], { from: "user" });
  assert.match(out.join(""), /wrote .*cli\.gguf \(0\.9 MB, tiny f16, seed 1\)/);
  assert.equal(await sha256(path), await sha256(tinyPath), "defaults: tiny, seed 1, f16");
});

test("cli: make-test-model --template thinking writes a model that loads", async () => {
  const path = join(dir, "thinking.gguf");
  const { command, out } = quietCommand();
  await command.parseAsync(["--out", path, "--template", "thinking"], { from: "user" });
  assert.match(out.join(""), /wrote .*thinking\.gguf \(0\.9 MB, tiny f16, seed 1, thinking template\)/);
  assert.equal(await dataSha256(path), await dataSha256(tinyPath), "only the metadata differs");
  assert.notEqual(await sha256(path), await sha256(tinyPath));

  const model = await (await getTestLlama()).loadModel({ modelPath: path });
  try {
    const template = model.fileInfo.metadata.tokenizer.chat_template;
    assert.equal(template, CHATML_THINKING_TOOLS_TEMPLATE);
    const prompt = new Template(template).render({ messages: [{ role: "user", content: "Hi" }], add_generation_prompt: true });
    assert.ok(prompt.endsWith("<|im_start|>assistant\n<think>\n"));
    const tokens = model.tokenize(prompt, true);
    assert.equal(tokens[0], 4001, "<|im_start|>");
    assert.deepEqual(tokens.slice(-2), [4005, 198], "<think> is one token, then the newline");
    assert.equal(model.detokenize(tokens, true), prompt);
    // node-llama-cpp accepts the template as well.
    const wrapper = new JinjaTemplateChatWrapper({ template });
    const state = wrapper.generateContextState({ chatHistory: [{ type: "user", text: "Hi" }, { type: "model", response: [] }] });
    assert.ok(state.contextText.toString().startsWith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"));
  } finally {
    await model.dispose();
  }
});

test("cli: make-test-model --fim declares fill-in-the-middle tokens llama.cpp finds", async () => {
  const path = join(dir, "fim.gguf");
  const { command } = quietCommand();
  await command.parseAsync(["--out", path, "--fim"], { from: "user" });
  const model = await (await getTestLlama()).loadModel({ modelPath: path });
  try {
    const { infill } = model.tokens;
    assert.deepEqual([infill.prefixString, infill.suffixString, infill.middleString], ["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"]);
    for (const token of [infill.prefix, infill.suffix, infill.middle]) assert.ok(token !== null && model.tokenize(model.detokenize([token], true), true).length === 1);
  } finally {
    await model.dispose();
  }
  // Without --fim a model has none.
  const plain = await (await getTestLlama()).loadModel({ modelPath: tinyPath });
  try {
    assert.equal(plain.tokens.infill.prefix, null);
  } finally {
    await plain.dispose();
  }
});

test("cli: make-test-model --chain writes a model that follows its chains at temperature 1, and refuses what is no token", async () => {
  const path = join(dir, "chained.gguf");
  const { command } = quietCommand();
  await command.parseAsync(["--out", path, "--template", "thinking", "--chain", '["<|im_start|>", "<think>", " think", " answer"]', "--chain", '["</think>", " answer", "<|im_end|>"]'], { from: "user" });
  const model = await (await getTestLlama()).loadModel({ modelPath: path });
  const context = await model.createContext({ contextSize: 128, threads });
  try {
    for (const [start, expected] of [["Hi<|im_start|>", "<think> think answer"], ["Hi</think>", " answer"], ["Hi think", " answer"]] as const) {
      const sequence = context.getSequence();
      const out: Array<ReturnType<typeof model.tokenize>[number]> = [];
      try {
        for await (const token of sequence.evaluate(model.tokenize(start, true), { temperature: 1, seed: 7 })) {
          if (model.isEogToken(token)) break;
          out.push(token);
          if (out.length >= 8) break;
        }
      } finally {
        sequence.dispose();
      }
      assert.equal(model.detokenize(out, true), expected, `after ${start}`);
    }
  } finally {
    await context.dispose();
    await model.dispose();
  }
  const { command: bad, errors } = quietCommand();
  await assert.rejects(bad.parseAsync(["--out", join(dir, "bad.gguf"), "--chain", '["<|im_start|>", " no-such-token"]'], { from: "user" }));
  assert.match(errors.join(""), /not one token of the test model's vocabulary/);
  const { command: one, errors: oneErrors } = quietCommand();
  await assert.rejects(one.parseAsync(["--out", join(dir, "bad.gguf"), "--chain", '["<|im_start|>"]'], { from: "user" }));
  assert.match(oneErrors.join(""), /at least two token texts/);
});
