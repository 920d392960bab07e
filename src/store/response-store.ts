/**
 * Stored Responses API responses in SQL (SQLite or PostgreSQL, beside the
 * ledger). A row is self-contained — the conversation before it, its input,
 * its response — so `previous_response_id` continues it on any replica and
 * after a restart, whatever became of the earlier turns. Reads and deletes
 * are bound to the key that created the row: another key finds nothing.
 */
import { sql, type Kysely } from "kysely";
import type { Database, ResponsesTable } from "./schema.js";
import type { ResponseStore, StoredResponse } from "./types.js";

/** `key_id = ?` that also matches NULL for NULL (the static/admin key's responses). */
const ownedBy = (keyId: string | null) => (keyId === null ? sql<boolean>`key_id is null` : sql<boolean>`key_id = ${keyId}`);

export class SqlResponseStore implements ResponseStore {
  constructor(private readonly db: Kysely<Database>) {}

  async save(response: StoredResponse): Promise<void> {
    const row: ResponsesTable = {
      id: response.id,
      key_id: response.keyId,
      model: response.model,
      created_at: response.createdAt.getTime(),
      expires_at: response.expiresAt?.getTime() ?? null,
      history: JSON.stringify(response.history),
      input: JSON.stringify(response.input),
      response: JSON.stringify(response.response),
    };
    await this.db.insertInto("responses").values(row).execute();
  }

  async get(id: string, keyId: string | null, now = new Date()): Promise<StoredResponse | null> {
    const row = await this.db
      .selectFrom("responses")
      .selectAll()
      .where("id", "=", id)
      .where(ownedBy(keyId))
      .where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", now.getTime())]))
      .executeTakeFirst();
    if (row === undefined) return null;
    return {
      id: row.id,
      keyId: row.key_id,
      model: row.model,
      createdAt: new Date(Number(row.created_at)),
      expiresAt: row.expires_at === null ? null : new Date(Number(row.expires_at)),
      history: JSON.parse(row.history) as unknown[],
      input: JSON.parse(row.input) as unknown[],
      response: JSON.parse(row.response) as Record<string, unknown>,
    };
  }

  async delete(id: string, keyId: string | null): Promise<boolean> {
    const result = await this.db.deleteFrom("responses").where("id", "=", id).where(ownedBy(keyId)).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async purgeExpired(now = new Date()): Promise<number> {
    const result = await this.db.deleteFrom("responses").where("expires_at", "is not", null).where("expires_at", "<=", now.getTime()).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
