import assert from "node:assert/strict";
import { test } from "node:test";
import type { BatchItem, Token } from "node-llama-cpp";
import { decodeFirstStrategy } from "../src/engines/llama/batch-scheduler.js";

const item = (tokens: number): BatchItem => ({ tokens: Array.from({ length: tokens }, (_, i) => i as Token), logits: [], evaluationPriority: 5 });

test("decoding sequences always get their token; prompts share a bounded chunk, oldest first", () => {
  const decoders = [item(1), item(1), item(1)];
  const older = item(300);
  const newer = item(200);
  const batch = decodeFirstStrategy(128)({ items: [decoders[0]!, older, decoders[1]!, newer, decoders[2]!], size: 512 });
  const amount = (i: BatchItem): number | undefined => batch.find((b) => b.item === i)?.processAmount;
  for (const d of decoders) assert.equal(amount(d), 1);
  assert.equal(amount(older), 128, "the oldest prompt takes the whole chunk");
  assert.equal(amount(newer), undefined, "the newer prompt waits for the next batch");
});

test("a prompt shorter than the chunk leaves room for the next one", () => {
  const a = item(50);
  const b = item(200);
  const batch = decodeFirstStrategy(128)({ items: [item(1), a, b], size: 512 });
  assert.deepEqual(batch.map((x) => x.processAmount), [1, 50, 78]);
});

test("with nobody decoding, prompts use the whole batch", () => {
  const a = item(300);
  const b = item(400);
  const batch = decodeFirstStrategy(128)({ items: [a, b], size: 512 });
  assert.deepEqual(batch.map((x) => x.processAmount), [300, 212]);
});

test("the batch size is never exceeded", () => {
  const items = Array.from({ length: 20 }, () => item(1));
  const batch = decodeFirstStrategy(128)({ items: [...items, item(100)], size: 16 });
  assert.equal(batch.reduce((s, b) => s + b.processAmount, 0), 16);
});
