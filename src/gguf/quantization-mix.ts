/**
 * Which ggml type each weight matrix of a test model gets, for each file type
 * `make-test-model --type` writes. The quantized mixes follow the rules
 * llama.cpp's quantizer applies (llama_tensor_get_type), so a test model has
 * the tensor-type mix of the real file of that type and the same shape:
 *
 * - `q4_k_m`: Q4_K everywhere, Q6_K for the output projection (the token
 *   embedding when it is tied), and for `attn_v` and `ffn_down` in the layers
 *   llama.cpp gives more bits (the first and last eighth, every third between).
 * - `q4_0`: Q4_0 everywhere, Q6_K for the output projection.
 * - K-quants need rows of a multiple of 256 values; a row that is not falls
 *   back as llama.cpp's does (Q4_K → Q5_0, Q6_K → Q8_0). Qwen2.5-0.5B's rows
 *   of 896 are such rows: its real Q4_K_M file is mostly Q5_0 and Q8_0.
 */
import { GgmlType, type GgmlTypeInfo } from "./gguf-writer.js";

export type TestModelType = "f16" | "q8_0" | "q4_k_m" | "q4_0";
export const TEST_MODEL_TYPES: readonly TestModelType[] = ["f16", "q8_0", "q4_k_m", "q4_0"];

/** `general.file_type` (llama.cpp's llama_ftype) of each type. */
export const FILE_TYPE: Record<TestModelType, number> = { f16: 1, q8_0: 7, q4_0: 2, q4_k_m: 15 };

/** What the mix needs to know of one weight matrix. */
export interface MatrixRole {
  /** `output` is the output projection (or the token embedding tied to it). */
  kind: "output" | "attn_v" | "ffn_down" | "other";
  /** The block index, for per-layer rules (null outside the blocks). */
  layer: number | null;
  layers: number;
  /** Row length (ne0). */
  rowLength: number;
}

/** llama.cpp's "use more bits" layers: the first and last eighth, and every third layer between. */
function moreBitsLayer(layer: number, layers: number): boolean {
  return layer < layers / 8 || layer >= (7 * layers) / 8 || (layer - Math.floor(layers / 8)) % 3 === 2;
}

function fitRow(type: GgmlTypeInfo, rowLength: number): GgmlTypeInfo {
  if (rowLength % type.blockElements === 0) return type;
  const fallback: GgmlTypeInfo = type === GgmlType.Q6_K ? GgmlType.Q8_0 : type === GgmlType.Q4_K ? GgmlType.Q5_0 : GgmlType.F16;
  return rowLength % fallback.blockElements === 0 ? fallback : GgmlType.F16;
}

export function matrixType(fileType: TestModelType, role: MatrixRole): GgmlTypeInfo {
  switch (fileType) {
    case "f16":
      return GgmlType.F16;
    case "q8_0":
      return GgmlType.Q8_0;
    case "q4_0":
      return fitRow(role.kind === "output" ? GgmlType.Q6_K : GgmlType.Q4_0, role.rowLength);
    case "q4_k_m": {
      const moreBits = role.layer !== null && moreBitsLayer(role.layer, role.layers);
      const six = role.kind === "output" || ((role.kind === "attn_v" || role.kind === "ffn_down") && moreBits);
      return fitRow(six ? GgmlType.Q6_K : GgmlType.Q4_K, role.rowLength);
    }
  }
}
