import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { getLlama, LlamaLogLevel, type Llama, type LlamaModel } from "node-llama-cpp";
import { kvCells } from "../src/engines/llama/context-fit.js";
import { attentionShape, KV_CACHE_GGML_TYPE, kvBytesPerCell, type KvCacheType } from "../src/engines/llama/kv-cache-memory.js";
import { qwenShapedModelPath, tinyModelPath } from "./helpers/models.js";

// llama.cpp reports the cache it allocated: "llama_kv_cache: size =    0.38 MiB (   512 cells, …), K (f16): …".
let llama: Llama;
const logLines: string[] = [];

before(async () => {
  llama = await getLlama({ gpu: false, logLevel: LlamaLogLevel.info, logger: (_level, message) => logLines.push(message) });
});
after(async () => {
  await llama.dispose();
});

/** Creates a context and returns llama.cpp's own figure for its KV cache (MiB) beside ours. */
async function measure(model: LlamaModel, type: KvCacheType, contextSize: number, sequences: number): Promise<{ reported: number; ours: number }> {
  logLines.length = 0;
  const context = await model.createContext({
    contextSize, sequences, flashAttention: true,
    experimentalKvCacheKeyType: KV_CACHE_GGML_TYPE[type], experimentalKvCacheValueType: KV_CACHE_GGML_TYPE[type],
  });
  try {
    // node-llama-cpp hands llama.cpp's log lines over asynchronously: they may arrive after the context.
    const deadline = Date.now() + 10_000;
    while (!logLines.some((l) => /llama_kv_cache: size =/.test(l)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const line = logLines.find((l) => /llama_kv_cache: size =/.test(l));
    assert.ok(line, `llama.cpp logged its KV cache size:\n${logLines.join("\n")}`);
    const reported = Number(/size =\s*([\d.]+) MiB/.exec(line)![1]);
    const shape = attentionShape(model.fileInfo.metadata.general.architecture, model.fileInfo.metadata as Record<string, unknown>);
    assert.ok(shape);
    assert.equal(context.getAllocatedContextSize(), kvCells(contextSize, sequences), "the cells --ctx auto and the memory check count");
    const ours = (kvBytesPerCell(shape, type, type) * context.getAllocatedContextSize()) / 2 ** 20;
    return { reported, ours };
  } finally {
    await context.dispose();
  }
}

test("KV cache memory: ours equals what llama.cpp allocates, per sequence × sequences (tiny, f16)", async () => {
  const model = await llama.loadModel({ modelPath: await tinyModelPath() });
  try {
    for (const [ctx, seqs] of [[2048, 1], [2048, 4], [1000, 3]] as const) {
      const { reported, ours } = await measure(model, "f16", ctx, seqs);
      assert.ok(Math.abs(reported - ours) <= 0.006, `ctx ${ctx} × ${seqs}: llama.cpp ${reported} MiB, ours ${ours} MiB`);
    }
    const one = await measure(model, "f16", 2048, 1);
    const four = await measure(model, "f16", 2048, 4);
    assert.ok(Math.abs(four.reported / one.reported - 4) < 0.01, "every sequence holds a full context");
  } finally {
    await model.dispose();
  }
});

test("KV cache memory: q8_0 and q4_0 keys and values (Qwen2.5-0.5B shape, head size 64)", { timeout: 300_000 }, async () => {
  const model = await llama.loadModel({ modelPath: await qwenShapedModelPath() });
  try {
    const f16 = await measure(model, "f16", 1024, 2);
    assert.ok(Math.abs(f16.reported - 24) < 0.01, `24 layers × 2 KV heads × 64 × 2 (K, V) × 2 bytes × 2048 cells = 24 MiB, got ${f16.reported}`);
    for (const type of ["q8_0", "q4_0"] as const) {
      const { reported, ours } = await measure(model, type, 1024, 2);
      assert.ok(Math.abs(reported - ours) <= 0.006, `${type}: llama.cpp ${reported} MiB, ours ${ours} MiB`);
      assert.ok(reported < f16.reported * (type === "q8_0" ? 0.54 : 0.29), `${type} is smaller than f16: ${reported} vs ${f16.reported}`);
    }
  } finally {
    await model.dispose();
  }
});
