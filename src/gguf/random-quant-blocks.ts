/**
 * Random weights in llama.cpp's 4- to 6-bit block formats (Q4_0, Q5_0, Q4_K,
 * Q6_K), for test models quantized the way the GGUFs people download are.
 *
 * The quants are uniform random bits (every nibble / 5-bit / 6-bit value
 * equally likely); each format's scales are fixed so that the weights have
 * the requested standard deviation, and the scale's sign alternates from block
 * to block so that the mean is 0 (q − 8 of a uniform nibble averages −0.5). A random model of a real
 * shape and quantization runs exactly as fast as the trained one: the kernels
 * do the same work whatever the bits are.
 *
 * Layouts (ggml-common.h, little-endian):
 * - Q4_0: 32 values in 18 bytes: f16 d, 16 bytes of nibbles; x = d·(q − 8).
 * - Q5_0: 32 values in 22 bytes: f16 d, 4 bytes of fifth bits, 16 bytes of
 *   nibbles; x = d·(q − 16).
 * - Q4_K: 256 values in 144 bytes: f16 d, f16 dmin, 12 bytes of 6-bit scales
 *   and mins for 8 sub-blocks of 32, 128 bytes of nibbles; x = d·sc·q − dmin·m.
 * - Q6_K: 256 values in 210 bytes: 128 bytes of low nibbles, 64 bytes of high
 *   2-bit pairs, 16 int8 scales (one per 16 values), f16 d; x = d·sc·(q − 32).
 */
import type { GgufDataSink } from "./gguf-writer.js";
import { f32ToF16Bits, type TensorDataWriter, type Xoshiro128 } from "./random-weights.js";

/** Standard deviation of q − (levels / 2) for q uniform on 0 … levels − 1. */
function uniformStd(levels: number): number {
  return Math.sqrt((levels * levels - 1) / 12);
}

export interface QuantBlockFormat {
  name: "Q4_0" | "Q5_0" | "Q4_K" | "Q6_K";
  blockElements: number;
  blockBytes: number;
  /**
   * Writes the block's fixed part (scales) for weights of `std` into `block`;
   * the random part is written over `randomRanges` afterwards.
   */
  fixed(block: Uint8Array, std: number): void;
  /** [start, end) byte ranges of the block that hold random quant bits. */
  randomRanges: readonly (readonly [number, number])[];
}

function writeF16(block: Uint8Array, offset: number, value: number): void {
  const bits = f32ToF16Bits(value);
  block[offset] = bits & 0xff;
  block[offset + 1] = bits >>> 8;
}

export const Q4_0_FORMAT: QuantBlockFormat = {
  name: "Q4_0",
  blockElements: 32,
  blockBytes: 18,
  fixed: (block, std) => writeF16(block, 0, std / uniformStd(16)),
  randomRanges: [[2, 18]],
};

export const Q5_0_FORMAT: QuantBlockFormat = {
  name: "Q5_0",
  blockElements: 32,
  blockBytes: 22,
  fixed: (block, std) => writeF16(block, 0, std / uniformStd(32)),
  randomRanges: [[2, 22]],
};

/**
 * Q4_K's 12 scale bytes hold eight 6-bit scales and eight 6-bit mins; this
 * pattern makes every one of them 32 (sub-blocks 0–3 read bytes 0–7 directly,
 * sub-blocks 4–7 take their two high bits from bits 6–7 of bytes 0–7).
 */
const Q4_K_SCALE_BYTES = [0xa0, 0xa0, 0xa0, 0xa0, 0xa0, 0xa0, 0xa0, 0xa0, 0, 0, 0, 0];
const Q4_K_SCALE = 32;

export const Q4_K_FORMAT: QuantBlockFormat = {
  name: "Q4_K",
  blockElements: 256,
  blockBytes: 144,
  fixed: (block, std) => {
    // x = d·32·q − dmin·32 with q uniform on 0…15: dmin = 7.5·d centres it.
    const d = std / (Q4_K_SCALE * uniformStd(16));
    writeF16(block, 0, d);
    writeF16(block, 2, 7.5 * d);
    block.set(Q4_K_SCALE_BYTES, 4);
  },
  randomRanges: [[16, 144]],
};

const Q6_K_SCALE = 16;

export const Q6_K_FORMAT: QuantBlockFormat = {
  name: "Q6_K",
  blockElements: 256,
  blockBytes: 210,
  fixed: (block, std) => {
    block.fill(Q6_K_SCALE, 192, 208);
    writeF16(block, 208, std / (Q6_K_SCALE * uniformStd(64)));
  },
  randomRanges: [[0, 192]],
};

const CHUNK_BYTES = 1 << 20;

/** `count` weights of std ≈ `std` in `format`'s blocks, random bits from `rng`. */
export function randomQuantBlocks(format: QuantBlockFormat, count: number, std: number, rng: Xoshiro128): TensorDataWriter {
  if (count % format.blockElements !== 0) {
    throw new RangeError(`${format.name} needs a multiple of ${format.blockElements} elements, got ${count}`);
  }
  return async (sink: GgufDataSink) => {
    const templates = [std, -std].map((signed) => {
      const block = new Uint8Array(format.blockBytes);
      format.fixed(block, signed);
      return block;
    });
    // An even number of blocks per chunk, so every chunk starts with a positive scale.
    const blocksPerChunk = 2 * Math.max(1, Math.floor(CHUNK_BYTES / format.blockBytes / 2));
    const chunk = new Uint8Array(blocksPerChunk * format.blockBytes);
    for (let b = 0; b < blocksPerChunk; b++) chunk.set(templates[b % 2]!, b * format.blockBytes);
    const totalBlocks = count / format.blockElements;
    for (let done = 0; done < totalBlocks; ) {
      const blocks = Math.min(blocksPerChunk, totalBlocks - done);
      for (let b = 0; b < blocks; b++) {
        const base = b * format.blockBytes;
        for (const [start, end] of format.randomRanges) fillRandom(chunk, base + start, base + end, rng);
      }
      await sink.write(chunk.subarray(0, blocks * format.blockBytes));
      done += blocks;
    }
  };
}

function fillRandom(out: Uint8Array, start: number, end: number, rng: Xoshiro128): void {
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const v = rng.nextU32();
    out[i] = v & 0xff;
    out[i + 1] = (v >>> 8) & 0xff;
    out[i + 2] = (v >>> 16) & 0xff;
    out[i + 3] = v >>> 24;
  }
  if (i < end) {
    let v = rng.nextU32();
    for (; i < end; i++, v >>>= 8) out[i] = v & 0xff;
  }
}
