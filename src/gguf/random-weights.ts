/**
 * Deterministic random tensor data for generated GGUF test models.
 *
 * Speed matters: a qwen2.5-0.5b-shaped model has ~494 M weights. Instead of
 * drawing a normal sample per weight (log, sqrt, cos...), we precompute a table
 * of normal-distribution quantiles and index it with raw PRNG bits: one 32-bit
 * xoshiro128** output yields two F16 weights (16-bit index each) or four Q8_0
 * quants (8-bit index each). The values are exactly reproducible for a seed
 * and independent of chunk sizes, because every tensor has its own stream.
 */
import { endianness } from "node:os";
import type { GgufDataSink } from "./gguf-writer.js";

/** Bytes produced per sink.write call by the generators below (about 1 MiB). */
const CHUNK_BYTES = 1 << 20;

if (endianness() !== "LE") {
  // GGUF data is little-endian and the fast paths below write through typed arrays.
  throw new Error("random-weights: a little-endian host is required");
}

/** splitmix32-style avalanche step; used only to expand seeds into PRNG state. */
function mix32(x: number): number {
  let z = x | 0;
  z ^= z >>> 16;
  z = Math.imul(z, 0x21f0aaad);
  z ^= z >>> 15;
  z = Math.imul(z, 0x735a2d97);
  z ^= z >>> 15;
  return z >>> 0;
}

/** FNV-1a over the UTF-16 code units of a string; names a per-tensor stream. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * xoshiro128** (Blackman & Vigna): 128 bits of state, 32-bit outputs, fast in
 * JavaScript because it needs only 32-bit integer operations.
 */
export class Xoshiro128 {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /**
   * @param seed any safe non-negative integer (the high 21 bits are mixed in too)
   * @param stream a second key, e.g. `hashString(tensorName)`, for independent streams
   */
  constructor(seed: number, stream = 0) {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative safe integer, got ${seed}`);
    const lo = seed >>> 0;
    const hi = Math.floor(seed / 0x1_0000_0000) >>> 0;
    let x = mix32(lo ^ mix32(hi ^ 0x9e3779b9) ^ mix32(stream ^ 0x7f4a7c15));
    const next = (): number => {
      x = (x + 0x9e3779b9) | 0;
      return mix32(x);
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the all-zero state is a fixed point
  }

  /** Next 32-bit output as an unsigned integer. */
  nextU32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform float in [0, 1). */
  nextFloat(): number {
    return this.nextU32() / 0x1_0000_0000;
  }

  /** Uniform integer in [0, n). */
  nextInt(n: number): number {
    return Math.floor(this.nextFloat() * n);
  }

  /**
   * Fills `out` with table lookups: each 32-bit output gives two 16-bit
   * indices (low half first). The state lives in locals for the hot loop.
   */
  fillFromTable16(out: Uint16Array, table: Uint16Array): void {
    if (table.length !== 65536) throw new RangeError("fillFromTable16 needs a 65536-entry table");
    let s0 = this.s0, s1 = this.s1, s2 = this.s2, s3 = this.s3;
    const n = out.length;
    for (let i = 0; i < n; i += 2) {
      const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
      const t = s1 << 9;
      s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
      out[i] = table[r & 0xffff]!;
      if (i + 1 < n) out[i + 1] = table[r >>> 16]!;
    }
    this.s0 = s0; this.s1 = s1; this.s2 = s2; this.s3 = s3;
  }

  /**
   * Fills `blocks` Q8_0 blocks at the start of `out`: each block is the two
   * bytes of `scaleBits` (an F16, little-endian) then 32 quants, four per
   * 32-bit output, looked up in `table` (int8 values stored as bytes).
   */
  fillQ8_0Blocks(out: Uint8Array, blocks: number, scaleBits: number, table: Uint8Array): void {
    if (table.length !== 256) throw new RangeError("fillQ8_0Blocks needs a 256-entry table");
    if (out.length < blocks * 34) throw new RangeError("fillQ8_0Blocks: output too small");
    let s0 = this.s0, s1 = this.s1, s2 = this.s2, s3 = this.s3;
    const lo = scaleBits & 0xff;
    const hi = scaleBits >>> 8;
    for (let b = 0, at = 0; b < blocks; b++) {
      out[at++] = lo;
      out[at++] = hi;
      for (let k = 0; k < 8; k++) {
        const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
        const t = s1 << 9;
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t;
        s3 = (s3 << 11) | (s3 >>> 21);
        out[at++] = table[r & 0xff]!;
        out[at++] = table[(r >>> 8) & 0xff]!;
        out[at++] = table[(r >>> 16) & 0xff]!;
        out[at++] = table[r >>> 24]!;
      }
    }
    this.s0 = s0; this.s1 = s1; this.s2 = s2; this.s3 = s3;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * Inverse of the standard normal CDF (Acklam's rational approximation,
 * relative error < 1.2e-9), enough for building quantile tables.
 */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normalQuantile: p must be in (0, 1), got ${p}`);
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const poly = (k: number[], x: number): number => k.reduce((acc, coef) => acc * x + coef, 0);
  const pLow = 0.02425;
  if (p < pLow) {
    const q = Math.sqrt(-2 * Math.log(p));
    return poly(c, q) / (poly(d, q) * q + 1);
  }
  if (p > 1 - pLow) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    return -poly(c, q) / (poly(d, q) * q + 1);
  }
  const q = p - 0.5;
  const r = q * q;
  return (poly(a, r) * q) / (poly(b, r) * r + 1);
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/**
 * IEEE 754 binary32 -> binary16 bits with round-to-nearest-even, handling
 * subnormals, overflow to infinity and NaN (what ggml's F16 type stores).
 */
export function f32ToF16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0); // inf / NaN
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> inf
  if (e <= 0) {
    if (e < -10) return sign; // underflows to (signed) zero
    mant |= 0x800000; // make the implicit bit explicit, then shift into subnormal range
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let sub = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && (sub & 1) === 1)) sub++;
    return sign | sub;
  }
  let m = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (m & 1) === 1)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/** binary16 bits -> number (for tests and scale bookkeeping). */
export function f16BitsToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

const f16TableCache = new Map<number, Uint16Array>();

/** 65536 F16 values: the normal quantiles at (i + 0.5) / 65536, scaled by std. */
export function normalF16Table(std: number): Uint16Array {
  let table = f16TableCache.get(std);
  if (!table) {
    table = new Uint16Array(65536);
    for (let i = 0; i < 65536; i++) table[i] = f32ToF16Bits(std * normalQuantile((i + 0.5) / 65536));
    f16TableCache.set(std, table);
  }
  return table;
}

/**
 * 256 int8 quants shaped like a normal distribution (quantiles at
 * (i + 0.5) / 256 times Q8_STD_QUANTS, so the extremes are about ±121), and
 * their RMS, which converts a target weight std into a Q8_0 block scale.
 */
const Q8_STD_QUANTS = 42;
const q8Table: Int8Array = (() => {
  const t = new Int8Array(256);
  for (let i = 0; i < 256; i++) t[i] = Math.max(-127, Math.min(127, Math.round(Q8_STD_QUANTS * normalQuantile((i + 0.5) / 256))));
  return t;
})();
const q8TableRms = Math.sqrt(q8Table.reduce((acc, v) => acc + v * v, 0) / 256);

/** A function that streams one tensor's bytes into a sink. */
export type TensorDataWriter = (sink: GgufDataSink) => Promise<void>;

/** F16 weights ~ N(0, std²), `count` elements. */
export function randomF16Data(count: number, std: number, rng: Xoshiro128): TensorDataWriter {
  return async (sink) => {
    const table = normalF16Table(std);
    const chunk = new Uint16Array(CHUNK_BYTES / 2);
    for (let done = 0; done < count; ) {
      const n = Math.min(chunk.length, count - done);
      const view = chunk.subarray(0, n);
      rng.fillFromTable16(view, table);
      await sink.write(new Uint8Array(view.buffer, view.byteOffset, n * 2));
      done += n;
    }
  };
}

/** Q8_0 block: an F16 scale `d` then 32 signed 8-bit quants; value = d * q. */
export const Q8_0_BLOCK_ELEMENTS = 32;
export const Q8_0_BLOCK_BYTES = 2 + Q8_0_BLOCK_ELEMENTS;

/**
 * Q8_0 weights with std ≈ `std`: quants drawn from the normal-shaped int8
 * table, and every block shares the scale that maps the table's RMS to `std`.
 */
export function randomQ8_0Data(count: number, std: number, rng: Xoshiro128): TensorDataWriter {
  if (count % Q8_0_BLOCK_ELEMENTS !== 0) throw new RangeError(`Q8_0 needs a multiple of ${Q8_0_BLOCK_ELEMENTS} elements, got ${count}`);
  return async (sink) => {
    const scaleBits = f32ToF16Bits(std / q8TableRms);
    const tableBytes = new Uint8Array(q8Table.buffer); // int8 quants as raw bytes
    const blocksPerChunk = Math.floor(CHUNK_BYTES / Q8_0_BLOCK_BYTES);
    const chunk = new Uint8Array(blocksPerChunk * Q8_0_BLOCK_BYTES);
    const totalBlocks = count / Q8_0_BLOCK_ELEMENTS;
    for (let done = 0; done < totalBlocks; ) {
      const blocks = Math.min(blocksPerChunk, totalBlocks - done);
      rng.fillQ8_0Blocks(chunk, blocks, scaleBits, tableBytes);
      await sink.write(chunk.subarray(0, blocks * Q8_0_BLOCK_BYTES));
      done += blocks;
    }
  };
}

/** F32 values ~ N(0, std²); meant for small tensors such as biases. */
export function randomF32Data(count: number, std: number, rng: Xoshiro128): TensorDataWriter {
  return async (sink) => {
    const values = new Float32Array(count);
    for (let i = 0; i < count; i++) values[i] = std * normalQuantile((rng.nextU32() + 0.5) / 0x1_0000_0000);
    await sink.write(new Uint8Array(values.buffer));
  };
}

/** F32 tensor with every element equal to `value` (e.g. RMS-norm weights of 1). */
export function constantF32Data(count: number, value: number): TensorDataWriter {
  return async (sink) => {
    const values = new Float32Array(count).fill(value);
    await sink.write(new Uint8Array(values.buffer));
  };
}
