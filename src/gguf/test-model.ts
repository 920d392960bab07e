/**
 * Generates qwen2-architecture GGUF models with random weights, a real
 * byte-level BPE tokenizer and a ChatML chat template (optionally Qwen3-style
 * with thinking), for tests and
 * benchmarks that must not download anything. A random model of a real shape
 * runs exactly as fast as the trained one; its text is gibberish.
 */
import { buildBpeVocab, TokenType, type BpeVocab } from "./bpe-vocab.js";
import { CHATML_THINKING_TOOLS_TEMPLATE, CHATML_TOOLS_TEMPLATE } from "./chatml-template.js";
import { GgmlType, gguf, writeGgufFile, type GgmlTypeInfo, type GgufTensorSpec, type GgufValue } from "./gguf-writer.js";
import { FILE_TYPE, matrixType, TEST_MODEL_TYPES, type TestModelType } from "./quantization-mix.js";
import { chainedProjections, chainSteps, zeroF16Data, type TokenStep } from "./token-chains.js";
import { Q4_0_FORMAT, Q4_K_FORMAT, Q5_0_FORMAT, Q6_K_FORMAT, randomQuantBlocks } from "./random-quant-blocks.js";
import {
  Xoshiro128,
  constantF32Data,
  hashString,
  randomF16Data,
  randomF32Data,
  randomQ8_0Data,
  type TensorDataWriter,
} from "./random-weights.js";

export interface TestModelShape {
  hidden: number;
  blocks: number;
  heads: number;
  kvHeads: number;
  ffn: number;
  context: number;
  vocab: number;
  /** Byte + merge tokens; special tokens follow, then padding up to `vocab`. */
  regularTokens: number;
  /** Std of the token embedding (tied with the output projection, so it sets the logit spread). */
  embeddingStd: number;
  /** Other matrices get std = weightGain / sqrt(fan-in), i.e. they roughly preserve activation scale. */
  weightGain: number;
}

/*
 * Why these weight scales: with tied embeddings the logit of token j is
 * e_j · norm(h), and the residual stream h starts as the current token's own
 * embedding. If the blocks add little (e.g. std 0.02 everywhere), e_cur wins
 * by a mile and the model repeats its input token forever. Matrices with
 * std = 2 / sqrt(fan-in) make every block's output larger than the embedding,
 * so h depends on the context; the embedding std then sets the logit spread
 * (std ≈ embeddingStd * sqrt(hidden), about 4 for tiny and 6 for qwen2.5-0.5b):
 * measured top-1 probability ≈ 0.4 after node-llama-cpp's default top-k, varied
 * tokens at temperature 1, activations finite through all 24 blocks.
 */
export const TEST_MODEL_SHAPES = {
  tiny: {
    hidden: 64, blocks: 2, heads: 4, kvHeads: 2, ffn: 256, context: 4096,
    vocab: 4096, regularTokens: 4000, embeddingStd: 0.5, weightGain: 2,
  },
  // The tensor shapes of the real Qwen2.5-0.5B(-Instruct); the real model also
  // puts its first special token at id 151643 and ties the output to the embedding.
  "qwen2.5-0.5b": {
    hidden: 896, blocks: 24, heads: 14, kvHeads: 2, ffn: 4864, context: 32768,
    vocab: 151936, regularTokens: 151643, embeddingStd: 0.2, weightGain: 2,
  },
} as const satisfies Record<string, TestModelShape>;

export type TestModelShapeName = keyof typeof TEST_MODEL_SHAPES;
export { TEST_MODEL_TYPES, type TestModelType } from "./quantization-mix.js";

/**
 * The chat template written as `tokenizer.chat_template`: "chatml" is ChatML
 * with Hermes-style tools; "thinking" adds Qwen3-style reasoning
 * (`enable_thinking`, `<think>` blocks, `reasoning_content`).
 */
export type TestModelTemplate = "chatml" | "thinking";
export const TEST_MODEL_TEMPLATES: readonly TestModelTemplate[] = ["chatml", "thinking"];

const CHAT_TEMPLATES: Record<TestModelTemplate, string> = {
  chatml: CHATML_TOOLS_TEMPLATE,
  thinking: CHATML_THINKING_TOOLS_TEMPLATE,
};

/**
 * Any other chat template (a model family's real one): its text, and the
 * special tokens it uses, each written as one CONTROL token, with bos, eos
 * and end-of-turn among them.
 */
export interface CustomChatTemplate {
  /** For the model's name: a family or file name. */
  name: string;
  text: string;
  specialTokens: readonly string[];
  bos: string;
  eos: string;
  eot: string;
  addBos: boolean;
  /** Fill-in-the-middle tokens (written as special tokens and as `tokenizer.ggml.fim_*_token_id`), for legacy completions' `suffix`. */
  fim?: FimTokens;
}

/** The texts of a model's fill-in-the-middle tokens: before the prefix, before the suffix, before the middle. */
export interface FimTokens {
  prefix: string;
  suffix: string;
  middle: string;
}

export interface WriteTestModelOptions {
  out: string;
  shape: TestModelShapeName;
  seed: number;
  type: TestModelType;
  /** Defaults to "chatml". */
  template?: TestModelTemplate | CustomChatTemplate;
  /** An embedding model: the GGUF declares mean pooling ({@link embeddingMetadata}), so llama.cpp loads it for embeddings. */
  embedding?: boolean;
  /**
   * Token chains the model follows (`token-chains.ts`; f16 only): each a list
   * of token texts, special or regular, after each of which the model writes
   * the next. Its blocks then add nothing: a bigram model, for tests that
   * need a known output.
   */
  chains?: ReadonlyArray<readonly string[]>;
  onProgress?: (doneBytes: number, totalBytes: number) => void;
}

/**
 * Writes the model to `out` (through `out + ".tmp"` and a rename). The same
 * options always give a byte-identical file.
 */
export async function writeTestModel(opts: WriteTestModelOptions): Promise<{ path: string; bytes: number }> {
  const shape: TestModelShape | undefined = (TEST_MODEL_SHAPES as Record<string, TestModelShape>)[opts.shape];
  if (!shape) throw new RangeError(`unknown shape ${opts.shape}; expected one of ${Object.keys(TEST_MODEL_SHAPES).join(", ")}`);
  if (!TEST_MODEL_TYPES.includes(opts.type)) throw new RangeError(`unknown type ${opts.type}; expected one of ${TEST_MODEL_TYPES.join(", ")}`);
  if (!Number.isSafeInteger(opts.seed) || opts.seed < 0) throw new RangeError(`seed must be a non-negative integer, got ${opts.seed}`);
  const template = opts.template ?? "chatml";
  if (typeof template === "string" && !TEST_MODEL_TEMPLATES.includes(template)) {
    throw new RangeError(`unknown template ${template}; expected chatml or thinking`);
  }
  let steps: TokenStep[] | null = null;
  if (opts.chains !== undefined && opts.chains.length > 0) {
    if (opts.type !== "f16") throw new RangeError("token chains need --type f16");
    steps = chainSteps(testModelVocab(shape, opts.seed, template), opts.chains);
  }
  return writeGgufFile({
    path: opts.out,
    metadata: [...testModelMetadata(opts.shape, shape, opts.type, opts.seed, template), ...(opts.embedding === true ? embeddingMetadata("qwen2") : [])],
    tensors: testModelTensors(shape, opts.type, opts.seed, steps),
    onProgress: opts.onProgress,
  });
}

/**
 * What makes a decoder an embedding model to llama.cpp: `<arch>.pooling_type`
 * 1 (mean: the average of the last hidden states of the input's tokens), as
 * gte-Qwen2-style embedding GGUFs declare it.
 */
export function embeddingMetadata(arch: string): [string, GgufValue][] {
  return [[`${arch}.pooling_type`, gguf.u32(1)]];
}

export function testModelMetadata(
  shapeName: string,
  shape: TestModelShape,
  type: TestModelType,
  seed: number,
  template: TestModelTemplate | CustomChatTemplate = "chatml",
): [string, GgufValue][] {
  const arch = "qwen2";
  if (typeof template !== "string") return customTemplateMetadata(shapeName, shape, type, seed, template, arch);
  const vocab = testModelVocab(shape, seed, template);
  const special = vocab.special;
  if (special === null) throw new Error("unreachable: the default vocabulary has the ChatML tokens");
  return [
    ...modelMetadata(shapeName, shape, type, seed, arch),
    ["tokenizer.ggml.model", gguf.string("gpt2")],
    ["tokenizer.ggml.pre", gguf.string("qwen2")],
    ["tokenizer.ggml.tokens", gguf.array("string", vocab.tokens)],
    ["tokenizer.ggml.token_type", gguf.array("i32", vocab.tokenTypes)],
    ["tokenizer.ggml.merges", gguf.array("string", vocab.merges)],
    ["tokenizer.ggml.eos_token_id", gguf.u32(special.imEnd)],
    // Without this llama.cpp guesses the end-of-turn token by scanning a hash map
    // for known texts, so it may pick <|endoftext|> instead of <|im_end|>.
    ["tokenizer.ggml.eot_token_id", gguf.u32(special.imEnd)],
    ["tokenizer.ggml.padding_token_id", gguf.u32(special.endOfText)],
    ["tokenizer.ggml.bos_token_id", gguf.u32(special.endOfText)],
    ["tokenizer.ggml.add_bos_token", gguf.bool(false)],
    ["tokenizer.chat_template", gguf.string(CHAT_TEMPLATES[template])],
  ];
}

/** The vocabulary a test model with this template gets: ChatML's special tokens, or the custom template's (bos, eos, eot, its own, FIM). */
function testModelVocab(shape: TestModelShape, seed: number, template: TestModelTemplate | CustomChatTemplate): BpeVocab {
  if (typeof template === "string") return buildBpeVocab({ size: shape.vocab, seed, regularTokens: shape.regularTokens });
  const fim = template.fim === undefined ? [] : [template.fim.prefix, template.fim.suffix, template.fim.middle];
  const texts = [...new Set([template.bos, template.eos, template.eot, ...template.specialTokens, ...fim])];
  return buildBpeVocab({
    size: shape.vocab,
    seed,
    regularTokens: shape.regularTokens,
    specialTokens: texts.map((text) => ({ text, type: TokenType.CONTROL })),
  });
}

/** A model with another family's chat template and special tokens (bos, eos and eot among them). */
function customTemplateMetadata(
  shapeName: string,
  shape: TestModelShape,
  type: TestModelType,
  seed: number,
  template: CustomChatTemplate,
  arch: string,
): [string, GgufValue][] {
  const vocab = testModelVocab(shape, seed, template);
  const id = (text: string): number => {
    const found = vocab.specialIds.get(text);
    if (found === undefined) throw new Error(`unreachable: ${text} is a special token`);
    return found;
  };
  return [
    ...modelMetadata(shapeName, shape, type, seed, arch, template.name),
    ["tokenizer.ggml.model", gguf.string("gpt2")],
    ["tokenizer.ggml.pre", gguf.string("qwen2")],
    ["tokenizer.ggml.tokens", gguf.array("string", vocab.tokens)],
    ["tokenizer.ggml.token_type", gguf.array("i32", vocab.tokenTypes)],
    ["tokenizer.ggml.merges", gguf.array("string", vocab.merges)],
    ["tokenizer.ggml.eos_token_id", gguf.u32(id(template.eos))],
    ["tokenizer.ggml.eot_token_id", gguf.u32(id(template.eot))],
    ["tokenizer.ggml.padding_token_id", gguf.u32(id(template.bos))],
    ["tokenizer.ggml.bos_token_id", gguf.u32(id(template.bos))],
    ["tokenizer.ggml.add_bos_token", gguf.bool(template.addBos)],
    ["tokenizer.chat_template", gguf.string(template.text)],
    ...(template.fim === undefined
      ? []
      : ([
          ["tokenizer.ggml.fim_pre_token_id", gguf.u32(id(template.fim.prefix))],
          ["tokenizer.ggml.fim_suf_token_id", gguf.u32(id(template.fim.suffix))],
          ["tokenizer.ggml.fim_mid_token_id", gguf.u32(id(template.fim.middle))],
        ] as [string, GgufValue][])),
  ];
}

function modelMetadata(shapeName: string, shape: TestModelShape, type: TestModelType, seed: number, arch: string, templateName?: string): [string, GgufValue][] {
  const name = `chatport test model ${shapeName} ${type} seed ${seed}${templateName === undefined ? "" : ` ${templateName} template`}`;
  return [
    ["general.architecture", gguf.string(arch)],
    ["general.type", gguf.string("model")],
    ["general.name", gguf.string(name)],
    ["general.description", gguf.string("Random weights from `chatport make-test-model`; produces gibberish by design.")],
    ["general.file_type", gguf.u32(FILE_TYPE[type])],
    ["general.quantization_version", gguf.u32(2)],
    ["general.alignment", gguf.u32(32)],
    [`${arch}.context_length`, gguf.u32(shape.context)],
    [`${arch}.embedding_length`, gguf.u32(shape.hidden)],
    [`${arch}.block_count`, gguf.u32(shape.blocks)],
    [`${arch}.feed_forward_length`, gguf.u32(shape.ffn)],
    [`${arch}.attention.head_count`, gguf.u32(shape.heads)],
    [`${arch}.attention.head_count_kv`, gguf.u32(shape.kvHeads)],
    [`${arch}.rope.freq_base`, gguf.f32(1_000_000)],
    [`${arch}.attention.layer_norm_rms_epsilon`, gguf.f32(1e-6)],
  ];
}

/**
 * Tensor list in ggml dimension order (ne0 = row length first). With token
 * chain steps, the blocks' output projections are zero and the output
 * projection is untied and follows the steps (`token-chains.ts`).
 */
export function testModelTensors(shape: TestModelShape, type: TestModelType, seed: number, steps: readonly TokenStep[] | null = null): GgufTensorSpec[] {
  const headDim = shape.hidden / shape.heads;
  if (!Number.isInteger(headDim)) throw new RangeError("hidden must be a multiple of heads");
  const kvDim = headDim * shape.kvHeads;
  const rngFor = (name: string): Xoshiro128 => new Xoshiro128(seed, hashString(name));
  const count = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

  const matrix = (name: string, dims: [number, number], std = shape.weightGain / Math.sqrt(dims[0])): GgufTensorSpec => {
    const layer = /^blk\.(\d+)\./.exec(name);
    // The embedding is tied to the output projection (no output.weight), so the mix treats it as the output.
    const kind = name === "token_embd.weight" ? "output" : name.endsWith("attn_v.weight") ? "attn_v" : name.endsWith("ffn_down.weight") ? "ffn_down" : "other";
    const tensorType = matrixType(type, { kind, layer: layer ? Number(layer[1]) : null, layers: shape.blocks, rowLength: dims[0] });
    return { name, dims, type: tensorType, writeData: randomWeights(tensorType, count(dims), std, rngFor(name)) };
  };
  const norm = (name: string, size: number): GgufTensorSpec => ({
    name, dims: [size], type: GgmlType.F32, writeData: constantF32Data(size, 1),
  });
  const bias = (name: string, size: number): GgufTensorSpec => ({
    name, dims: [size], type: GgmlType.F32, writeData: randomF32Data(size, 0.02, rngFor(name)),
  });

  const chained = steps === null ? null : chainedProjections(shape.hidden, shape.vocab, shape.embeddingStd, rngFor("token_embd.weight"), steps);
  const silent = (name: string, dims: [number, number]): GgufTensorSpec =>
    chained === null ? matrix(name, dims) : { name, dims, type: GgmlType.F16, writeData: zeroF16Data(count(dims)) };
  // No output.weight: like Qwen2.5-0.5B, llama.cpp reuses token_embd as the output projection (untied only for token chains).
  const tensors: GgufTensorSpec[] = [
    chained === null
      ? matrix("token_embd.weight", [shape.hidden, shape.vocab], shape.embeddingStd)
      : { name: "token_embd.weight", dims: [shape.hidden, shape.vocab], type: GgmlType.F16, writeData: chained.embedding },
  ];
  for (let b = 0; b < shape.blocks; b++) {
    const p = `blk.${b}.`;
    tensors.push(
      norm(`${p}attn_norm.weight`, shape.hidden),
      matrix(`${p}attn_q.weight`, [shape.hidden, shape.hidden]),
      bias(`${p}attn_q.bias`, shape.hidden),
      matrix(`${p}attn_k.weight`, [shape.hidden, kvDim]),
      bias(`${p}attn_k.bias`, kvDim),
      matrix(`${p}attn_v.weight`, [shape.hidden, kvDim]),
      bias(`${p}attn_v.bias`, kvDim),
      silent(`${p}attn_output.weight`, [shape.hidden, shape.hidden]),
      norm(`${p}ffn_norm.weight`, shape.hidden),
      matrix(`${p}ffn_gate.weight`, [shape.hidden, shape.ffn]),
      matrix(`${p}ffn_up.weight`, [shape.hidden, shape.ffn]),
      silent(`${p}ffn_down.weight`, [shape.ffn, shape.hidden]),
    );
  }
  tensors.push(norm("output_norm.weight", shape.hidden));
  if (chained !== null) tensors.push({ name: "output.weight", dims: [shape.hidden, shape.vocab], type: GgmlType.F16, writeData: chained.output });
  return tensors;
}

/** `count` random weights of std ≈ `std` stored as `type`. */
function randomWeights(type: GgmlTypeInfo, count: number, std: number, rng: Xoshiro128): TensorDataWriter {
  switch (type.name) {
    case "F16":
      return randomF16Data(count, std, rng);
    case "Q8_0":
      return randomQ8_0Data(count, std, rng);
    case "Q4_0":
      return randomQuantBlocks(Q4_0_FORMAT, count, std, rng);
    case "Q5_0":
      return randomQuantBlocks(Q5_0_FORMAT, count, std, rng);
    case "Q4_K":
      return randomQuantBlocks(Q4_K_FORMAT, count, std, rng);
    case "Q6_K":
      return randomQuantBlocks(Q6_K_FORMAT, count, std, rng);
    case "F32":
      throw new RangeError("weight matrices are never F32 in a test model");
  }
}
