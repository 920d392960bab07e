/**
 * The batch planner on the real engine (node-llama-cpp, the tiny model),
 * in-process so a burst reaches it within the gather window for sure: what
 * each llama.cpp step carried is read from the engine's `trace` log. This is
 * also what notices when a node-llama-cpp upgrade changes the internals the
 * planner reads (sequence ids in its queue). No timing is asserted.
 */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import pino from "pino";
import type { PlannedStep } from "../src/engines/llama/batch-scheduler.js";
import { LlamaEngine } from "../src/engines/llama/llama-engine.js";
import { getRuntime } from "../src/engines/llama/llama-runtime.js";
import { parseChatRequest } from "../src/protocol/chat-request.js";
import { tinyModelPath } from "./helpers/models.js";

function memoryLogger(): { logger: pino.Logger; steps: () => PlannedStep[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString("utf8").split("\n").filter((l) => l !== ""));
      done();
    },
  });
  const logger = pino({ level: "trace" }, sink);
  const steps = (): PlannedStep[] =>
    lines.flatMap((line) => {
      const entry = JSON.parse(line) as { msg?: string; step?: PlannedStep };
      return entry.msg === "engine step" && entry.step !== undefined ? [entry.step] : [];
    });
  return { logger, steps };
}

test("a burst that overflows the batch starts generating together: no step mixes its prompts with decoding", { timeout: 120_000 }, async () => {
  const { logger, steps } = memoryLogger();
  const llama = await getRuntime(logger);
  const engine = await LlamaEngine.load(llama, {
    id: "tiny",
    modelPath: await tinyModelPath(),
    parallel: 4,
    contextSize: 256,
    threads: 1,
    maxWaiting: 8,
    prefillChunk: 0,
    batchSize: 64,
    logger,
  });
  try {
    const words = "rivers mountains cities weather answers questions".split(" ");
    const prompt = (i: number): string => Array.from({ length: 30 }, (_, k) => words[(k + i) % words.length]).join(" ");
    const run = async (i: number): Promise<number> => {
      const request = parseChatRequest({ model: "tiny", messages: [{ role: "user", content: prompt(i) }], max_tokens: 6, ignore_eos: true });
      let tokens = 0;
      for await (const event of engine.generate(request, new AbortController().signal)) {
        if (event.type === "usage") tokens = event.usage.completionTokens;
      }
      return tokens;
    };
    const completions = await Promise.all([0, 1, 2, 3].map(run));
    assert.deepEqual(completions, [6, 6, 6, 6]);

    const log = steps();
    const prefill = log.filter((s) => s.promptTokens > 0);
    assert.ok(prefill.some((s) => s.promptTokensLeft > 0), `the four prompts overflow a 64-token batch: ${JSON.stringify(prefill)}`);
    assert.ok(log.every((s) => s.decoders === 0 || s.promptTokens === 0), `no stream decodes while the burst is prefilled: ${JSON.stringify(log)}`);
    const firstDecode = log.find((s) => s.decoders > 0);
    assert.equal(firstDecode?.decoders, 4, "all four streams take their second token in the same step");
  } finally {
    await engine.close();
  }
});
