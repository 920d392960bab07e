/**
 * `make-test-model --template NAME|FILE.jinja`: the chat template of a test
 * model. `chatml` and `thinking` are chatport's own; any other name is a file
 * `NAME.jinja` in the templates folder (`../shared/templates` beside the
 * checkout, or `--templates-dir`), and a path ending in `.jinja` is that file.
 * The model gets the special tokens its family declares plus every control
 * string the template spells (`<|…|>`, `<｜…｜>`, `[UPPER_CASE]`), each as one
 * token, and the family's bos / eos / end-of-turn ids.
 */
import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { detectFamily } from "../engines/llama/families/registry.js";
import { CHATML_THINKING_TOOLS_TEMPLATE, CHATML_TOOLS_TEMPLATE } from "../gguf/chatml-template.js";
import { TEST_MODEL_TEMPLATES, type CustomChatTemplate, type FimTokens, type TestModelTemplate } from "../gguf/test-model.js";

/** `$CHATPORT_TEMPLATES_DIR`, or `../shared/templates` beside the package. */
export function defaultTemplatesDir(): string {
  const fromEnv = process.env.CHATPORT_TEMPLATES_DIR;
  if (fromEnv !== undefined && fromEnv !== "") return path.resolve(fromEnv);
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../shared/templates");
}

const CONTROL_STRINGS = [/<\|[A-Za-z0-9_.]+\|>/g, /<｜[^｜\s'"]+｜>/g, /\[\/?[A-Z][A-Z_]*\]/g];

/** The control strings a template spells, in order of first appearance. */
export function templateControlStrings(template: string): string[] {
  const found: { at: number; text: string }[] = [];
  for (const pattern of CONTROL_STRINGS) for (const m of template.matchAll(pattern)) found.push({ at: m.index, text: m[0] });
  return [...new Set(found.sort((a, b) => a.at - b.at).map((f) => f.text))];
}

/** A template's test-model description: its family's tokens and its own control strings. */
export function customChatTemplate(name: string, text: string): CustomChatTemplate {
  const family = detectFamily({ template: text, architecture: "", hasToken: () => false });
  const { tokens } = family;
  return {
    name,
    text,
    specialTokens: [...new Set([...tokens.special, ...templateControlStrings(text)])],
    bos: tokens.bos,
    eos: tokens.eos,
    eot: tokens.eot ?? tokens.eos,
    addBos: tokens.addBos,
  };
}

/** `make-test-model --fim`: fill-in-the-middle tokens as Qwen2.5-Coder spells them, declared in the GGUF (legacy completions' `suffix`). */
export const TEST_MODEL_FIM_TOKENS: FimTokens = { prefix: "<|fim_prefix|>", suffix: "<|fim_suffix|>", middle: "<|fim_middle|>" };

/** A template whose model also declares {@link TEST_MODEL_FIM_TOKENS} (chatport's own templates as custom ones). */
export function withFim(template: TestModelTemplate | CustomChatTemplate): CustomChatTemplate {
  const custom = typeof template === "string" ? customChatTemplate(template, template === "chatml" ? CHATML_TOOLS_TEMPLATE : CHATML_THINKING_TOOLS_TEMPLATE) : template;
  return { ...custom, fim: TEST_MODEL_FIM_TOKENS };
}

export async function resolveTestModelTemplate(value: string, templatesDir: string): Promise<TestModelTemplate | CustomChatTemplate> {
  if ((TEST_MODEL_TEMPLATES as readonly string[]).includes(value)) return value as TestModelTemplate;
  if (value.endsWith(".jinja")) {
    const text = await readFile(path.resolve(value), "utf8");
    return customChatTemplate(path.basename(value, ".jinja"), text);
  }
  if (!/^[A-Za-z0-9_.-]+$/.test(value)) throw new Error(`template ${JSON.stringify(value)} is neither a name nor a .jinja file`);
  const file = path.join(templatesDir, `${value}.jinja`);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    const names = await readdir(templatesDir).then(
      (files) => files.filter((f) => f.endsWith(".jinja")).map((f) => f.slice(0, -".jinja".length)),
      () => [],
    );
    const choices = [...TEST_MODEL_TEMPLATES, ...names.sort()].join(", ");
    throw new Error(`no template ${value} (${file} not found); expected one of ${choices}, or a .jinja file`);
  }
  return customChatTemplate(value, text);
}
