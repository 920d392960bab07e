/**
 * `chatport make-test-model`: writes a GGUF model with random weights, a real
 * tokenizer and a chat template, so tests and benchmarks need no download.
 */
import { mkdir, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { TEST_MODEL_SHAPES, TEST_MODEL_TYPES, writeTestModel, type TestModelShapeName, type TestModelType } from "../gguf/test-model.js";
import { defaultTemplatesDir, resolveTestModelTemplate, withFim } from "./test-model-template.js";

interface MakeTestModelOptions {
  out: string;
  shape: TestModelShapeName;
  seed: number;
  type: TestModelType;
  template: string;
  templatesDir: string;
  fim?: boolean;
  embedding?: boolean;
  chain?: string[][];
}

/** Files at least this big get a progress display. */
const PROGRESS_MIN_BYTES = 64 << 20;

export function makeTestModelCommand(): Command {
  const command = new Command("make-test-model")
    .description("write a GGUF model with random weights, a byte-level BPE tokenizer and a chat template")
    .requiredOption("--out <file>", "where to write the .gguf file")
    .addOption(
      new Option("--shape <shape>", "model shape")
        .choices(Object.keys(TEST_MODEL_SHAPES))
        .default("tiny"),
    )
    .addOption(new Option("--seed <n>", "random seed (same seed and options give identical bytes)").argParser(parseSeed).default(1))
    .addOption(new Option("--type <type>", "storage type of the weight matrices").choices(TEST_MODEL_TYPES).default("f16"))
    .addOption(
      new Option(
        "--template <name|file.jinja>",
        "chat template: chatml (ChatML with tools), thinking (plus Qwen3-style thinking), a family's template by name (NAME.jinja in --templates-dir), or a .jinja file; the model gets the special tokens it uses",
      ).default("chatml"),
    )
    .addOption(new Option("--embedding", "an embedding model: the GGUF declares mean pooling, for --embedding-model and /v1/embeddings"))
    .addOption(new Option("--templates-dir <dir>", "where --template NAME looks for NAME.jinja").default(defaultTemplatesDir(), "$CHATPORT_TEMPLATES_DIR or ../shared/templates"))
    .addOption(
      new Option(
        "--chain <json>",
        'a token chain the model follows, as a JSON list of token texts, each one token (repeatable; f16; the blocks then add nothing: a bigram model), e.g. \'["<|im_middle|>", "<think>", " think"]\'',
      ).argParser(parseChain),
    )
    .option("--fim", "also declare fill-in-the-middle tokens (<|fim_prefix|>, <|fim_suffix|>, <|fim_middle|>), for /v1/completions' suffix")
    .action(async (options: MakeTestModelOptions) => {
      const out = resolve(options.out);
      const started = performance.now();
      // Commander's output hooks (process.stdout / process.stderr by default) let callers capture output.
      const output = command.configureOutput();
      const writeOut = output.writeOut ?? ((text: string) => process.stdout.write(text));
      const writeErr = output.writeErr ?? ((text: string) => process.stderr.write(text));
      const progress = progressReporter(writeErr, process.stderr.isTTY === true);
      try {
        await mkdir(dirname(out), { recursive: true });
        if ((await stat(out).catch(() => undefined))?.isDirectory()) throw new Error("it is a directory");
        const resolved = await resolveTestModelTemplate(options.template, options.templatesDir);
        const template = options.fim === true ? withFim(resolved) : resolved;
        const { bytes } = await writeTestModel({ out, shape: options.shape, seed: options.seed, type: options.type, template, embedding: options.embedding === true, ...(options.chain === undefined ? {} : { chains: options.chain }), onProgress: progress.update });
        progress.done();
        const seconds = (performance.now() - started) / 1000;
        const templateName = typeof template === "string" ? template : template.name;
        const described = (templateName === "chatml" ? "" : `, ${templateName} template`) + (options.embedding === true ? ", embedding" : "");
        writeOut(
          `wrote ${out} (${formatMb(bytes)}, ${options.shape} ${options.type}, seed ${options.seed}${described}) in ${seconds.toFixed(1)} s\n`,
        );
      } catch (err) {
        progress.done();
        const message = err instanceof Error ? err.message : String(err);
        command.error(`error: cannot write ${out}: ${message}`, { exitCode: 1, code: "chatport.makeTestModel" });
      }
    });
  return command;
}

function parseSeed(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) {
    throw new InvalidArgumentError("The seed must be a non-negative integer.");
  }
  return n;
}

const formatMb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;

/**
 * Progress on stderr: rewritten in place on a TTY (at most 10 times a
 * second), otherwise one line per 10% so logs stay short. Small files are quiet.
 */
function progressReporter(
  write: (text: string) => void,
  isTTY: boolean,
): { update: (done: number, total: number) => void; done: () => void } {
  let lastDraw = 0;
  let lastDecile = -1;
  let drewInPlace = false;
  return {
    update(done, total) {
      if (total < PROGRESS_MIN_BYTES) return;
      const percent = Math.floor((done / total) * 100);
      const line = `make-test-model: ${String(percent).padStart(3)}% (${formatMb(done)} of ${formatMb(total)})`;
      if (isTTY) {
        const now = performance.now();
        if (now - lastDraw < 100 && done < total) return;
        lastDraw = now;
        write(`\r\x1b[2K${line}`);
        drewInPlace = true;
      } else {
        const decile = Math.floor(percent / 10);
        if (decile === lastDecile) return;
        lastDecile = decile;
        write(`${line}\n`);
      }
    },
    done() {
      if (drewInPlace) write("\n");
      drewInPlace = false;
    },
  };
}

function parseChain(value: string, previous: string[][] | undefined): string[][] {
  let chain: unknown;
  try {
    chain = JSON.parse(value);
  } catch {
    throw new InvalidArgumentError("expected a JSON list of token texts");
  }
  if (!Array.isArray(chain) || chain.length < 2 || !chain.every((t): t is string => typeof t === "string" && t !== "")) {
    throw new InvalidArgumentError("expected a JSON list of at least two token texts");
  }
  return [...(previous ?? []), chain];
}
