/**
 * A small streaming writer for GGUF version 3 files (the llama.cpp model format).
 *
 * Layout of a GGUF file, all integers little-endian:
 *   1. header: the 4 bytes "GGUF", u32 version (3), u64 tensor count, u64 metadata KV count;
 *   2. metadata KVs: key (a GGUF string), u32 value type, the value;
 *   3. tensor infos: name (string), u32 dimension count, one u64 per dimension
 *      (ggml order: ne0, the fastest-varying / row length, first), u32 ggml
 *      type, u64 offset of the data relative to the start of the data section;
 *   4. zero padding up to a multiple of the alignment (`general.alignment`, a u32,
 *      32 when absent; must be a multiple of 8);
 *   5. the data section: each tensor's bytes at its offset, every offset a
 *      multiple of the alignment, so tensors are separated by zero padding.
 * A GGUF string is a u64 byte length followed by UTF-8 bytes without a
 * terminating NUL. An array value is a u32 element type, a u64 count, and the
 * elements packed back to back (strings keep their own length prefixes).
 *
 * Only the header is built in memory; tensor data is streamed to the file in
 * chunks through an awaited FileHandle, so a 1 GB model never sits in memory.
 */
import { open, rename, rm, type FileHandle } from "node:fs/promises";

export const GGUF_MAGIC = "GGUF";
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value type codes as stored in the file. */
export const GgufValueTypeCode = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;

type SmallNumberKind = "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "f64";
type BigNumberKind = "u64" | "i64";
export type GgufScalarKind = SmallNumberKind | BigNumberKind | "bool" | "string";

/** A typed metadata value. Arrays of arrays (allowed by the spec) are not supported. */
export type GgufValue =
  | { kind: SmallNumberKind; value: number }
  | { kind: BigNumberKind; value: bigint }
  | { kind: "bool"; value: boolean }
  | { kind: "string"; value: string }
  | { kind: "array"; itemKind: SmallNumberKind; values: ArrayLike<number> }
  | { kind: "array"; itemKind: BigNumberKind; values: readonly bigint[] }
  | { kind: "array"; itemKind: "bool"; values: readonly boolean[] }
  | { kind: "array"; itemKind: "string"; values: readonly string[] };

/** Constructors for metadata values, e.g. `gguf.u32(32)`, `gguf.array("string", tokens)`. */
export const gguf = {
  u8: (value: number): GgufValue => ({ kind: "u8", value }),
  i8: (value: number): GgufValue => ({ kind: "i8", value }),
  u16: (value: number): GgufValue => ({ kind: "u16", value }),
  i16: (value: number): GgufValue => ({ kind: "i16", value }),
  u32: (value: number): GgufValue => ({ kind: "u32", value }),
  i32: (value: number): GgufValue => ({ kind: "i32", value }),
  u64: (value: bigint | number): GgufValue => ({ kind: "u64", value: BigInt(value) }),
  i64: (value: bigint | number): GgufValue => ({ kind: "i64", value: BigInt(value) }),
  f32: (value: number): GgufValue => ({ kind: "f32", value }),
  f64: (value: number): GgufValue => ({ kind: "f64", value }),
  bool: (value: boolean): GgufValue => ({ kind: "bool", value }),
  string: (value: string): GgufValue => ({ kind: "string", value }),
  array(
    ...args:
      | [itemKind: SmallNumberKind, values: ArrayLike<number>]
      | [itemKind: BigNumberKind, values: readonly bigint[]]
      | [itemKind: "bool", values: readonly boolean[]]
      | [itemKind: "string", values: readonly string[]]
  ): GgufValue {
    const [itemKind, values] = args;
    return { kind: "array", itemKind, values } as GgufValue;
  },
};

/**
 * ggml tensor types this writer knows the storage size of. Quantized types
 * store fixed-size blocks of `blockElements` values; a row length (ne0) must
 * be a multiple of the block size.
 */
export const GgmlType = {
  F32: { code: 0, name: "F32", blockElements: 1, blockBytes: 4 },
  F16: { code: 1, name: "F16", blockElements: 1, blockBytes: 2 },
  /** Blocks of 32: an F16 scale then 32 int8 quants (34 bytes). */
  Q8_0: { code: 8, name: "Q8_0", blockElements: 32, blockBytes: 34 },
  /** Blocks of 32: an F16 scale then 16 bytes of nibbles (18 bytes). */
  Q4_0: { code: 2, name: "Q4_0", blockElements: 32, blockBytes: 18 },
  /** Blocks of 32: an F16 scale, 4 bytes of fifth bits, 16 bytes of nibbles (22 bytes). */
  Q5_0: { code: 6, name: "Q5_0", blockElements: 32, blockBytes: 22 },
  /** Super-blocks of 256: F16 d and dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles (144 bytes). */
  Q4_K: { code: 12, name: "Q4_K", blockElements: 256, blockBytes: 144 },
  /** Super-blocks of 256: 128 + 64 bytes of 6-bit quants, 16 int8 scales, F16 d (210 bytes). */
  Q6_K: { code: 14, name: "Q6_K", blockElements: 256, blockBytes: 210 },
} as const;
export type GgmlTypeInfo = (typeof GgmlType)[keyof typeof GgmlType];

/** Bytes a tensor of `type` and `dims` (ne0 first) occupies in the data section. */
export function ggmlTensorByteSize(type: GgmlTypeInfo, dims: readonly number[]): number {
  if (dims.length === 0 || dims.length > 4) throw new RangeError(`a ggml tensor has 1 to 4 dimensions, got ${dims.length}`);
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d <= 0) throw new RangeError(`tensor dimensions must be positive integers, got [${dims.join(", ")}]`);
  }
  if (dims[0]! % type.blockElements !== 0) {
    throw new RangeError(`${type.name} needs ne0 to be a multiple of ${type.blockElements}, got ${dims[0]}`);
  }
  const elements = dims.reduce((a, b) => a * b, 1);
  return (elements / type.blockElements) * type.blockBytes;
}

/** Where a tensor's data producer writes its bytes; awaiting `write` is the back-pressure. */
export interface GgufDataSink {
  /** Queues a copy of `bytes`; the caller may reuse its buffer once the promise resolves. */
  write(bytes: Uint8Array): Promise<void>;
}

export interface GgufTensorSpec {
  /** Tensor name, at most 63 bytes of UTF-8 (ggml's name limit, NUL included, is 64). */
  name: string;
  /** Dimensions in ggml order: ne0 (row length) first. */
  dims: readonly number[];
  type: GgmlTypeInfo;
  /** Must write exactly `ggmlTensorByteSize(type, dims)` bytes. */
  writeData: (sink: GgufDataSink) => Promise<void>;
}

export interface GgufWriteOptions {
  /** Final path; data goes to `path + ".tmp"` first and is renamed on success. */
  path: string;
  /** Metadata in file order. Keys must be unique. */
  metadata: ReadonlyArray<readonly [key: string, value: GgufValue]>;
  tensors: readonly GgufTensorSpec[];
  /** Data alignment; written as `general.alignment` when not 32 and absent from metadata. */
  alignment?: number;
  /** Called as bytes reach the file (header included). */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
  /** Size of the write buffer, 4 MiB by default. */
  bufferBytes?: number;
}

export interface GgufLayout {
  /** Header, metadata, tensor infos and the padding before the data section. */
  header: Uint8Array;
  /** Data offset of each tensor, relative to the data section. */
  tensorOffsets: number[];
  tensorSizes: number[];
  alignment: number;
  totalBytes: number;
}

const alignUp = (n: number, alignment: number): number => Math.ceil(n / alignment) * alignment;

/** Builds the in-memory part of the file and computes where every tensor goes. */
export function layoutGguf(
  metadata: GgufWriteOptions["metadata"],
  tensors: readonly Pick<GgufTensorSpec, "name" | "dims" | "type">[],
  alignmentOption?: number,
): GgufLayout {
  const entries = [...metadata];
  const seen = new Set<string>();
  for (const [key] of entries) {
    if (key.length === 0) throw new RangeError("metadata keys must not be empty");
    if (seen.has(key)) throw new RangeError(`duplicate metadata key ${key}`);
    seen.add(key);
  }
  const alignmentEntry = entries.find(([key]) => key === "general.alignment");
  let alignment = alignmentOption ?? GGUF_DEFAULT_ALIGNMENT;
  if (alignmentEntry) {
    const v = alignmentEntry[1];
    if (v.kind !== "u32") throw new TypeError("general.alignment must be a u32");
    if (alignmentOption !== undefined && alignmentOption !== v.value) {
      throw new RangeError(`alignment option ${alignmentOption} disagrees with general.alignment ${v.value}`);
    }
    alignment = v.value;
  } else if (alignment !== GGUF_DEFAULT_ALIGNMENT) {
    entries.push(["general.alignment", gguf.u32(alignment)]);
  }
  if (!Number.isInteger(alignment) || alignment <= 0 || alignment % 8 !== 0) {
    throw new RangeError(`alignment must be a positive multiple of 8, got ${alignment}`);
  }

  const names = new Set<string>();
  const tensorOffsets: number[] = [];
  const tensorSizes: number[] = [];
  let dataBytes = 0;
  for (const t of tensors) {
    if (names.has(t.name)) throw new RangeError(`duplicate tensor name ${t.name}`);
    names.add(t.name);
    if (Buffer.byteLength(t.name) > 63) throw new RangeError(`tensor name too long: ${t.name}`);
    const size = ggmlTensorByteSize(t.type, t.dims);
    dataBytes = alignUp(dataBytes, alignment);
    tensorOffsets.push(dataBytes);
    tensorSizes.push(size);
    dataBytes += size;
  }

  const out = new ByteBuilder();
  out.bytes(Buffer.from(GGUF_MAGIC, "ascii"));
  out.u32(GGUF_VERSION);
  out.u64(BigInt(tensors.length));
  out.u64(BigInt(entries.length));
  for (const [key, value] of entries) {
    out.string(key);
    writeValue(out, value);
  }
  tensors.forEach((t, i) => {
    out.string(t.name);
    out.u32(t.dims.length);
    for (const d of t.dims) out.u64(BigInt(d));
    out.u32(t.type.code);
    out.u64(BigInt(tensorOffsets[i]!));
  });
  out.zeros(alignUp(out.length, alignment) - out.length);
  const header = out.finish();
  return {
    header,
    tensorOffsets,
    tensorSizes,
    alignment,
    // The last tensor is padded too, so the file ends on an alignment boundary.
    totalBytes: header.length + alignUp(dataBytes, alignment),
  };
}

/**
 * Writes a GGUF file: header first, then each tensor's data as its producer
 * streams it. Writes to `path + ".tmp"` and renames at the end, so an
 * interrupted run never leaves a truncated file under the final name.
 */
export async function writeGgufFile(options: GgufWriteOptions): Promise<{ path: string; bytes: number }> {
  const layout = layoutGguf(options.metadata, options.tensors, options.alignment);
  const tmpPath = `${options.path}.tmp`;
  const file = await open(tmpPath, "w");
  let closed = false;
  try {
    const sink = new BufferedFileSink(file, options.bufferBytes ?? 4 << 20, layout.totalBytes, options.onProgress);
    await sink.write(layout.header);
    for (const [i, tensor] of options.tensors.entries()) {
      const start = layout.header.length + layout.tensorOffsets[i]!;
      await sink.write(new Uint8Array(start - sink.position));
      const expectedEnd = start + layout.tensorSizes[i]!;
      await tensor.writeData({
        write: (bytes) => {
          if (sink.position + bytes.length > expectedEnd) {
            throw new RangeError(`tensor ${tensor.name} wrote more than its ${layout.tensorSizes[i]} bytes`);
          }
          return sink.write(bytes);
        },
      });
      if (sink.position !== expectedEnd) {
        throw new RangeError(`tensor ${tensor.name} wrote ${sink.position - start} of its ${layout.tensorSizes[i]} bytes`);
      }
    }
    await sink.write(new Uint8Array(layout.totalBytes - sink.position));
    await sink.flush();
    closed = true;
    await file.close();
    await rename(tmpPath, options.path);
  } catch (err) {
    if (!closed) await file.close().catch(() => undefined);
    await rm(tmpPath, { force: true }).catch(() => undefined);
    throw err;
  }
  return { path: options.path, bytes: layout.totalBytes };
}

/** Collects small writes into a large buffer and writes it with awaited FileHandle calls. */
class BufferedFileSink {
  /** Bytes accepted so far (written or buffered). */
  position = 0;
  private readonly buffer: Buffer;
  private used = 0;
  private flushed = 0;

  constructor(
    private readonly file: FileHandle,
    bufferBytes: number,
    private readonly totalBytes: number,
    private readonly onProgress?: (doneBytes: number, totalBytes: number) => void,
  ) {
    this.buffer = Buffer.allocUnsafe(bufferBytes);
  }

  async write(bytes: Uint8Array): Promise<void> {
    let from = 0;
    while (from < bytes.length) {
      const n = Math.min(bytes.length - from, this.buffer.length - this.used);
      this.buffer.set(bytes.subarray(from, from + n), this.used);
      this.used += n;
      from += n;
      this.position += n;
      if (this.used === this.buffer.length) await this.flush();
    }
  }

  async flush(): Promise<void> {
    let offset = 0;
    while (offset < this.used) {
      const { bytesWritten } = await this.file.write(this.buffer, offset, this.used - offset);
      offset += bytesWritten;
    }
    this.flushed += this.used;
    this.used = 0;
    this.onProgress?.(this.flushed, this.totalBytes);
  }
}

/** Growable little-endian byte buffer for the header. */
class ByteBuilder {
  private buf = Buffer.alloc(1 << 16);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = Buffer.alloc(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  zeros(n: number): void {
    this.reserve(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
  }
  u8(v: number): void { this.reserve(1); this.length = this.buf.writeUInt8(v, this.length); }
  i8(v: number): void { this.reserve(1); this.length = this.buf.writeInt8(v, this.length); }
  u16(v: number): void { this.reserve(2); this.length = this.buf.writeUInt16LE(v, this.length); }
  i16(v: number): void { this.reserve(2); this.length = this.buf.writeInt16LE(v, this.length); }
  u32(v: number): void { this.reserve(4); this.length = this.buf.writeUInt32LE(v, this.length); }
  i32(v: number): void { this.reserve(4); this.length = this.buf.writeInt32LE(v, this.length); }
  u64(v: bigint): void { this.reserve(8); this.length = this.buf.writeBigUInt64LE(v, this.length); }
  i64(v: bigint): void { this.reserve(8); this.length = this.buf.writeBigInt64LE(v, this.length); }
  f32(v: number): void { this.reserve(4); this.length = this.buf.writeFloatLE(v, this.length); }
  f64(v: number): void { this.reserve(8); this.length = this.buf.writeDoubleLE(v, this.length); }
  string(s: string): void {
    const n = Buffer.byteLength(s, "utf8");
    this.u64(BigInt(n));
    this.reserve(n);
    this.length += this.buf.write(s, this.length, n, "utf8");
  }
  finish(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

// Node's Buffer write* methods already throw a RangeError for out-of-range
// integers, which is the validation we want for typed metadata values.
function writeScalar(out: ByteBuilder, kind: GgufScalarKind, value: number | bigint | boolean | string): void {
  if (typeof value === "number" && kind !== "f32" && kind !== "f64" && !Number.isInteger(value)) {
    throw new RangeError(`metadata value ${value} is not an integer (${kind})`);
  }
  switch (kind) {
    case "u8": return out.u8(value as number);
    case "i8": return out.i8(value as number);
    case "u16": return out.u16(value as number);
    case "i16": return out.i16(value as number);
    case "u32": return out.u32(value as number);
    case "i32": return out.i32(value as number);
    case "u64": return out.u64(value as bigint);
    case "i64": return out.i64(value as bigint);
    case "f32": return out.f32(value as number);
    case "f64": return out.f64(value as number);
    case "bool": return out.u8(value ? 1 : 0); // one byte, 0 or 1
    case "string": return out.string(value as string);
  }
}

function writeValue(out: ByteBuilder, value: GgufValue): void {
  out.u32(GgufValueTypeCode[value.kind]);
  if (value.kind !== "array") {
    writeScalar(out, value.kind, value.value);
    return;
  }
  out.u32(GgufValueTypeCode[value.itemKind]);
  out.u64(BigInt(value.values.length));
  for (let i = 0; i < value.values.length; i++) {
    writeScalar(out, value.itemKind, (value.values as ArrayLike<number | bigint | boolean | string>)[i]!);
  }
}
