/**
 * The tool-call grammars of every syntax against the parser of the same
 * syntax: whatever a (random) model generates under the grammar parses into
 * calls to known tools whose arguments validate — for Hermes, Mistral and
 * Llama 3.1 JSON alike, whole-output and after-the-marker variants.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Ajv } from "ajv";
import { getLlama, LlamaGrammarEvaluationState, LlamaLogLevel, type Llama, type LlamaContext, type LlamaModel } from "node-llama-cpp";
import { ToolCallStreamParser, type ToolCallSyntax } from "../src/engines/llama/output/tool-call-parser.js";
import { callMarker, toolCallGrammar } from "../src/engines/llama/tool-call-grammar.js";
import type { ToolDefinition } from "../src/protocol/chat-request.js";
import { tinyModelPath } from "./helpers/models.js";

let llama: Llama;
let model: LlamaModel;
let context: LlamaContext;

const tools: ToolDefinition[] = [
  {
    name: "lookup",
    description: null,
    strict: true,
    parameters: {
      type: "object",
      properties: { id: { type: "integer" }, tags: { type: "array", items: { enum: ["a", "b"] }, maxItems: 2 }, deep: { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"] } },
      required: ["id", "tags", "deep"],
      additionalProperties: false,
    },
  },
  { name: "ping", description: null, strict: true, parameters: { type: "object", properties: { to: { enum: ["x", "y"] } }, required: ["to"], additionalProperties: false } },
];
const validators = new Map(tools.map((t) => [t.name, new Ajv({ strict: false }).compile(t.parameters)]));

before(async () => {
  llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  model = await llama.loadModel({ modelPath: await tinyModelPath() });
  context = await model.createContext({ contextSize: 1024, threads: 1 });
});
after(async () => {
  await context?.dispose();
  await model?.dispose();
});

async function generate(grammarText: Awaited<ReturnType<typeof toolCallGrammar>>, seed: number): Promise<string> {
  const sequence = context.getSequence();
  try {
    const grammarEvaluationState = new LlamaGrammarEvaluationState({ model, grammar: grammarText });
    const out = [];
    for await (const token of sequence.evaluate(model.tokenize("Call a tool."), { temperature: 1, seed, grammarEvaluationState })) {
      out.push(token);
      if (out.length >= 500) break;
    }
    return model.detokenize(out, true);
  } finally {
    sequence.dispose();
  }
}

for (const syntax of ["hermes", "mistral", "llama3-json"] as ToolCallSyntax[]) {
  for (const afterMarker of [false, true]) {
    const marker = callMarker(syntax);
    if (afterMarker && marker === null) continue;
    test(`${syntax}${afterMarker ? " after the marker" : ""}: generated calls parse and validate`, async () => {
      const grammar = await toolCallGrammar(llama, tools, { onlyName: null, syntax, parallel: true, afterMarker });
      for (const seed of [1, 2, 3]) {
        const text = (afterMarker ? (marker ?? "") : "") + (await generate(grammar, seed));
        const parser = new ToolCallStreamParser(syntax, { newId: () => "call_x", parallel: true });
        let content = parser.push(text).content;
        content += parser.finish().content;
        assert.equal(content.trim(), "", `no stray text: ${JSON.stringify(text)}`);
        assert.ok(parser.calls.length >= 1, text);
        for (const call of parser.calls) {
          const validate = validators.get(call.name);
          assert.ok(validate !== undefined, `unknown tool in ${text}`);
          assert.ok(validate(JSON.parse(call.arguments)), `${call.arguments}: ${JSON.stringify(validate.errors)}`);
        }
      }
    });
  }
}

test("a named tool's grammar only ever calls that tool", async () => {
  const grammar = await toolCallGrammar(llama, tools, { onlyName: "ping", syntax: "hermes", parallel: false, afterMarker: false });
  for (const seed of [4, 5]) {
    const parser = new ToolCallStreamParser("hermes", { newId: () => "call_x", parallel: false });
    parser.push(await generate(grammar, seed));
    parser.finish();
    assert.deepEqual(parser.calls.map((c) => c.name), ["ping"]);
  }
});

test("each tool's parameters are their own document: $defs references resolve, and their calls validate", async () => {
  const parameters = {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    type: "object",
    $defs: { unit: { enum: ["c", "f"] } },
    properties: { unit: { $ref: "#/$defs/unit" }, days: { type: "integer", minimum: 1, maximum: 3 } },
    required: ["unit", "days"],
    additionalProperties: false,
  };
  const forecast: ToolDefinition = { name: "forecast", description: null, strict: true, parameters };
  const { Ajv2020 } = await import("ajv/dist/2020.js");
  const validate = new Ajv2020({ strict: false }).compile(parameters);
  const grammar = await toolCallGrammar(llama, [...tools, forecast], { onlyName: "forecast", syntax: "hermes", parallel: false, afterMarker: false });
  for (const seed of [6, 7, 8]) {
    const parser = new ToolCallStreamParser("hermes", { newId: () => "call_x", parallel: false });
    parser.push(await generate(grammar, seed));
    parser.finish();
    const call = parser.calls[0];
    assert.equal(call?.name, "forecast");
    assert.ok(validate(JSON.parse(call?.arguments ?? "")), call?.arguments);
  }
});
