/**
 * The trie walk's exactness argument: the grammar rejects every token that
 * begins with a token it rejects, so skipping those branches unasked loses
 * nothing. Checked against the grammar's own answer about every token of the
 * vocabulary, at the states of seeded random walks through several grammars
 * (each step picks one of the accepted tokens), on the tiny model's vocabulary
 * and on Qwen2.5's 151,936 tokens.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { getLlama, LlamaGrammarEvaluationState, LlamaLogLevel, type LlamaGrammar, type LlamaModel, type Token } from "node-llama-cpp";
import { grammarProbeOf } from "../src/engines/llama/grammar-token-boost.js";
import { vocabularyTrie } from "../src/engines/llama/grammar-token-trie.js";
import { responseFormatGbnf } from "../src/engines/llama/response-grammar.js";
import { TokenBytes } from "../src/engines/llama/token-bytes.js";
import { qwenShapedModelPath, tinyModelPath } from "./helpers/models.js";

const schemas: Record<string, Record<string, unknown>> = {
  "short fields": {
    type: "object",
    properties: {
      id: { type: "integer", minimum: -50, maximum: 1200 },
      code: { type: "string", maxLength: 6 },
      kind: { enum: ["alpha", "beta", "Ünïcødé", "日本"] },
      active: { type: "boolean" },
      score: { type: "number" },
      tags: { type: "array", items: { type: "string", maxLength: 5 }, maxItems: 3 },
      note: { anyOf: [{ type: "string", minLength: 2, maxLength: 8 }, { type: "null" }] },
    },
    required: ["id", "code", "kind", "active", "score", "tags", "note"],
    additionalProperties: false,
  },
  patterns: {
    type: "object",
    properties: { sku: { type: "string", pattern: "^[A-Z]{2}-[0-9]{3}$" }, when: { type: "string", format: "date" }, text: { type: "string" } },
    required: ["sku", "when", "text"],
    additionalProperties: false,
  },
};

/** A small seeded generator (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Walks `grammar` from `walks` seeds, `steps` tokens each; at every state compares the trie's answer with a question about every token. */
function compareOnWalks(model: LlamaModel, grammar: LlamaGrammar, walks: number, steps: number): { states: number; accepted: number; asked: number } {
  const probe = grammarProbeOf(model);
  // The pinned node-llama-cpp has it; an upgrade that drops it must fail here, not skip.
  assert.ok(probe !== null, "node-llama-cpp's single-token grammar check is there");
  const vocab = TokenBytes.fromModel(model);
  const trie = vocabularyTrie(vocab, (token) => model.isEogToken(token));
  const addon = (model.llama as unknown as { _bindings: { AddonSampler: { acceptGrammarEvaluationStateToken(s: unknown, token: number): void } } })._bindings.AddonSampler;
  const totals = { states: 0, accepted: 0, asked: 0 };
  for (let walk = 1; walk <= walks; walk++) {
    const next = random(walk);
    const state = new LlamaGrammarEvaluationState({ model, grammar });
    const written: Token[] = [];
    for (let step = 0; step < steps; step++) {
      const expected: number[] = [];
      for (let token = 0; token < vocab.size; token++) if (!model.isEogToken(token as Token) && probe(state, token as Token)) expected.push(token);
      let asked = 0;
      const found = trie.acceptedTokens((token) => {
        asked++;
        return probe(state, token);
      }, vocab.size);
      assert.ok(found !== null);
      assert.deepEqual([...found].sort((a, b) => a - b), expected, `walk ${walk} after ${JSON.stringify(model.detokenize(written))}`);
      totals.states++;
      totals.accepted += expected.length;
      totals.asked += asked;
      if (expected.length === 0) break;
      const token = expected[Math.floor(next() * expected.length)]! as Token;
      written.push(token);
      addon.acceptGrammarEvaluationStateToken((state as unknown as { _state: unknown })._state, token);
    }
  }
  return totals;
}

test("the trie walk finds exactly the tokens the grammar accepts (tiny vocabulary)", async () => {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: await tinyModelPath() });
  try {
    for (const [name, schema] of Object.entries(schemas)) {
      const grammar = await llama.createGrammar({ grammar: responseFormatGbnf({ type: "json_schema", name: "s", strict: true, schema })! });
      const totals = compareOnWalks(model, grammar, 12, 40);
      assert.ok(totals.states >= 100, `${name}: ${JSON.stringify(totals)}`);
      // The point of the walk: far fewer questions than tokens.
      assert.ok(totals.asked < (totals.states * TokenBytes.fromModel(model).size) / 2, `${name}: ${JSON.stringify(totals)}`);
    }
  } finally {
    await model.dispose();
  }
});

test("the trie walk finds exactly the tokens the grammar accepts (Qwen2.5's 151,936-token vocabulary)", async () => {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: await qwenShapedModelPath() });
  try {
    const grammar = await llama.createGrammar({ grammar: responseFormatGbnf({ type: "json_schema", name: "s", strict: true, schema: schemas["short fields"]! })! });
    const totals = compareOnWalks(model, grammar, 3, 12);
    assert.ok(totals.states >= 30, JSON.stringify(totals));
  } finally {
    await model.dispose();
  }
});
