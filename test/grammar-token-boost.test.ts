/**
 * The boost under a grammar: at every step of a real output, the boosted set
 * is exactly the set of tokens the grammar accepts (so the equal bias leaves
 * the constrained distribution as it is), or nothing is boosted; the bias
 * adds the client's logit_bias to the boost and keeps bans.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { getLlama, LlamaGrammarEvaluationState, LlamaLogLevel, type Token } from "node-llama-cpp";
import { GrammarSamplingBias } from "../src/engines/llama/grammar-sampling-bias.js";
import { boostLogit, GrammarTokenBoost, grammarProbeOf } from "../src/engines/llama/grammar-token-boost.js";
import { vocabularyTrie } from "../src/engines/llama/grammar-token-trie.js";
import { responseFormatGbnf } from "../src/engines/llama/response-grammar.js";
import { bannedUnderGrammar } from "../src/engines/llama/sampling-options.js";
import { TokenBytes } from "../src/engines/llama/token-bytes.js";
import { Utf8SequenceGuard } from "../src/engines/llama/utf8-sequence-guard.js";
import { tinyModelPath } from "./helpers/models.js";

const schema = {
  type: "object",
  properties: { id: { type: "integer" }, kind: { enum: ["alpha", "beta"] }, tags: { type: "array", items: { type: "string", maxLength: 5 }, maxItems: 2 }, ok: { type: "boolean" } },
  required: ["id", "kind", "tags", "ok"],
  additionalProperties: false,
};
const output = '{ "id": 42, "kind": "beta",\n "tags": ["ab", "c"], "ok": true }\n\n\n\n';

test("the boosted set is exactly the tokens the grammar accepts next, or nothing", async () => {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: await tinyModelPath() });
  try {
    const probe = grammarProbeOf(model);
    // The pinned node-llama-cpp has it; an upgrade that drops it must fail here, not skip.
    assert.ok(probe !== null, "node-llama-cpp's single-token grammar check is there");
    const vocab = TokenBytes.fromModel(model);
    const trie = vocabularyTrie(vocab, (token) => model.isEogToken(token));
    // A small limit, so that the tiny vocabulary takes every path: exact, too many, none (inside strings, where the grammar may end).
    const boost = new GrammarTokenBoost(trie, probe, { maxBoosted: 24 });
    const grammar = await llama.createGrammar({ grammar: responseFormatGbnf({ type: "json_schema", name: "s", strict: true, schema })! });
    const state = new LlamaGrammarEvaluationState({ model, grammar });
    const addon = (model.llama as unknown as { _bindings: { AddonSampler: { acceptGrammarEvaluationStateToken(s: unknown, token: number): void } } })._bindings.AddonSampler;
    const seen = { none: 0, exact: 0 };
    for (const token of model.tokenize(output)) {
      const accepted = new Set<number>();
      for (let other = 0; other < vocab.size; other++) if (!model.isEogToken(other as Token) && probe(state, other as Token)) accepted.add(other);
      const found = boost.candidates(state);
      if (found === null) seen.none++;
      else {
        seen.exact++;
        assert.deepEqual([...found.tokens].sort((a, b) => a - b), [...accepted].sort((a, b) => a - b), `before ${JSON.stringify(model.detokenize([token]))}`);
      }
      assert.ok(accepted.has(token), "the written token is accepted");
      addon.acceptGrammarEvaluationStateToken((state as unknown as { _state: unknown })._state, token);
    }
    assert.ok(seen.exact > 0 && seen.none > 0, JSON.stringify(seen));
  } finally {
    await model.dispose();
  }
});

test("the bias: boost plus the client's logit_bias, bans kept", async () => {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: await tinyModelPath() });
  try {
    const probe = grammarProbeOf(model);
    // The pinned node-llama-cpp has it; an upgrade that drops it must fail here, not skip.
    assert.ok(probe !== null, "node-llama-cpp's single-token grammar check is there");
    const vocab = TokenBytes.fromModel(model);
    const boost = new GrammarTokenBoost(vocabularyTrie(vocab, (token) => model.isEogToken(token)), probe, { maxBoosted: 1024 });
    const grammar = await llama.createGrammar({ grammar: 'root ::= "{" [0-9] "}"' });
    const state = new LlamaGrammarEvaluationState({ model, grammar });
    const open = model.tokenize("{")[0]!;
    const other = model.tokenize("x")[0]!;
    const bias = new GrammarSamplingBias(model, new Map([[open, 2], [other, -100]]), [], new Utf8SequenceGuard(vocab), boost);
    const biases = (bias.bias(state) as unknown as { _biases: Map<number, number> })._biases;
    assert.equal(biases.get(open), boostLogit + 2);
    assert.equal(biases.get(other), bannedUnderGrammar);
    for (const [token, logit] of biases) if (token !== open && token !== other) assert.equal(logit, boostLogit, `token ${token}`);
    assert.equal(bias.bias(state), bias.bias(state), "the same set, the same TokenBias object");
  } finally {
    await model.dispose();
  }
});
