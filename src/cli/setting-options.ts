/** Commander flags made from the table of settings (settings.ts), and the values they were given. */
import { InvalidArgumentError, Option, type Command } from "commander";
import type { SettingsLayer } from "../config.js";
import { parseSettingText, settingFlag, settings, type SettingKey, type SettingRow } from "../settings.js";

const flagOptions = new WeakMap<Command, Map<SettingKey, Option>>();

function parser(key: SettingKey): (text: string, previous: unknown) => unknown {
  const spec: SettingRow = settings[key];
  if (spec.kind === "list" && spec.repeatable === true) {
    return (text, previous) => [...(Array.isArray(previous) ? previous : []), spec.item === undefined ? text : spec.item(text)];
  }
  return (text) => {
    const value = parseSettingText(key, text);
    if (typeof value === "string" && spec.words?.includes(value) === true) return value;
    if ((spec.kind === "integer" && !Number.isInteger(value)) || (spec.kind === "number" && !Number.isFinite(value))) {
      const words = spec.words === undefined ? "" : ` or ${spec.words.join(", ")}`;
      throw new InvalidArgumentError(`must be ${spec.kind === "integer" ? "an integer" : "a number"}${words}.`);
    }
    if (spec.kind === "switch" && typeof value !== "boolean") throw new InvalidArgumentError("must be on or off.");
    return value;
  };
}

function defaultHelp(spec: SettingRow): string {
  if (spec.defaultText !== undefined) return spec.defaultText;
  const value: unknown = typeof spec.default === "function" ? (spec.default as () => unknown)() : spec.default;
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** Adds the flag of each setting that has one. Values stay undefined unless given: defaults come from the table, after the environment and the config file. */
export function addSettingOptions(command: Command, keys: readonly SettingKey[]): Command {
  const options = flagOptions.get(command) ?? new Map<SettingKey, Option>();
  for (const key of keys) {
    const flag = settingFlag(key);
    if (flag === null) continue;
    const spec: SettingRow = settings[key];
    const env = spec.env === null ? "" : `; env ${spec.env}`;
    const help = `${spec.help.replaceAll("`", "")} (default: ${defaultHelp(spec).replaceAll("`", "")}${env})`;
    const option = new Option(flag, help).argParser(parser(key));
    command.addOption(option);
    options.set(key, option);
  }
  flagOptions.set(command, options);
  return command;
}

/** The settings given on the command line (the layer above the environment). */
export function settingFlagValues(command: Command): SettingsLayer {
  const values = command.opts<Record<string, unknown>>();
  const out: SettingsLayer = {};
  for (const [key, option] of flagOptions.get(command) ?? []) {
    const value = values[option.attributeName()];
    if (value !== undefined) out[key] = value;
  }
  return out;
}
