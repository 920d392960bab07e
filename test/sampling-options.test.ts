/**
 * OpenAI sampling parameters as node-llama-cpp receives them. top_k off must
 * leave llama.cpp's top-k sampler out: node-llama-cpp turns a top_k of 0 into
 * a top-k of the whole vocabulary, which sorts every candidate at every token
 * (twice when a grammar rejects the first pick) — docs/BENCHMARKS.md,
 * "Grammar-constrained decoding". Checked against node-llama-cpp's own
 * resolution of the options into the native sampler's settings, so an
 * upgrade that changed how it reads them fails here.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { getLlama, LlamaLogLevel, type LlamaContext, type LlamaModel, type SequenceEvaluateOptions } from "node-llama-cpp";
import { buildEvaluateOptions } from "../src/engines/llama/sampling-options.js";
import type { SamplingParams } from "../src/protocol/chat-request.js";
import { tinyModelPath } from "./helpers/models.js";

let model: LlamaModel;
let context: LlamaContext;

before(async () => {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  model = await llama.loadModel({ modelPath: await tinyModelPath() });
  context = await model.createContext({ contextSize: 256, threads: 1 });
});
after(async () => {
  await context?.dispose();
  await model?.dispose();
});

const openaiDefaults: SamplingParams = {
  temperature: 1,
  topP: 1,
  topK: 0,
  minP: 0,
  presencePenalty: 0,
  frequencyPenalty: 0,
  repetitionPenalty: 1,
  logitBias: new Map(),
  seed: 7,
};

/** What node-llama-cpp hands the native sampler for these options (its internal resolution step). */
function nativeSettings(options: SequenceEvaluateOptions): Record<string, unknown> {
  const sequence = context.getSequence() as unknown as { _resolveSamplerConfig(o: SequenceEvaluateOptions): Record<string, unknown>; dispose(): void };
  try {
    return sequence._resolveSamplerConfig(options);
  } finally {
    sequence.dispose();
  }
}

test("top_k off: no top-k sampler reaches llama.cpp (not a top-k of the whole vocabulary)", () => {
  const settings = nativeSettings(buildEvaluateOptions(openaiDefaults, 7, undefined, () => undefined, []));
  assert.equal("topK" in settings, false, `topK ${String(settings.topK)} would sort the whole vocabulary every token`);
  assert.equal(settings.temperature, 1);
  assert.equal(settings.topP, 1);
});

test("a top_k the client sets is passed on", () => {
  const settings = nativeSettings(buildEvaluateOptions({ ...openaiDefaults, topK: 40 }, 7, undefined, () => undefined, []));
  assert.equal(settings.topK, 40);
});
