/**
 * The context a model gets in the memory there is (src/engines/llama/context-fit.ts):
 * `--ctx auto` takes the largest multiple of 256 whose weights + KV cache +
 * headroom fit, capped at the training context; an explicit `--ctx` whose
 * weights + cache exceed the memory is refused with the figures.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ContextDoesNotFit, fitContext, headroomBytes, kvCells, PROCESS_HEADROOM_BYTES, type ContextFitInput } from "../src/engines/llama/context-fit.js";
import { kvBytesPerCell, type KvCacheType } from "../src/engines/llama/kv-cache-memory.js";

const GiB = 2 ** 30;
const MiB = 2 ** 20;
/** Qwen2.5-0.5B's attention: 24 layers, 2 KV heads of 64 values. */
const qwenShape = { layers: 24, kvHeads: 2, keyLength: 64, valueLength: 64 };

function input(overrides: Partial<ContextFitInput> & { type?: KvCacheType } = {}): ContextFitInput {
  const type = overrides.type ?? "f16";
  return {
    id: "qwen",
    requested: "auto",
    sequences: 4,
    trainContext: 131072,
    weightsBytes: 500 * MiB,
    kvBytesPerCell: kvBytesPerCell(qwenShape, type, type),
    kvCacheType: type,
    vocabulary: 151936,
    batchSize: 2048,
    availableBytes: 4 * GiB,
    availableText: "MemAvailable 4.00 GiB; no cgroup memory limit",
    ...overrides,
  };
}

describe("--ctx auto", () => {
  test("the largest multiple of 256 that fits, for each KV cache type; the training context caps it", () => {
    // 4 GiB − 500 MiB of weights − headroom ((2048 + 4) × 151936 × 4 B of logits + 512 MiB) = 1,986,717,696 B for the cache:
    // f16, 12,288 B a cell: 161,680 cells, 40,420 per sequence → 40,192; q8_0, 6,528 B: 304,338 → 76,084 → 76,032;
    // q4_0, 3,456 B: 574,860 → 143,715, over the training context: 131,072.
    assert.equal(headroomBytes(2048, 4, 151936), 2052 * 151936 * 4 + PROCESS_HEADROOM_BYTES);
    const expected: Record<KvCacheType, number> = { f16: 40192, q8_0: 76032, q4_0: 131072 };
    for (const type of ["f16", "q8_0", "q4_0"] as const) {
      const fit = fitContext(input({ type }));
      assert.equal(fit.contextSize, expected[type], type);
      assert.equal(fit.source, "auto");
      assert.equal(fit.kvBytes, kvBytesPerCell(qwenShape, type, type) * fit.contextSize * 4);
      assert.equal(fit.tight, false);
      if (fit.contextSize < 131072) {
        const next = fit.contextSize + 256;
        const used = 500 * MiB + kvBytesPerCell(qwenShape, type, type) * kvCells(next, 4) + headroomBytes(2048, 4, 151936);
        assert.ok(used > 4 * GiB, `${type}: ${next} would not fit`);
      }
    }
  });

  test("plenty of memory: the training context, even one that is not a multiple of 256", () => {
    assert.equal(fitContext(input({ availableBytes: 1024 * GiB })).contextSize, 131072);
    assert.equal(fitContext(input({ trainContext: 1000 })).contextSize, 1000);
  });

  test("too little memory for 4096 tokens per sequence: refused, with the figures", () => {
    const tooLittle = 500 * MiB + kvBytesPerCell(qwenShape, "f16", "f16") * 4096 * 4 + headroomBytes(2048, 4, 151936) - 1;
    assert.equal(fitContext(input({ availableBytes: tooLittle + 1 })).contextSize, 4096, "just enough for the minimum");
    assert.throws(() => fitContext(input({ availableBytes: tooLittle })), (err: Error) => {
      assert.ok(err instanceof ContextDoesNotFit);
      assert.match(err.message, /^model qwen: --ctx auto: the smallest context it may pick, 4096 × --parallel 4/);
      assert.match(err.message, /KV cache 192\.0 MiB = 201326592 bytes, f16; 12288 B per token; weights 500\.0 MiB = 524288000 bytes/);
      assert.match(err.message, new RegExp(`but only \\S+ GiB = ${tooLittle} bytes are available \\(MemAvailable`));
      assert.match(err.message, /--kv-cache-type q8_0/);
      return true;
    });
  });

  test("a GGUF without the attention shape or the training context cannot be sized", () => {
    assert.throws(() => fitContext(input({ kvBytesPerCell: null })), /attention shape .*give --ctx a number/);
    assert.throws(() => fitContext(input({ trainContext: null })), /training context .*give --ctx a number/);
  });
});

describe("an explicit --ctx", () => {
  test("fits: kept as given, with its cache's bytes", () => {
    const fit = fitContext(input({ requested: 8192 }));
    assert.deepEqual(fit, { contextSize: 8192, source: "flag", kvBytes: 12288 * 8192 * 4, headroomBytes: headroomBytes(2048, 4, 151936), tight: false });
  });

  test("weights + cache exceed the memory: refused, naming the model, both figures in bytes, the memory and what to do", () => {
    const request = input({ requested: 65536, sequences: 16 });
    assert.throws(() => fitContext(request), (err: Error) => {
      assert.ok(err instanceof ContextDoesNotFit);
      assert.equal(
        err.message,
        "model qwen: --ctx 65536 × --parallel 16 needs 12.49 GiB (KV cache 12.00 GiB = 12884901888 bytes, f16; 12288 B per token; weights 500.0 MiB = 524288000 bytes), " +
          "but only 4.00 GiB = 4294967296 bytes are available (MemAvailable 4.00 GiB; no cgroup memory limit): " +
          "lower --ctx or --parallel, use --kv-cache-type q8_0 (half the KV cache) or q4_0 (a quarter), or --ctx auto (the largest context that fits)",
      );
      return true;
    });
    // A quarter of the cache in q4_0 fits: 3,456 B a cell × 1,048,576 cells = 3.375 GiB, with the weights 3.86 GiB.
    assert.equal(fitContext({ ...request, kvBytesPerCell: kvBytesPerCell(qwenShape, "q4_0", "q4_0"), kvCacheType: "q4_0" }).contextSize, 65536);
  });

  test("weights + cache fit but eat into the headroom: it starts, marked tight", () => {
    const needed = 500 * MiB + 12288 * 16384 * 4;
    assert.equal(fitContext(input({ requested: 16384, availableBytes: needed })).tight, true);
    assert.equal(fitContext(input({ requested: 16384, availableBytes: needed + headroomBytes(2048, 4, 151936) })).tight, false);
    assert.throws(() => fitContext(input({ requested: 16384, availableBytes: needed - 1 })), ContextDoesNotFit);
  });

  test("the cache is counted as llama.cpp pads it: ctx × parallel rounded up to 256 cells", () => {
    assert.equal(kvCells(1000, 3), 3072);
    assert.equal(kvCells(4096, 4), 16384);
    assert.equal(fitContext(input({ requested: 1000, sequences: 3 })).kvBytes, 12288 * 3072);
  });
});
