/**
 * The raw UTF-8 bytes of each token, for OpenAI logprobs (`bytes`) and the
 * per-token text (`token`).
 *
 * `model.detokenize([token])` cannot give them: a token that holds only part
 * of a multi-byte character comes back as U+FFFD. The bytes are recovered from
 * the vocabulary in the GGUF metadata instead, the way llama.cpp's
 * `token_to_piece` does it:
 * - `gpt2` (byte-level BPE, e.g. Qwen, Llama 3): every character of a normal
 *   token stands for one byte through GPT-2's byte-to-unicode table.
 * - `llama` (SentencePiece, e.g. Llama 2): `<0xNN>` byte tokens are that byte,
 *   `▁` (U+2581) is a space, the rest is the token text as UTF-8.
 * - Control, user-defined, unknown and unused tokens: their text as UTF-8
 *   (what `detokenize(..., true)` shows for them).
 * - Any other tokenizer: UTF-8 of `detokenize([token], true)`, computed on
 *   first use and cached.
 *
 * Known vocabularies are decoded eagerly into one flat buffer (offsets into it
 * per token), which takes a few milliseconds even for Qwen's 151,936 tokens.
 */
import type { LlamaModel, Token } from "node-llama-cpp";
import { byteToUnicode } from "../../gguf/bpe-vocab.js";

/** `tokenizer.ggml.token_type` codes (llama.cpp's llama_token_type) that get tokenizer-specific decoding. */
const TOKEN_TYPE_UNDEFINED = 0;
const TOKEN_TYPE_NORMAL = 1;
const TOKEN_TYPE_BYTE = 6;

/** SentencePiece's visible space. */
const SPM_SPACE = "\u2581";
const SPM_BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;

/** Keeps a leading U+FEFF: a token may well be a byte-order mark, and the default decoder would drop it. */
const utf8Decoder = new TextDecoder("utf-8", { ignoreBOM: true });
const utf8Encoder = new TextEncoder();

type NormalTokenDecoder = (text: string, out: Uint8Array, at: number) => number;

export class TokenBytes {
  /** Every token's bytes, back to back (eager vocabularies only). */
  private readonly data: Uint8Array;
  /** Token i's bytes are data[offsets[i]] up to data[offsets[i + 1]]. */
  private readonly offsets: Uint32Array;
  /** Lazily filled bytes, for tokenizers without an eager table. */
  private readonly lazy: ((token: Token) => Uint8Array) | undefined;
  private readonly lazyCache = new Map<Token, Uint8Array>();
  /** Number of tokens in the vocabulary. */
  readonly size: number;

  private constructor(size: number, data: Uint8Array, offsets: Uint32Array, lazy?: (token: Token) => Uint8Array) {
    this.size = size;
    this.data = data;
    this.offsets = offsets;
    this.lazy = lazy;
  }

  static fromModel(model: LlamaModel): TokenBytes {
    const ggml = model.fileInfo.metadata.tokenizer?.ggml;
    const tokens: readonly string[] | undefined = ggml?.tokens;
    const types: ArrayLike<number> | undefined = ggml?.token_type;
    const decodeNormal = ggml?.model === "gpt2" ? byteLevelDecoder() : ggml?.model === "llama" ? sentencePieceDecoder : undefined;
    if (tokens && tokens.length > 0 && decodeNormal) return TokenBytes.eager(tokens, types, decodeNormal);

    // Never hand llama.cpp an id outside the vocabulary: the size check in view() runs first.
    return new TokenBytes(tokens?.length ?? 0, new Uint8Array(0), new Uint32Array(0), (token) =>
      utf8Encoder.encode(model.detokenize([token], true)),
    );
  }

  private static eager(tokens: readonly string[], types: ArrayLike<number> | undefined, decodeNormal: NormalTokenDecoder): TokenBytes {
    let capacity = 0;
    for (const text of tokens) capacity += text.length;
    // A UTF-16 code unit never becomes more than 3 UTF-8 bytes (a surrogate pair, 2 units, becomes 4).
    const data = new Uint8Array(capacity * 3);
    const offsets = new Uint32Array(tokens.length + 1);
    let at = 0;
    for (let i = 0; i < tokens.length; i++) {
      const text = tokens[i]!;
      const type = types?.[i] ?? TOKEN_TYPE_NORMAL;
      offsets[i] = at;
      if (type === TOKEN_TYPE_NORMAL || type === TOKEN_TYPE_UNDEFINED) {
        at = decodeNormal(text, data, at);
      } else if (type === TOKEN_TYPE_BYTE) {
        const byte = SPM_BYTE_TOKEN.exec(text);
        if (byte) data[at++] = Number.parseInt(byte[1]!, 16);
        else at = decodeNormal(text, data, at);
      } else {
        at += utf8Encoder.encodeInto(text, data.subarray(at)).written;
      }
    }
    offsets[tokens.length] = at;
    return new TokenBytes(tokens.length, data.slice(0, at), offsets);
  }

  /** The token's raw bytes (a fresh copy). Throws a RangeError for an id outside the vocabulary. */
  bytes(token: Token): Uint8Array {
    return this.view(token).slice();
  }

  /** The bytes decoded as UTF-8; bytes that are only part of a character become U+FFFD. */
  text(token: Token): string {
    return utf8Decoder.decode(this.view(token));
  }

  private view(token: Token): Uint8Array {
    if (!Number.isInteger(token) || token < 0 || token >= this.size) throw outOfRange(token, this.size);
    if (this.lazy) {
      let bytes = this.lazyCache.get(token);
      if (!bytes) {
        bytes = this.lazy(token);
        this.lazyCache.set(token, bytes);
      }
      return bytes;
    }
    return this.data.subarray(this.offsets[token]!, this.offsets[token + 1]!);
  }
}

function outOfRange(token: Token, size: number): RangeError {
  return new RangeError(`token ${token} is outside the vocabulary of ${size} tokens`);
}

/**
 * GPT-2 byte-level text -> bytes. Every byte-level character is below U+0144,
 * so a small table inverts it; a character outside the table (not produced by
 * byte-level encoding) is kept as its own UTF-8.
 */
function byteLevelDecoder(): NormalTokenDecoder {
  const table = byteToUnicode();
  const inverse = new Int16Array(0x200).fill(-1);
  table.forEach((char, byte) => {
    inverse[char.charCodeAt(0)] = byte;
  });
  return (text, out, at) => {
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      const byte = code < inverse.length ? inverse[code]! : -1;
      if (byte >= 0) {
        out[at++] = byte;
      } else {
        const char = String.fromCodePoint(text.codePointAt(i)!);
        at += utf8Encoder.encodeInto(char, out.subarray(at)).written;
        i += char.length - 1;
      }
    }
    return at;
  };
}

/** SentencePiece text -> bytes: `▁` is a space, everything else is UTF-8. */
function sentencePieceDecoder(text: string, out: Uint8Array, at: number): number {
  const plain = text.includes(SPM_SPACE) ? text.replaceAll(SPM_SPACE, " ") : text;
  return at + utf8Encoder.encodeInto(plain, out.subarray(at)).written;
}
