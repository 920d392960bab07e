/**
 * The store (keys + ledger) against both databases: one suite, run once on a
 * temporary SQLite file and once on a fresh PostgreSQL schema. PostgreSQL
 * must be reachable (postgres://127.0.0.1:5432/test, or
 * CHATPORT_TEST_DATABASE_URL); if it is not, the PostgreSQL suite fails.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import SqliteDatabase from "better-sqlite3";
import pg from "pg";
import { openStore } from "../src/store/open-store.js";
import { settingDefault } from "../src/settings.js";
import type { LedgerRow, Store, UsageRow } from "../src/store/types.js";
import { createTestSchema, type TestSchema } from "./helpers/postgres.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

interface Backend {
  name: "sqlite" | "postgres";
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** Opens a new store on this suite's database. */
  open(): Promise<Store>;
  /** Every row of a table, read around the store (to see what is really stored). */
  rawRows(table: "api_keys" | "ledger"): Promise<Array<Record<string, unknown>>>;
}

function sqliteBackend(): Backend {
  let dir = "";
  const file = (): string => path.join(dir, "nested", "dir", "chatport.db");
  return {
    name: "sqlite",
    setup: async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "chatport-store-"));
    },
    teardown: async () => fs.rmSync(dir, { recursive: true, force: true }),
    open: () => openStore({ databaseUrl: null, sqlitePath: file(), sqliteSync: settingDefault("sqliteSync") }),
    rawRows: async (table) => {
      const db = new SqliteDatabase(file(), { readonly: true });
      try {
        return db.prepare(`select * from ${table}`).all() as Array<Record<string, unknown>>;
      } finally {
        db.close();
      }
    },
  };
}

function postgresBackend(): Backend {
  let schema: TestSchema | null = null;
  const current = (): TestSchema => {
    assert.ok(schema, "PostgreSQL schema was not created (see the before hook's error)");
    return schema;
  };
  return {
    name: "postgres",
    setup: async () => {
      schema = await createTestSchema();
    },
    teardown: async () => schema?.drop(),
    open: () => openStore({ databaseUrl: current().url, sqlitePath: "/nonexistent/never-used.db", sqliteSync: settingDefault("sqliteSync") }),
    rawRows: (table) => current().query(`select * from ${current().name}.${table}`),
  };
}

const day = (iso: string): Date => new Date(`${iso}T00:00:00.000Z`);

function ledgerRow(id: string, fields: Partial<LedgerRow>): LedgerRow {
  return {
    id,
    requestId: `req-${id}`,
    keyId: null,
    model: "m1",
    promptTokens: 0,
    cachedTokens: 0,
    completionTokens: 0,
    reasoningTokens: 0,
    cost: 0,
    status: "ok",
    httpStatus: 200,
    stream: false,
    latencyMs: 10,
    ttftMs: null,
    createdAt: new Date(),
    usageEstimated: false,
    ...fields,
  };
}

/** A usage row from its counts; totalTokens is derived. */
function usage(group: string | null, requests: number, prompt: number, cached: number, completion: number, reasoning: number, cost: number, estimated = 0): UsageRow {
  return { group, requests, promptTokens: prompt, cachedTokens: cached, completionTokens: completion, reasoningTokens: reasoning, totalTokens: prompt + completion, cost, estimatedRequests: estimated };
}

for (const backend of [sqliteBackend(), postgresBackend()]) {
  describe(`store on ${backend.name}`, { timeout: 120_000 }, () => {
    let store: Store;

    before(async () => {
      await backend.setup();
      store = await backend.open();
    });
    after(async () => {
      await store?.close();
      await backend.teardown();
    });

    it("reports its dialect and runs migrations idempotently (open twice)", async () => {
      assert.equal(store.dialect, backend.name);
      const created = await store.keys.create({ name: "survives reopen" });
      const again = await backend.open();
      try {
        assert.equal(again.dialect, backend.name);
        assert.deepEqual(await again.keys.get(created.record.id), created.record);
      } finally {
        await again.close();
      }
    });

    if (backend.name === "postgres") {
      it("concurrent openStore calls on one fresh schema all succeed", async () => {
        const fresh = await createTestSchema();
        try {
          const stores = await Promise.all(Array.from({ length: 4 }, () => openStore({ databaseUrl: fresh.url, sqlitePath: "/nonexistent", sqliteSync: settingDefault("sqliteSync") })));
          await stores[0]!.keys.create({ name: "one" });
          for (const s of stores) assert.equal(await s.keys.count(), 1);
          await Promise.all(stores.map((s) => s.close()));
          const migrations = await fresh.query(`select name from ${fresh.name}.kysely_migration order by name`);
          assert.deepEqual(
            migrations.map((m) => m.name),
            ["0001_keys_and_ledger", "0002_ledger_usage_estimated", "0003_responses"],
            "each migration ran exactly once",
          );
        } finally {
          await fresh.drop();
        }
      });

      it("returns int8 as numbers through its own pool, leaving pg's global parsers alone", () => {
        assert.equal(pg.types.getTypeParser(20, "text")("42"), "42");
      });
    }

    describe("keys", () => {
      it("create returns a secret that findBySecret finds; a wrong secret finds nothing", async () => {
        const { record, secret } = await store.keys.create({ name: "alpha" });
        assert.match(secret, /^sk-[A-Za-z0-9_-]{43}$/);
        assert.match(record.id, /^key_[A-Za-z0-9_-]{16}$/);
        assert.equal(record.prefix, secret.slice(0, 8));
        assert.deepEqual(
          { ...record, createdAt: null },
          { id: record.id, name: "alpha", owner: null, models: null, prefix: record.prefix, rpm: null, tpm: null, budget: null, enabled: true, createdAt: null, expiresAt: null, revokedAt: null },
        );
        assert.ok(Math.abs(record.createdAt.getTime() - Date.now()) < 60_000);

        assert.deepEqual(await store.keys.findBySecret(secret), record);
        const last = secret.at(-1) === "A" ? "B" : "A";
        assert.equal(await store.keys.findBySecret(secret.slice(0, -1) + last), null);
        assert.equal(await store.keys.findBySecret(""), null);
        assert.equal(await store.keys.findBySecret(record.prefix), null);
      });

      it("never stores the secret, only its sha256", async () => {
        const { record, secret } = await store.keys.create({ name: "hashed" });
        const row = (await backend.rawRows("api_keys")).find((r) => r.id === record.id);
        assert.ok(row);
        assert.equal(row.secret_hash, crypto.createHash("sha256").update(secret).digest("hex"));
        // Only the 8-character prefix may appear; nothing past it, in any column.
        for (const [column, value] of Object.entries(row)) {
          assert.ok(!String(value).includes(secret.slice(8)), `column ${column} holds the secret`);
        }
      });

      it("round-trips every field: models, limits, budget, expiry, disabled", async () => {
        const expiresAt = new Date("2031-05-06T07:08:09.123Z");
        const { record } = await store.keys.create({
          name: "  full  ",
          owner: "alice",
          models: ["m1", "m2"],
          rpm: 60,
          tpm: 100_000,
          budget: { unit: "usd", amount: 12.5, period: "monthly" },
          expiresAt,
          enabled: false,
        });
        assert.equal(record.name, "full");
        const got = await store.keys.get(record.id);
        assert.deepEqual(got, record);
        assert.deepEqual(got?.models, ["m1", "m2"]);
        assert.deepEqual(got?.budget, { unit: "usd", amount: 12.5, period: "monthly" });
        assert.equal(got?.expiresAt?.toISOString(), expiresAt.toISOString());
        assert.equal(got?.enabled, false);
        assert.equal(got?.rpm, 60);
        assert.equal(got?.tpm, 100_000);
        assert.equal(await store.keys.get("key_unknown"), null);
      });

      it("lists, updates, revokes and counts", async () => {
        const before = await store.keys.count();
        const a = await store.keys.create({ name: "a", rpm: 5, budget: { unit: "tokens", amount: 1000, period: "daily" } });
        const b = await store.keys.create({ name: "b" });
        assert.equal(await store.keys.count(), before + 2);
        const listed = await store.keys.list();
        assert.equal(listed.length, before + 2);
        assert.deepEqual(
          listed.find((k) => k.id === a.record.id),
          a.record,
        );
        assert.ok(listed.some((k) => k.id === b.record.id));

        const updated = await store.keys.update(a.record.id, { name: "a2", rpm: null, tpm: 7, budget: null, models: ["x"], enabled: false, owner: "bob" });
        assert.deepEqual(updated, { ...a.record, name: "a2", rpm: null, tpm: 7, budget: null, models: ["x"], enabled: false, owner: "bob" });
        assert.deepEqual(await store.keys.get(a.record.id), updated);
        assert.deepEqual(await store.keys.update(a.record.id, {}), updated, "an empty update changes nothing");
        const expiresAt = new Date("2030-01-01T00:00:00.000Z");
        assert.deepEqual((await store.keys.update(a.record.id, { expiresAt, enabled: true }))?.expiresAt, expiresAt);
        assert.equal((await store.keys.update(a.record.id, { expiresAt: null }))?.expiresAt, null);
        assert.equal(await store.keys.update("key_unknown", { name: "x" }), null);

        const revoked = await store.keys.revoke(b.record.id);
        assert.ok(revoked?.revokedAt instanceof Date);
        const again = await store.keys.revoke(b.record.id);
        assert.deepEqual(again?.revokedAt, revoked.revokedAt, "a second revoke keeps the first time");
        assert.deepEqual(await store.keys.findBySecret(b.secret), revoked, "revoked keys are still found (the caller decides)");
        assert.equal(await store.keys.revoke("key_unknown"), null);
        assert.equal(await store.keys.count(), before + 2, "revoked keys still count");
      });

      it("rejects obviously invalid input", async () => {
        const count = await store.keys.count();
        await assert.rejects(store.keys.create({ name: "" }), /name/);
        await assert.rejects(store.keys.create({ name: "   " }), /name/);
        await assert.rejects(store.keys.create({ name: "x", rpm: -1 }), /rpm/);
        await assert.rejects(store.keys.create({ name: "x", tpm: 1.5 }), /tpm/);
        await assert.rejects(store.keys.create({ name: "x", budget: { unit: "usd", amount: -1, period: "daily" } }), /budget/);
        await assert.rejects(store.keys.create({ name: "x", expiresAt: new Date(Number.NaN) }), /expiresAt/);
        const { record } = await store.keys.create({ name: "valid" });
        await assert.rejects(store.keys.update(record.id, { name: "" }), /name/);
        await assert.rejects(store.keys.update(record.id, { rpm: -5 }), /rpm/);
        assert.equal(await store.keys.count(), count + 1);
      });
    });

    describe("ledger", () => {
      // Hand-made rows over three UTC days; costs are binary fractions so sums are exact.
      const A = "key_aaaa";
      const B = "key_bbbb";
      const r2Time = new Date("2024-03-01T23:59:59.999Z");
      const rows: LedgerRow[] = [
        ledgerRow("r1", { keyId: A, model: "m1", createdAt: new Date("2024-03-01T10:00:00.000Z"), promptTokens: 100, cachedTokens: 10, completionTokens: 50, reasoningTokens: 5, cost: 0.25, stream: true, ttftMs: 12 }),
        ledgerRow("r2", { keyId: A, model: "m2", createdAt: r2Time, promptTokens: 200, completionTokens: 20, cost: 0.5, status: "error", httpStatus: 502 }),
        ledgerRow("r3", { keyId: B, model: "m1", createdAt: day("2024-03-02"), promptTokens: 300, cachedTokens: 30, completionTokens: 70, reasoningTokens: 7, cost: 0.125, usageEstimated: true }),
        ledgerRow("r4", { keyId: null, model: "m1", createdAt: new Date("2024-03-02T12:00:00.000Z"), promptTokens: 1, completionTokens: 2, cost: 2, status: "client_disconnected" }),
        ledgerRow("r5", { keyId: A, model: "m1", createdAt: day("2024-03-03"), promptTokens: 1000, completionTokens: 1000, cost: 1.5, stream: true }),
      ];
      const window = { from: day("2024-03-01"), to: day("2024-03-04") };

      before(async () => {
        await Promise.all(rows.map((r) => store.ledger.record(r)));
      });

      it("stores every field", async () => {
        const raw = (await backend.rawRows("ledger")).find((r) => r.id === "r1");
        assert.ok(raw);
        assert.equal(Number(raw.created_at), rows[0]!.createdAt.getTime());
        assert.equal(Boolean(raw.stream), true);
        assert.equal(Number(raw.ttft_ms), 12);
        assert.equal(raw.request_id, "req-r1");
        assert.equal(Boolean(raw.usage_estimated), false);
        const estimated = (await backend.rawRows("ledger")).find((r) => r.id === "r3");
        assert.equal(Boolean(estimated?.usage_estimated), true);
      });

      it("groups usage by UTC day", async () => {
        assert.deepEqual(await store.ledger.usage({ ...window, groupBy: "day" }), [
          usage("2024-03-01", 2, 300, 10, 70, 5, 0.75),
          usage("2024-03-02", 2, 301, 30, 72, 7, 2.125, 1),
          usage("2024-03-03", 1, 1000, 0, 1000, 0, 1.5),
        ]);
      });

      it("groups usage by UTC hour", async () => {
        assert.deepEqual(await store.ledger.usage({ ...window, groupBy: "hour" }), [
          usage("2024-03-01T10", 1, 100, 10, 50, 5, 0.25),
          usage("2024-03-01T23", 1, 200, 0, 20, 0, 0.5),
          usage("2024-03-02T00", 1, 300, 30, 70, 7, 0.125, 1),
          usage("2024-03-02T12", 1, 1, 0, 2, 0, 2),
          usage("2024-03-03T00", 1, 1000, 0, 1000, 0, 1.5),
        ]);
      });

      it("groups usage by model; `to` is exclusive", async () => {
        assert.deepEqual(await store.ledger.usage({ from: window.from, to: day("2024-03-03"), groupBy: "model" }), [
          usage("m1", 3, 401, 40, 122, 12, 2.375, 1),
          usage("m2", 1, 200, 0, 20, 0, 0.5),
        ]);
      });

      it("groups usage by key (keyless last); `from` is inclusive", async () => {
        assert.deepEqual(await store.ledger.usage({ from: r2Time, to: window.to, groupBy: "key" }), [
          usage(A, 2, 1200, 0, 1020, 0, 2),
          usage(B, 1, 300, 30, 70, 7, 0.125, 1),
          usage(null, 1, 1, 0, 2, 0, 2),
        ]);
      });

      it("filters by key and model; ungrouped gives one row, zero totals when nothing matches", async () => {
        assert.deepEqual(await store.ledger.usage({ keyId: A, model: "m1" }), [usage(null, 2, 1100, 10, 1050, 5, 1.75)]);
        assert.deepEqual(await store.ledger.usage({ ...window, model: "m2", groupBy: "key" }), [usage(A, 1, 200, 0, 20, 0, 0.5)]);
        assert.deepEqual(await store.ledger.usage({ from: day("1999-01-01"), to: day("2000-01-01") }), [usage(null, 0, 0, 0, 0, 0, 0)]);
        assert.deepEqual(await store.ledger.usage({ keyId: "key_none", groupBy: "day" }), []);
        for (const value of Object.values((await store.ledger.usage({ keyId: A }))[0]!)) {
          if (value !== null) assert.equal(typeof value, "number");
        }
      });

      it("spent() sums tokens and cost since a time", async () => {
        assert.deepEqual(await store.ledger.spent(A, null), { tokens: 150 + 220 + 2000, cost: 2.25 });
        assert.deepEqual(await store.ledger.spent(A, r2Time), { tokens: 2220, cost: 2 });
        assert.deepEqual(await store.ledger.spent(A, day("2024-03-02")), { tokens: 2000, cost: 1.5 });
        assert.deepEqual(await store.ledger.spent(B, null), { tokens: 370, cost: 0.125 });
        assert.deepEqual(await store.ledger.spent("key_none", null), { tokens: 0, cost: 0 });
      });

      it("group commit: 200 concurrent record() calls all resolve and all rows are present", async () => {
        const ids = Array.from({ length: 200 }, (_, i) => `gc-${i}`);
        const started = performance.now();
        await Promise.all(ids.map((id, i) => store.ledger.record(ledgerRow(id, { keyId: "key_gc", promptTokens: i, completionTokens: 1 }))));
        const elapsed = performance.now() - started;
        const present = new Set((await backend.rawRows("ledger")).map((r) => r.id));
        for (const id of ids) assert.ok(present.has(id), `${id} missing`);
        assert.deepEqual(await store.ledger.spent("key_gc", null), { tokens: (199 * 200) / 2 + 200, cost: 0 });
        assert.ok(elapsed < 30_000, `200 rows took ${elapsed} ms`);
      });

      it("a row recorded from a resolution callback, at any promise depth, is still written", async () => {
        // Regression: a row queued just as the flusher finished used to wait forever.
        for (let depth = 0; depth < 8; depth++) {
          let chain: Promise<unknown> = store.ledger.record(ledgerRow(`chain-a${depth}`, {}));
          for (let i = 0; i < depth; i++) chain = chain.then(() => undefined);
          const second = chain.then(() => store.ledger.record(ledgerRow(`chain-b${depth}`, {})));
          let timer: NodeJS.Timeout | undefined;
          const stuck = new Promise<string>((resolve) => (timer = setTimeout(() => resolve("stuck"), 5_000)));
          assert.equal(await Promise.race([second.then(() => "written"), stuck]), "written", `depth ${depth}`);
          clearTimeout(timer);
        }
      });

      it("a duplicate id rejects only its own promise", async () => {
        await store.ledger.record(ledgerRow("dup-existing", {}));
        const results = await Promise.allSettled([
          store.ledger.record(ledgerRow("dup-a", {})),
          store.ledger.record(ledgerRow("dup-existing", {})),
          store.ledger.record(ledgerRow("dup-b", {})),
          store.ledger.record(ledgerRow("dup-b", {})),
          store.ledger.record(ledgerRow("dup-c", {})),
        ]);
        assert.deepEqual(
          results.map((r) => r.status),
          ["fulfilled", "rejected", "fulfilled", "rejected", "fulfilled"],
        );
        const present = new Set((await backend.rawRows("ledger")).map((r) => r.id));
        for (const id of ["dup-a", "dup-b", "dup-c"]) assert.ok(present.has(id));
      });
    });

    if (backend.name === "sqlite") {
      it("a row whose record() resolved survives SIGKILL of the writer", { timeout: 60_000 }, async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "chatport-durability-"));
        const file = path.join(dir, "ledger.db");
        try {
          const child = spawn(process.execPath, ["--import", "tsx", path.join(repoRoot, "test/fixtures/ledger-writer.ts"), file, "key_durable"], {
            cwd: repoRoot,
            stdio: ["ignore", "pipe", "pipe"],
          });
          let out = "";
          let err = "";
          child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
          const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on("exit", (code, signal) => resolve(signal ?? code)));
          await new Promise<void>((resolve, reject) => {
            child.stdout.on("data", (chunk: Buffer) => {
              out += chunk.toString();
              if (out.split("\n").length > 200 && !child.killed) {
                child.kill("SIGKILL");
                resolve();
              }
            });
            void exited.then((how) => reject(new Error(`writer exited early (${String(how)}): ${err}`)));
          });
          assert.equal(await exited, "SIGKILL");
          // Only complete lines count: a line cut by the kill was never fully printed.
          const printed = out.split("\n").slice(0, -1);
          assert.ok(printed.length >= 200, `only ${printed.length} ids printed`);

          const reopened = await openStore({ sqlitePath: file, sqliteSync: settingDefault("sqliteSync") });
          try {
            const [total] = await reopened.ledger.usage({ keyId: "key_durable" });
            assert.ok(total && total.requests >= printed.length, `${total?.requests} rows for ${printed.length} printed ids`);
            const raw = new SqliteDatabase(file, { readonly: true });
            const ids = new Set((raw.prepare("select id from ledger").all() as Array<{ id: string }>).map((r) => r.id));
            raw.close();
            const missing = printed.filter((id) => !ids.has(id));
            assert.deepEqual(missing, [], "every id printed after record() resolved is in the database");
          } finally {
            await reopened.close();
          }
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      });
    }
  });
}
