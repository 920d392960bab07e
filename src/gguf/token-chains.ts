/**
 * A test model that follows given token chains: for tests that need a model
 * to write a known sequence (a reasoning family's own `<think>`, say) where a
 * random model never would, without touching the engine. The blocks add
 * nothing (their output projections are zero), so the last hidden state is
 * the current token's own embedding, and the output projection is untied:
 * each token's row is its own embedding (a token outside the chains repeats
 * itself), and for every step A → B of a chain, B's row also points along
 * A's embedding (orthogonal to the other chain tokens'), so after A the model writes B with a probability of about 1
 * at any temperature. A chain ending in an end-of-generation token ends the
 * answer; one ending in any other token repeats that token until a limit.
 */
import type { BpeVocab } from "./bpe-vocab.js";
import { toByteLevel } from "./bpe-vocab.js";
import { f16BitsToF32, f32ToF16Bits, normalF16Table, type TensorDataWriter, type Xoshiro128 } from "./random-weights.js";

/** One step of a chain: after token `from` the model writes `to`. */
export interface TokenStep {
  from: number;
  to: number;
}

/**
 * Token texts → steps. Each text is one token of the vocabulary (a special
 * token, or a regular token written as plain text, e.g. " value"); a token
 * may lead to one successor only.
 */
export function chainSteps(vocab: BpeVocab, chains: ReadonlyArray<readonly string[]>): TokenStep[] {
  const byText = new Map<string, number>();
  vocab.tokens.forEach((token, id) => {
    if (!byText.has(token)) byText.set(token, id);
  });
  const idOf = (text: string): number => {
    const id = vocab.specialIds.get(text) ?? byText.get(toByteLevel(text));
    if (id === undefined) throw new RangeError(`token chain: ${JSON.stringify(text)} is not one token of the test model's vocabulary`);
    return id;
  };
  const next = new Map<number, number>();
  for (const chain of chains) {
    if (chain.length < 2) throw new RangeError("a token chain needs at least two tokens");
    for (let i = 0; i + 1 < chain.length; i++) {
      const from = idOf(chain[i]!);
      const to = idOf(chain[i + 1]!);
      const known = next.get(from);
      if (known !== undefined && known !== to) throw new RangeError(`token chain: ${JSON.stringify(chain[i])} is followed by two different tokens`);
      next.set(from, to);
    }
  }
  return [...next].map(([from, to]) => ({ from, to }));
}

/**
 * How far a step's successor row points along its predecessor's embedding:
 * after A its logit is about twice A's own (A repeating itself). The added
 * direction is orthogonal to the other chain tokens' embeddings, so after
 * them it adds nothing; after a token outside the chains it adds noise far
 * below that token's own logit.
 */
const STEP_WEIGHT = 2;

/** The embedding (random, F16) and the untied output projection that follows the steps, as F16 data. */
export function chainedProjections(
  hidden: number,
  vocab: number,
  std: number,
  rng: Xoshiro128,
  steps: readonly TokenStep[],
): { embedding: TensorDataWriter; output: TensorDataWriter } {
  const embedding = new Uint16Array(hidden * vocab);
  rng.fillFromTable16(embedding, normalF16Table(std));
  const row = (id: number): Float64Array => Float64Array.from(embedding.subarray(id * hidden, (id + 1) * hidden), f16BitsToF32);
  const chainTokens = [...new Set(steps.flatMap((s) => [s.from, s.to]))];
  const output = embedding.slice();
  for (const { from, to } of steps) {
    // A's direction with the other chain tokens' taken out: after any other
    // chain token the step adds nothing, so chains never disturb each other.
    const a = row(from);
    const u = orthogonalTo(a, chainTokens.filter((t) => t !== from).map(row));
    const scale = (STEP_WEIGHT * dot(a, a)) / dot(u, a);
    for (let i = 0; i < hidden; i++) {
      output[to * hidden + i] = f32ToF16Bits(f16BitsToF32(output[to * hidden + i]!) + scale * u[i]!);
    }
  }
  return { embedding: f16Writer(embedding), output: f16Writer(output) };
}

function dot(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

/** `v` minus its projection onto the span of `others` (Gram-Schmidt). */
function orthogonalTo(v: Float64Array, others: readonly Float64Array[]): Float64Array {
  const basis: Float64Array[] = [];
  for (const o of others) {
    const q = Float64Array.from(o);
    for (const b of basis) {
      const d = dot(q, b);
      for (let i = 0; i < q.length; i++) q[i] = q[i]! - d * b[i]!;
    }
    const norm = Math.sqrt(dot(q, q));
    if (norm < 1e-9) continue;
    for (let i = 0; i < q.length; i++) q[i] = q[i]! / norm;
    basis.push(q);
  }
  const u = Float64Array.from(v);
  for (const b of basis) {
    const d = dot(u, b);
    for (let i = 0; i < u.length; i++) u[i] = u[i]! - d * b[i]!;
  }
  return u;
}

/** `count` zeros as F16 (a block's output projection that adds nothing). */
export function zeroF16Data(count: number): TensorDataWriter {
  return f16Writer(new Uint16Array(count));
}

function f16Writer(data: Uint16Array): TensorDataWriter {
  return async (sink) => {
    await sink.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  };
}
