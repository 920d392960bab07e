/**
 * `chatport bench schemas`: our JSON Schema → GBNF compiler over the
 * JSONSchemaBench subsets (../shared/jsonschemabench). For each schema: the
 * request-time checks a client's schema gets (protocol/json-schema.ts), the
 * compile (accepted, or refused naming the keyword), one generation on the
 * tiny test model under the grammar, and Ajv's verdict on the output (the
 * Ajv class of the schema's draft, ajv-formats in full mode). Per subset: the
 * accepted share, the valid share (the paper's empirical coverage: accepted
 * and valid over all schemas), outputs cut by the token limit (random
 * weights write long strings) apart, compile time p50/p99, refusal reasons
 * ranked, and every invalid output by name — there should be none.
 */
import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { getLlama, LlamaGrammarEvaluationState, LlamaLogLevel, type LlamaModel, type LlamaContext, type Llama } from "node-llama-cpp";
import { responseFormatGbnf } from "../engines/llama/response-grammar.js";
import { LLAMA_CMAKE_OPTIONS } from "../engines/llama/llama-runtime.js";
import { malformedUtf8Tokens } from "../engines/llama/malformed-utf8-tokens.js";
import { buildTokenBias } from "../engines/llama/sampling-options.js";
import { TokenBytes } from "../engines/llama/token-bytes.js";
import { asAjvSchema, assertValidJsonSchema } from "../protocol/json-schema.js";
import { ApiError } from "../protocol/errors.js";
import { draftOf } from "../engines/llama/json-schema/schema-document.js";
import { percentile } from "./stats.js";

export const schemaSubsets = ["Glaiveai2K", "Github_easy", "Github_medium"] as const;

export interface SchemaBenchOptions {
  dataDir: string;
  subsets: readonly string[];
  /** Schemas per subset (null: all), taken in file-name order. */
  limit: number | null;
  /** Only these file names (null: all). */
  files: ReadonlySet<string> | null;
  maxTokens: number;
  modelPath: string;
  threads: number;
  seed: number;
  progress: (line: string) => void;
  /** A file each case is appended to as one JSON line when it is done (null: none), so a long run can be read before it ends. */
  casesLog: string | null;
}

export type SchemaOutcome = "refused" | "valid" | "invalid" | "length" | "unparsable" | "validator-error" | "grammar-error" | "bench-error";

export interface SchemaCase {
  subset: string;
  file: string;
  outcome: SchemaOutcome;
  /** Why it was refused (the 400's message), or what was wrong with the output. */
  detail: string | null;
  compileMs: number | null;
  tokens: number;
}

export interface SubsetResult {
  subset: string;
  schemas: number;
  accepted: number;
  valid: number;
  invalid: number;
  lengthCuts: number;
  validatorErrors: number;
  grammarErrors: number;
  compileP50Ms: number;
  compileP99Ms: number;
  refusals: Array<{ reason: string; count: number }>;
  invalidCases: Array<{ file: string; detail: string }>;
}

export interface SchemaBenchReport {
  date: string;
  config: { modelPath: string; maxTokens: number; limit: number | null; seed: number };
  subsets: SubsetResult[];
  cases: SchemaCase[];
}

type Validate = ((data: unknown) => boolean) & { errors?: unknown };

/** A validator of the schema's own draft (Ajv has none for draft-04: see asAjvSchema). */
async function validatorFor(schema: unknown): Promise<Validate> {
  const { Ajv } = await import("ajv");
  const { Ajv2019 } = await import("ajv/dist/2019.js");
  const { Ajv2020 } = await import("ajv/dist/2020.js");
  const formats = (await import("ajv-formats")).default as unknown as (ajv: unknown) => void;
  const draft = draftOf(schema);
  const options = { strict: false, logger: false as const, validateSchema: false, allowUnionTypes: true };
  const ajv = draft === "2020-12" ? new Ajv2020(options) : draft === "2019-09" ? new Ajv2019(options) : new Ajv(options);
  formats(ajv);
  return ajv.compile(asAjvSchema(schema) as object) as Validate;
}

async function generate(llama: Llama, model: LlamaModel, context: LlamaContext, gbnf: string, options: SchemaBenchOptions): Promise<{ text: string; tokens: number; finished: boolean }> {
  const grammar = await llama.createGrammar({ grammar: gbnf });
  const sequence = context.getSequence();
  try {
    const grammarEvaluationState = new LlamaGrammarEvaluationState({ model, grammar });
    const generated = [];
    let finished = false;
    // As the engine samples under a grammar: tokens that can never be UTF-8 banned.
    const tokenBias = buildTokenBias(model, new Map(), true, malformedUtf8Tokens(TokenBytes.fromModel(model)));
    for await (const token of sequence.evaluate(model.tokenize("Answer in JSON."), { temperature: 1, seed: options.seed, grammarEvaluationState, tokenBias })) {
      if (model.isEogToken(token)) {
        finished = true;
        break;
      }
      generated.push(token);
      if (model.detokenize([token]).includes("\n") && model.detokenize(generated.slice(-8)).includes("\n\n\n\n")) {
        finished = true;
        break;
      }
      if (generated.length >= options.maxTokens) break;
    }
    return { text: model.detokenize(generated), tokens: generated.length, finished };
  } finally {
    sequence.dispose();
  }
}

function refusalReason(err: ApiError): string {
  const message = err.message;
  const keyword = /\(keyword '([^']+)' at/.exec(message)?.[1];
  const reason = message
    .replace(/^The JSON Schema cannot be enforced for constrained generation: /, "")
    .replace(/ \(keyword '[^']+' at '[^']*'\)\.$/, "")
    .replace(/"[^"]*"/g, "…")
    .replace(/\d+/g, "N");
  return keyword === undefined ? `invalid schema: ${reason.replace(/^Invalid JSON Schema for [^:]+: /, "")}` : `${keyword}: ${reason}`;
}

export async function runSchemaBench(options: SchemaBenchOptions): Promise<SchemaBenchReport> {
  const llama = await getLlama({ gpu: false, build: "never", cmakeOptions: { ...LLAMA_CMAKE_OPTIONS }, maxThreads: options.threads, logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: options.modelPath });
  const context = await model.createContext({ contextSize: options.maxTokens + 64, threads: options.threads });
  const cases: SchemaCase[] = [];
  try {
    for (const subset of options.subsets) {
      const dir = path.join(options.dataDir, subset);
      const files = fs.readdirSync(dir).filter((f) => f.endsWith(".json") && (options.files === null || options.files.has(f))).sort();
      const chosen = options.limit === null ? files : files.slice(0, options.limit);
      let finished = 0;
      for (const file of chosen) {
        const done = await runCase(llama, model, context, subset, path.join(dir, file), options).catch((err: unknown) => benchError(subset, file, err));
        cases.push(done);
        if (options.casesLog !== null) fs.appendFileSync(options.casesLog, `${JSON.stringify(done)}\n`);
        if (++finished % 100 === 0) options.progress(`${subset}: ${finished}/${chosen.length}`);
      }
    }
  } finally {
    await context.dispose();
    await model.dispose();
  }
  return {
    date: new Date().toISOString(),
    config: { modelPath: path.basename(options.modelPath), maxTokens: options.maxTokens, limit: options.limit, seed: options.seed },
    subsets: options.subsets.map((subset) => summarize(subset, cases.filter((c) => c.subset === subset))),
    cases,
  };
}

async function runCase(llama: Llama, model: LlamaModel, context: LlamaContext, subset: string, file: string, options: SchemaBenchOptions): Promise<SchemaCase> {
  const name = path.basename(file);
  const schema = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  const base = { subset, file: name };
  const started = performance.now();
  let gbnf: string;
  try {
    assertValidJsonSchema(schema, "response_format.json_schema.schema", "response_format");
    gbnf = responseFormatGbnf({ type: "json_schema", name: "bench", schema, strict: true }) ?? "";
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    return { ...base, outcome: "refused", detail: refusalReason(err), compileMs: null, tokens: 0 };
  }
  const compileMs = performance.now() - started;
  let generated: { text: string; tokens: number; finished: boolean };
  try {
    generated = await generate(llama, model, context, gbnf, options);
  } catch (err) {
    // llama.cpp refused the grammar text: a compiler bug, counted apart.
    return { ...base, outcome: "grammar-error", detail: err instanceof Error ? err.message : String(err), compileMs, tokens: 0 };
  }
  const { text, tokens, finished } = generated;
  // The tail of a cut output says what ran long (a string never closed, an array never ended, recursion).
  if (!finished) return { ...base, outcome: "length", detail: `…${text.slice(-160)}`, compileMs, tokens };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ...base, outcome: "unparsable", detail: text.slice(0, 300), compileMs, tokens };
  }
  let validate: Validate;
  try {
    validate = await validatorFor(schema);
  } catch (err) {
    return { ...base, outcome: "validator-error", detail: err instanceof Error ? err.message.slice(0, 200) : String(err), compileMs, tokens };
  }
  if (validate(value)) return { ...base, outcome: "valid", detail: null, compileMs, tokens };
  return { ...base, outcome: "invalid", detail: `${JSON.stringify(validate.errors).slice(0, 400)} output: ${text.slice(0, 300)}`, compileMs, tokens };
}

/** A case the harness itself failed on (kept, so one odd schema does not end the run). */
function benchError(subset: string, file: string, err: unknown): SchemaCase {
  return { subset, file, outcome: "bench-error", detail: err instanceof Error ? err.message.slice(0, 300) : String(err), compileMs: null, tokens: 0 };
}

function summarize(subset: string, cases: SchemaCase[]): SubsetResult {
  const count = (outcome: SchemaOutcome): number => cases.filter((c) => c.outcome === outcome).length;
  const reasons = new Map<string, number>();
  for (const c of cases) if (c.outcome === "refused" && c.detail !== null) reasons.set(c.detail, (reasons.get(c.detail) ?? 0) + 1);
  const compile = cases.flatMap((c) => (c.compileMs === null ? [] : [c.compileMs]));
  return {
    subset,
    schemas: cases.length,
    accepted: cases.length - count("refused"),
    valid: count("valid"),
    invalid: count("invalid") + count("unparsable"),
    lengthCuts: count("length"),
    validatorErrors: count("validator-error"),
    grammarErrors: count("grammar-error") + count("bench-error"),
    compileP50Ms: percentile(compile, 50),
    compileP99Ms: percentile(compile, 99),
    refusals: [...reasons].map(([reason, n]) => ({ reason, count: n })).sort((a, b) => b.count - a.count),
    invalidCases: cases.filter((c) => c.outcome === "invalid" || c.outcome === "unparsable").map((c) => ({ file: c.file, detail: c.detail ?? "" })),
  };
}

const pct = (n: number, of: number): string => (of === 0 ? "–" : `${((100 * n) / of).toFixed(1)}%`);

/** The Markdown tables of a report. */
export function schemaTable(report: SchemaBenchReport): string {
  const lines = [
    "| subset | schemas | accepted | valid (coverage) | valid of finished | invalid | `length` cuts | compile p50 | compile p99 |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const s of report.subsets) {
    const finished = s.accepted - s.lengthCuts - s.validatorErrors - s.grammarErrors;
    lines.push(
      `| ${s.subset} | ${s.schemas} | ${pct(s.accepted, s.schemas)} | ${pct(s.valid, s.schemas)} | ${pct(s.valid, finished)} | ${s.invalid} | ${s.lengthCuts} | ${s.compileP50Ms.toFixed(1)} ms | ${s.compileP99Ms.toFixed(1)} ms |`,
    );
  }
  for (const s of report.subsets) {
    lines.push("", `**${s.subset}**: refusals (${s.schemas - s.accepted})`, "");
    for (const r of s.refusals.slice(0, 15)) lines.push(`- ${r.count} × ${r.reason}`);
    if (s.grammarErrors > 0) lines.push(`- ${s.grammarErrors} grammars llama.cpp could not parse, or cases the harness failed on`);
    if (s.validatorErrors > 0) lines.push(`- (${s.validatorErrors} schemas Ajv itself could not compile; their outputs are not counted as valid)`);
    for (const c of s.invalidCases) lines.push(`- INVALID ${c.file}: ${c.detail.slice(0, 300)}`);
  }
  return lines.join("\n");
}

export function writeSchemaReport(report: SchemaBenchReport, dir: string): { markdown: string; json: string } {
  fs.mkdirSync(dir, { recursive: true });
  const stamp = report.date.replace(/[:.]/g, "-");
  const json = path.join(dir, `schemas-${stamp}.json`);
  const markdown = path.join(dir, `schemas-${stamp}.md`);
  fs.writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  fs.writeFileSync(markdown, `# Schema benchmark ${report.date}\n\nmodel ${report.config.modelPath}, at most ${report.config.maxTokens} tokens, seed ${report.config.seed}\n\n${schemaTable(report)}\n`);
  return { markdown, json };
}
