/**
 * The pure parts of embeddings: the request parser (every input shape and
 * its 400s), vector arithmetic and encodings, the upstream decoder, the
 * `--embedding-model` setting, and the embedding-shaped test model.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { readGgufFileInfo } from "node-llama-cpp";
import { serveCommand } from "../src/cli/serve-command.js";
import { settingFlagValues } from "../src/cli/setting-options.js";
import { resolveConfig } from "../src/config.js";
import { writeTestModel } from "../src/gguf/test-model.js";
import { embeddingTokensUpperBound, parseEmbeddingsRequest } from "../src/protocol/embeddings-request.js";
import { base64Float32, embeddingsBody, float32Base64, unitVector } from "../src/protocol/embeddings-response.js";
import { ApiError } from "../src/protocol/errors.js";
import { EmbeddingsDecoder } from "../src/upstream/embeddings-decoder.js";

function refusal(body: unknown): ApiError {
  try {
    parseEmbeddingsRequest(body);
  } catch (err) {
    assert.ok(err instanceof ApiError);
    assert.equal(err.status, 400);
    return err;
  }
  assert.fail(`accepted ${JSON.stringify(body)}`);
}

describe("parseEmbeddingsRequest", () => {
  test("the four input shapes, and the defaults", () => {
    const one = parseEmbeddingsRequest({ model: "m", input: "hi" });
    assert.deepEqual(one.inputs, [{ kind: "text", text: "hi" }]);
    assert.equal(one.inputIsList, false);
    assert.equal(one.encoding, "float");
    assert.equal(one.dimensions, null);
    assert.equal(one.user, null);
    const texts = parseEmbeddingsRequest({ model: "m", input: ["a", "b"], encoding_format: "base64", dimensions: 8, user: "u" });
    assert.deepEqual(texts.inputs, [{ kind: "text", text: "a" }, { kind: "text", text: "b" }]);
    assert.equal(texts.inputIsList, true);
    assert.equal(texts.encoding, "base64");
    assert.equal(texts.dimensions, 8);
    assert.equal(texts.user, "u");
    const ids = parseEmbeddingsRequest({ model: "m", input: [1, 2, 3] });
    assert.deepEqual(ids.inputs, [{ kind: "tokens", tokens: [1, 2, 3] }]);
    assert.equal(ids.inputIsList, false);
    const idLists = parseEmbeddingsRequest({ model: "m", input: [[1], [2, 3]] });
    assert.deepEqual(idLists.inputs, [{ kind: "tokens", tokens: [1] }, { kind: "tokens", tokens: [2, 3] }]);
  });

  test("refusals name the field", () => {
    const cases: Array<[unknown, string | null]> = [
      [{ model: "m" }, "input"],
      [{ input: "x" }, "model"],
      [{ model: "m", input: null }, "input"],
      [{ model: "m", input: [] }, "input"],
      [{ model: "m", input: "" }, "input"],
      [{ model: "m", input: ["a", ""] }, "input[1]"],
      [{ model: "m", input: [[]] }, "input[0]"],
      [{ model: "m", input: [["a"]] }, "input[0][0]"],
      [{ model: "m", input: [1, "a"] }, "input[1]"],
      [{ model: "m", input: [0.5] }, "input[0]"],
      [{ model: "m", input: Array.from({ length: 2049 }, () => "x") }, "input"],
      [{ model: "m", input: "x", encoding_format: "int8" }, "encoding_format"],
      [{ model: "m", input: "x", dimensions: 0 }, "dimensions"],
      [{ model: "m", input: "x", dimensions: 1.5 }, "dimensions"],
      [[], null],
    ];
    for (const [body, param] of cases) assert.equal(refusal(body).param, param, JSON.stringify(body).slice(0, 80));
  });

  test("the upstream bound: a token per UTF-8 byte, ids as given, two special tokens per input", () => {
    assert.equal(embeddingTokensUpperBound(parseEmbeddingsRequest({ model: "m", input: ["héllo", "ab"] })), 6 + 2 + 2 + 2);
    assert.equal(embeddingTokensUpperBound(parseEmbeddingsRequest({ model: "m", input: [[1, 2, 3]] })), 5);
  });
});

describe("vectors and encodings", () => {
  test("unitVector normalises, truncates first (Matryoshka), and leaves a zero vector zero", () => {
    assert.deepEqual(Array.from(unitVector([3, 4])), [Math.fround(0.6), Math.fround(0.8)]);
    assert.deepEqual(Array.from(unitVector([3, 4, 100], 2)), [Math.fround(0.6), Math.fround(0.8)]);
    assert.deepEqual(Array.from(unitVector([0, 0])), [0, 0]);
  });

  test("base64 is little-endian float32, as OpenAI's", () => {
    const vector = Float32Array.from([1, -2.5, 0.1]);
    const encoded = float32Base64(vector);
    assert.equal(encoded, Buffer.from([0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0, 0xcd, 0xcc, 0xcc, 0x3d]).toString("base64"));
    assert.deepEqual(base64Float32(encoded), vector);
    assert.equal(base64Float32("AAA="), null);
  });

  test("the body: floats written short but exact, base64 strings, usage", () => {
    const vector = Float32Array.from([0.1, 1 / 3]);
    const body = embeddingsBody("m", [vector], "float", 7);
    const floats = body.data[0]?.embedding as number[];
    assert.deepEqual(floats, [0.1, 0.33333334]);
    assert.deepEqual(floats.map((x) => Math.fround(x)), Array.from(vector));
    assert.deepEqual(body.usage, { prompt_tokens: 7, total_tokens: 7 });
    assert.equal(embeddingsBody("m", [vector], "base64", 7).data[0]?.embedding, float32Base64(vector));
  });
});

describe("EmbeddingsDecoder (upstream answers)", () => {
  test("reads floats or base64 into input order, and the upstream's usage", () => {
    const decoder = new EmbeddingsDecoder(2, performance.now(), 99);
    const ok = decoder.completion(
      { object: "list", data: [{ index: 1, embedding: float32Base64(Float32Array.from([1, 0])) }, { index: 0, embedding: [0, 1] }], usage: { prompt_tokens: 4 } },
      [],
    );
    assert.ok(ok);
    assert.deepEqual(decoder.vectors?.map((v) => Array.from(v)), [[0, 1], [1, 0]]);
    assert.equal(decoder.usageCounts().promptTokens, 4);
    assert.equal(decoder.usageCounts().estimated, undefined);
  });

  test("refuses a list of the wrong length or with a bad vector; estimates usage the upstream left out", () => {
    assert.equal(new EmbeddingsDecoder(2, 0, 9).completion({ data: [{ index: 0, embedding: [1] }] }, []), false);
    assert.equal(new EmbeddingsDecoder(1, 0, 9).completion({ data: [{ index: 0, embedding: ["x"] }] }, []), false);
    assert.equal(new EmbeddingsDecoder(2, 0, 9).completion({ data: [{ index: 0, embedding: [1] }, { index: 0, embedding: [1] }] }, []), false);
    const decoder = new EmbeddingsDecoder(1, 0, 9);
    assert.ok(decoder.completion({ data: [{ embedding: [1] }] }, []));
    assert.deepEqual({ tokens: decoder.usageCounts().promptTokens, estimated: decoder.usageCounts().estimated }, { tokens: 9, estimated: true });
  });
});

describe("configuration and the test model", () => {
  test("--embedding-model adds an embedding model and, alone, no default chat model", () => {
    const command = serveCommand();
    command.action(() => undefined).exitOverride();
    command.parse(["--embedding-model", "emb=./e.gguf", "--embedding-model", "./other.gguf"], { from: "user" });
    const config = resolveConfig(settingFlagValues(command), undefined, {});
    assert.deepEqual(config.embeddingModels, [{ id: "emb", source: "./e.gguf" }, { id: "other", source: "./other.gguf" }]);
    assert.deepEqual(config.models, []);
    const fromEnv = resolveConfig({}, undefined, { CHATPORT_EMBEDDING_MODELS: "e=./e.gguf" });
    assert.deepEqual(fromEnv.embeddingModels, [{ id: "e", source: "./e.gguf" }]);
    assert.throws(() => resolveConfig({}, undefined, { CHATPORT_EMBEDDING_MODELS: "e=./e.gguf", CHATPORT_MODELS: "e=./c.gguf" }), /defined twice/);
  });

  test("make-test-model --embedding declares mean pooling in the GGUF", async () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "chatport-embedding-")), "e.gguf");
    await writeTestModel({ out, shape: "tiny", seed: 3, type: "f16", embedding: true });
    const info = await readGgufFileInfo(out);
    assert.equal((info.metadata as unknown as { qwen2: { pooling_type?: number } }).qwen2.pooling_type, 1);
    fs.rmSync(path.dirname(out), { recursive: true });
  });
});
