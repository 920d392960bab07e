/**
 * The boost under a grammar: at every step of a real output, the boosted set
 * is exactly the set of tokens the grammar accepts (so the equal bias leaves
 * the constrained distribution as it is), end-of-generation tokens included
 * where the grammar may end, or nothing is boosted; the bias adds the
 * client's logit_bias to the boost and keeps bans, and carries the
 * end-of-generation tokens to llama.cpp, which node-llama-cpp's
 * `TokenBias.set` would drop.
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
    const boost = new GrammarTokenBoost(trie, probe, { maxBoosted: 24, endOfGeneration: true });
    const grammar = await llama.createGrammar({ grammar: responseFormatGbnf({ type: "json_schema", name: "s", strict: true, schema })! });
    const state = new LlamaGrammarEvaluationState({ model, grammar });
    const addon = (model.llama as unknown as { _bindings: { AddonSampler: { acceptGrammarEvaluationStateToken(s: unknown, token: number): void } } })._bindings.AddonSampler;
    const seen = { none: 0, exact: 0, mayEnd: 0 };
    const check = (where: string): Set<number> => {
      // Every token of the vocabulary asked, end-of-generation tokens included.
      const accepted = new Set<number>();
      for (let other = 0; other < vocab.size; other++) if (probe(state, other as Token)) accepted.add(other);
      const found = boost.candidates(state);
      if (found === null) seen.none++;
      else {
        seen.exact++;
        if ([...accepted].some((t) => model.isEogToken(t as Token))) seen.mayEnd++;
        assert.deepEqual([...found.tokens].sort((a, b) => a - b), [...accepted].sort((a, b) => a - b), where);
      }
      return accepted;
    };
    for (const token of model.tokenize(output)) {
      const accepted = check(`before ${JSON.stringify(model.detokenize([token]))}`);
      assert.ok(accepted.has(token), "the written token is accepted");
      addon.acceptGrammarEvaluationStateToken((state as unknown as { _state: unknown })._state, token);
    }
    check("at the end, where the grammar may end or write more newlines");
    assert.ok(seen.exact > 0 && seen.none > 0 && seen.mayEnd > 0, JSON.stringify(seen));
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
    const boost = new GrammarTokenBoost(vocabularyTrie(vocab, (token) => model.isEogToken(token)), probe, { maxBoosted: 1024, endOfGeneration: true });
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

test("where the grammar may end: the end-of-generation tokens are boosted with the rest of S, and llama.cpp's bias sampler gets them", async () => {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: await tinyModelPath() });
  const context = await model.createContext({ contextSize: 256 });
  try {
    const probe = grammarProbeOf(model);
    assert.ok(probe !== null, "node-llama-cpp's single-token grammar check is there");
    const vocab = TokenBytes.fromModel(model);
    const trie = vocabularyTrie(vocab, (token) => model.isEogToken(token));
    const eog = [...trie.endOfGeneration];
    assert.ok(eog.length > 0);
    const grammar = await llama.createGrammar({ grammar: 'root ::= "x"?' });
    const x = model.tokenize("x")[0]!;
    const state = new LlamaGrammarEvaluationState({ model, grammar });

    // Where the bias cannot carry them, the step is not boosted (what every may-end step was before).
    assert.deepEqual(new GrammarTokenBoost(trie, probe, { maxBoosted: 1024, endOfGeneration: false }).decide(state), { outcome: "may_end", boosted: null });
    const boost = new GrammarTokenBoost(trie, probe, { maxBoosted: 1024, endOfGeneration: true });
    const decision = boost.decide(state);
    assert.equal(decision.outcome, "boosted");
    assert.deepEqual([...decision.boosted!.tokens].sort((a, b) => a - b), [x, ...eog].sort((a, b) => a - b));
    assert.equal(boost.onlyEnd(state), false, "x may still come");

    // "x" banned by the client: the end tokens are the only boosted ones left.
    const sampling = new GrammarSamplingBias(model, new Map([[x, -100]]), [], new Utf8SequenceGuard(vocab), boost);
    const bias = sampling.bias(state);
    const entries = (bias as unknown as { _biases: Map<number, number> })._biases;
    for (const token of eog) assert.equal(entries.get(token), boostLogit, `end token ${token}`);
    assert.equal(entries.get(x), bannedUnderGrammar);
    assert.deepEqual([...sampling.steps], [["boosted", 1]]);
    // Greedy, no grammar: only the bias can make the pick an end token.
    const sequence = context.getSequence();
    const iterator = sequence.evaluate(model.tokenize("Hello there, how"), { temperature: 0, tokenBias: bias, yieldEogToken: true });
    const first = await iterator.next();
    await iterator.return();
    assert.ok(!first.done && model.isEogToken(first.value), `the pick is an end token, not ${JSON.stringify(first.done ? null : model.detokenize([first.value], true))}`);

    // After "x" the grammar allows nothing but the end.
    const addon = (model.llama as unknown as { _bindings: { AddonSampler: { acceptGrammarEvaluationStateToken(s: unknown, token: number): void } } })._bindings.AddonSampler;
    addon.acceptGrammarEvaluationStateToken((state as unknown as { _state: unknown })._state, x);
    assert.equal(boost.onlyEnd(state), true);
    assert.deepEqual([...boost.decide(state).boosted!.tokens].sort((a, b) => a - b), eog.sort((a, b) => a - b));
  } finally {
    await context.dispose();
    await model.dispose();
  }
});
