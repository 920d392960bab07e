/**
 * `chatport keys create|list|show|revoke` and `chatport usage`: the same
 * operations as the admin API, straight on the database the server uses
 * (SQLite file or DATABASE_URL). A revocation is published to Redis when
 * REDIS_URL is set, so every replica drops the key at once; without Redis the
 * servers re-read keys within half a second.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { resolveConfig, type ServeConfig } from "../config.js";
import { keyState, keyToWire, storedTextProblem, usageToWire } from "../gateway/key-wire.js";
import type { Counters } from "../limits/types.js";
import type { KeyBudget, KeyRecord, NewKey, Store, UsageGroup } from "../store/types.js";
import type { SettingKey } from "../settings.js";
import { addSettingOptions } from "./setting-options.js";
import { openGatewayStorage } from "./storage.js";

/** The server's storage settings: its flags here have the same names as on `serve` (attribute = setting key). */
const storageSettings = ["databaseUrl", "dbPath", "sqliteSync", "redisUrl", "redisPrefix"] as const satisfies readonly SettingKey[];

type StorageFlags = { config?: string; json?: boolean } & Partial<Record<(typeof storageSettings)[number], unknown>>;

function storageOptions(command: Command): Command {
  command.option("--config <file>", "JSON config file (the server's)");
  return addSettingOptions(command, storageSettings).option("--json", "print JSON");
}

function configFrom(flags: StorageFlags): ServeConfig {
  return resolveConfig(Object.fromEntries(storageSettings.map((key) => [key, flags[key]])), flags.config);
}

async function withStorage<T>(flags: StorageFlags, work: (store: Store, counters: Counters) => Promise<T>): Promise<T> {
  const { store, counters } = await openGatewayStorage(configFrom(flags));
  try {
    return await work(store, counters);
  } finally {
    await store.close();
    await counters.close();
  }
}

const print = (text: string): void => {
  process.stdout.write(`${text}\n`);
};

const positiveInt =
  (name: string) =>
  (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer.`);
    return n;
  };

const positiveNumber =
  (name: string) =>
  (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number.`);
    return n;
  };

/** Text the admin API would refuse is refused here too; the message names the flag and never echoes the value (it may hold escapes). */
function checkText(flag: string, value: string | undefined): void {
  if (value === undefined) return;
  const problem = storedTextProblem(value);
  if (problem !== null) throw new Error(`${flag} ${problem}.`);
}

/** `2026-12-31`, an ISO time, or a duration from now: `30d`, `12h`, `90m`. */
export function parseExpiry(value: string, now = Date.now()): Date {
  const relative = /^(\d+)([dhm])$/.exec(value);
  if (relative !== null) {
    const unit = { d: 86_400_000, h: 3_600_000, m: 60_000 }[relative[2] as "d" | "h" | "m"];
    return new Date(now + Number(relative[1]) * unit);
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new InvalidArgumentError("--expires must be a date (2026-12-31) or a duration (30d, 12h, 90m).");
  return date;
}

function describeKey(key: KeyRecord): string {
  const budget = key.budget === null ? "none" : `${key.budget.amount} ${key.budget.unit} ${key.budget.period}`;
  return [
    `id:       ${key.id}`,
    `name:     ${key.name}`,
    `owner:    ${key.owner ?? "-"}`,
    `prefix:   ${key.prefix}…`,
    `status:   ${keyState(key)}`,
    `models:   ${key.models?.join(", ") ?? "all"}`,
    `rpm:      ${key.rpm ?? "unlimited"}`,
    `tpm:      ${key.tpm ?? "unlimited"}`,
    `budget:   ${budget}`,
    `created:  ${key.createdAt.toISOString()}`,
    `expires:  ${key.expiresAt?.toISOString() ?? "never"}`,
    ...(key.revokedAt === null ? [] : [`revoked:  ${key.revokedAt.toISOString()}`]),
  ].join("\n");
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ").trimEnd()).join("\n");
}

interface CreateFlags extends StorageFlags {
  name: string;
  owner?: string;
  models?: string;
  rpm?: number;
  tpm?: number;
  budgetTokens?: number;
  budgetUsd?: number;
  budgetPeriod: KeyBudget["period"];
  expires?: Date;
  disabled?: boolean;
}

function newKeyFromFlags(flags: CreateFlags): NewKey {
  checkText("--name", flags.name);
  checkText("--owner", flags.owner);
  checkText("--models", flags.models);
  let budget: KeyBudget | null = null;
  if (flags.budgetTokens !== undefined) budget = { unit: "tokens", amount: flags.budgetTokens, period: flags.budgetPeriod };
  if (flags.budgetUsd !== undefined) budget = { unit: "usd", amount: flags.budgetUsd, period: flags.budgetPeriod };
  const models = flags.models
    ?.split(",")
    .map((m) => m.trim())
    .filter((m) => m !== "");
  return {
    name: flags.name,
    owner: flags.owner ?? null,
    models: models === undefined || models.length === 0 ? null : models,
    rpm: flags.rpm ?? null,
    tpm: flags.tpm ?? null,
    budget,
    expiresAt: flags.expires ?? null,
    enabled: flags.disabled !== true,
  };
}

export function keysCommand(): Command {
  const keys = new Command("keys").description("Manage API keys (secrets are shown once, at creation)");

  keys.addCommand(
    storageOptions(new Command("create"))
      .description("Create a key and print its secret")
      .requiredOption("--name <name>", "what the key is for")
      .option("--owner <owner>", "owner or team")
      .option("--models <ids>", "comma-separated model ids the key may use (default: all)")
      .option("--rpm <n>", "requests per minute", positiveInt("--rpm"))
      .option("--tpm <n>", "tokens per minute", positiveInt("--tpm"))
      .addOption(new Option("--budget-tokens <n>", "token budget per period").argParser(positiveInt("--budget-tokens")).conflicts("budgetUsd"))
      .addOption(new Option("--budget-usd <amount>", "spending budget per period, USD").argParser(positiveNumber("--budget-usd")))
      .addOption(new Option("--budget-period <period>", "budget period").choices(["daily", "monthly", "total"]).default("monthly"))
      .option("--expires <when>", "expiry: 2026-12-31 or 30d / 12h / 90m from now", (v: string) => parseExpiry(v))
      .option("--disabled", "create it disabled")
      .action(async (flags: CreateFlags) => {
        const key = newKeyFromFlags(flags);
        await withStorage(flags, async (store) => {
          const created = await store.keys.create(key);
          if (flags.json === true) print(JSON.stringify({ ...keyToWire(created.record), secret: created.secret }, null, 2));
          else print(`${describeKey(created.record)}\nsecret:   ${created.secret}\n\nStore the secret now: it is not shown again.`);
        });
      }),
  );

  keys.addCommand(
    storageOptions(new Command("list"))
      .description("List keys")
      .action(async (flags: StorageFlags) => {
        await withStorage(flags, async (store) => {
          const all = await store.keys.list();
          if (flags.json === true) return print(JSON.stringify(all.map(keyToWire), null, 2));
          if (all.length === 0) return print("No keys.");
          print(
            table([
              ["ID", "NAME", "OWNER", "PREFIX", "STATUS", "MODELS", "RPM", "TPM", "BUDGET"],
              ...all.map((k) => [
                k.id,
                k.name,
                k.owner ?? "-",
                `${k.prefix}…`,
                keyState(k),
                k.models?.join(",") ?? "all",
                String(k.rpm ?? "-"),
                String(k.tpm ?? "-"),
                k.budget === null ? "-" : `${k.budget.amount} ${k.budget.unit}/${k.budget.period}`,
              ]),
            ]),
          );
        });
      }),
  );

  keys.addCommand(
    storageOptions(new Command("show"))
      .description("Show one key and its usage")
      .argument("<id>", "key id (key_…)")
      .action(async (id: string, flags: StorageFlags) => {
        checkText("<id>", id);
        await withStorage(flags, async (store) => {
          const key = await store.keys.get(id);
          if (key === null) throw new Error(`No API key with id ${id}.`);
          const [usage] = await store.ledger.usage({ keyId: id });
          if (flags.json === true) return print(JSON.stringify({ ...keyToWire(key), usage: usage === undefined ? null : usageToWire(usage) }, null, 2));
          print(describeKey(key));
          if (usage !== undefined) {
            print(
              `usage:    ${usage.requests} requests, ${usage.promptTokens} prompt + ${usage.completionTokens} completion tokens, $${usage.cost.toFixed(6)}`,
            );
          }
        });
      }),
  );

  keys.addCommand(
    storageOptions(new Command("revoke"))
      .description("Revoke a key (it stays in the ledger)")
      .argument("<id>", "key id (key_…)")
      .action(async (id: string, flags: StorageFlags) => {
        checkText("<id>", id);
        await withStorage(flags, async (store, counters) => {
          const key = await store.keys.revoke(id);
          if (key === null) throw new Error(`No API key with id ${id}.`);
          await counters.publishKeyChange(id);
          if (flags.json === true) print(JSON.stringify(keyToWire(key), null, 2));
          else print(`Revoked ${id} (${key.name}).`);
        });
      }),
  );
  return keys;
}

interface UsageFlags extends StorageFlags {
  key?: string;
  model?: string;
  from?: Date;
  to?: Date;
  groupBy?: UsageGroup;
}

const dateArg = (name: string) => (value: string): Date => {
  const date = /^\d+$/.test(value) ? new Date(Number(value) * 1000) : new Date(value);
  if (Number.isNaN(date.getTime())) throw new InvalidArgumentError(`${name} must be an ISO date or Unix seconds.`);
  return date;
};

export function usageCommand(): Command {
  return storageOptions(new Command("usage"))
    .description("Token and cost totals from the ledger")
    .option("--key <id>", "only this key")
    .option("--model <id>", "only this model")
    .option("--from <date>", "from (inclusive): ISO date/time or Unix seconds", dateArg("--from"))
    .option("--to <date>", "to (exclusive): ISO date/time or Unix seconds", dateArg("--to"))
    .addOption(new Option("--group-by <what>", "group rows").choices(["hour", "day", "model", "key"]))
    .action(async (flags: UsageFlags) => {
      checkText("--key", flags.key);
      checkText("--model", flags.model);
      await withStorage(flags, async (store) => {
        const rows = await store.ledger.usage({ keyId: flags.key, model: flags.model, from: flags.from, to: flags.to, groupBy: flags.groupBy });
        if (flags.json === true) return print(JSON.stringify(rows.map(usageToWire), null, 2));
        print(
          table([
            [(flags.groupBy ?? "").toUpperCase() || "ALL", "REQUESTS", "PROMPT", "CACHED", "COMPLETION", "REASONING", "TOTAL", "COST_USD"],
            ...rows.map((r) => [
              r.group ?? (flags.groupBy === "key" ? "(no key)" : "all"),
              String(r.requests),
              String(r.promptTokens),
              String(r.cachedTokens),
              String(r.completionTokens),
              String(r.reasoningTokens),
              String(r.totalTokens),
              r.cost.toFixed(6),
            ]),
          ]),
        );
      });
    });
}
