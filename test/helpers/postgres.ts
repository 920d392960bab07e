/**
 * A throwaway PostgreSQL schema for one test run: created fresh, reached
 * through a connection string whose `options` put it first in search_path,
 * and dropped afterwards. An unreachable server is an error, not a skip.
 */
import crypto from "node:crypto";
import pg from "pg";
import { withDefaultUser } from "../../src/store/pg-pool.js";

export const testPostgresUrl = process.env.CHATPORT_TEST_DATABASE_URL ?? "postgres://127.0.0.1:5432/test";

export interface TestSchema {
  name: string;
  /** Connection string that makes this schema the current one. */
  url: string;
  /** Runs a query as the admin connection (tables must be schema-qualified or use {@link name}). */
  query(text: string): Promise<Array<Record<string, unknown>>>;
  drop(): Promise<void>;
}

export async function createTestSchema(baseUrl = testPostgresUrl): Promise<TestSchema> {
  const client = new pg.Client({ connectionString: withDefaultUser(baseUrl), connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(`the store tests need PostgreSQL at ${baseUrl} (set CHATPORT_TEST_DATABASE_URL): ${String(error)}`, { cause: error });
  }
  const name = `t_${crypto.randomBytes(6).toString("hex")}`;
  await client.query(`create schema ${name}`);
  const url = new URL(baseUrl);
  url.searchParams.set("options", `-c search_path=${name}`);
  return {
    name,
    url: url.toString(),
    query: async (text) => (await client.query<Record<string, unknown>>(text)).rows,
    drop: async () => {
      try {
        await client.query(`drop schema ${name} cascade`);
      } finally {
        await client.end();
      }
    },
  };
}
