/**
 * The PostgreSQL connection pool kysely runs on, made safe against a
 * database that stops answering: connecting, each query (client side) and
 * each statement (server side) have deadlines, and a failure to reach the
 * database — refused, reset, timed out, shutting down — surfaces as
 * {@link StorageUnavailableError} (a 503 for the client) instead of a hang or
 * a 500. A connection that failed that way is destroyed rather than returned
 * to the pool, so the pool heals by itself once the database is back.
 */
import os from "node:os";
import type { PostgresPool, PostgresPoolClient, PostgresQueryResult } from "kysely";
import pg from "pg";
import { StorageUnavailableError } from "../protocol/errors.js";

/** A new connection (TCP + startup + auth) must be up within this. */
export const PG_CONNECT_TIMEOUT_MS = 5_000;
/** A query's reply must arrive within this (client side: a black-holed connection). */
export const PG_QUERY_TIMEOUT_MS = 10_000;
/** The server cancels a statement running longer than this. */
export const PG_STATEMENT_TIMEOUT_MS = 10_000;
/** The server ends a session left idle inside a transaction this long (its client is gone). */
export const PG_IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000;

const INT8_OID = 20;

/** SQLSTATE classes that mean the database cannot serve now: 08 connection exception, 53 insufficient resources, 57 operator intervention (statement timeout, shutdown). */
const UNAVAILABLE_SQLSTATE = /^(08|53|57)/;
/** Node's socket errors (ECONNREFUSED, ECONNRESET, ETIMEDOUT, EPIPE, EHOSTUNREACH…). */
const SOCKET_ERRNO = /^E[A-Z]+$/;
/** pg's own connection-level failures: read timeout, connection terminated, a client no longer queryable. */
const CONNECTION_MESSAGE = /timeout|timed out|terminated|not queryable|connection/i;

/** Whether `error` says the database could not be reached (as opposed to a query it refused). */
export function isUnreachable(error: unknown): boolean {
  if (error instanceof pg.DatabaseError) return UNAVAILABLE_SQLSTATE.test(error.code ?? "");
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return (typeof code === "string" && SOCKET_ERRNO.test(code)) || CONNECTION_MESSAGE.test(error.message);
}

function unavailable(error: unknown): StorageUnavailableError {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  return new StorageUnavailableError("database", `PostgreSQL: ${typeof code === "string" ? `${code} ` : ""}${message}`);
}

/** One pooled connection: failures to reach the database become StorageUnavailableError and retire the connection. */
class GuardedClient {
  private failure: Error | null = null;

  constructor(private readonly client: pg.PoolClient) {}

  async query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>> {
    try {
      return (await this.client.query(sql, [...parameters])) as unknown as PostgresQueryResult<R>;
    } catch (error) {
      if (!isUnreachable(error)) throw error;
      // A timed-out query may still be on the wire: this connection is done.
      this.failure = error instanceof Error ? error : new Error(String(error));
      throw unavailable(error);
    }
  }

  release(): void {
    // pg destroys a client released with an error instead of pooling it.
    this.client.release(this.failure ?? undefined);
  }
}

class GuardedPool implements PostgresPool {
  constructor(private readonly pool: pg.Pool) {}

  async connect(): Promise<PostgresPoolClient> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw unavailable(error);
    }
    // Cursors (the second overload) are not used: the dialect has none configured.
    return new GuardedClient(client) as unknown as PostgresPoolClient;
  }

  end(): Promise<void> {
    return this.pool.end();
  }
}

export function openPgPool(databaseUrl: string): PostgresPool {
  const pool = new pg.Pool({
    connectionString: withDefaultUser(databaseUrl),
    connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS,
    query_timeout: PG_QUERY_TIMEOUT_MS,
    statement_timeout: PG_STATEMENT_TIMEOUT_MS,
    idle_in_transaction_session_timeout: PG_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    keepAlive: true,
    // int8 (bigint epoch ms, counts, sums) as JS numbers for this pool only;
    // pg's global parsers stay untouched. Values here stay far below 2^53.
    types: {
      getTypeParser: (oid: number, format?: "text" | "binary") =>
        oid === INT8_OID && format !== "binary" ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format),
    },
  });
  // An idle client losing its connection emits 'error' on the pool; unhandled,
  // that would crash the process. The next query reports the problem instead.
  pool.on("error", () => {});
  return new GuardedPool(pool);
}

/**
 * pg takes the user from the URL, else PGUSER, else $USER; with none of them
 * (containers often have no $USER) the server refuses the connection. Fall
 * back to the OS user name, as libpq and psql do.
 */
export function withDefaultUser(databaseUrl: string): string {
  if (process.env.PGUSER || process.env.USER) return databaseUrl;
  try {
    const url = new URL(databaseUrl);
    if (url.username || !url.host) return databaseUrl;
    url.username = encodeURIComponent(os.userInfo().username);
    return url.toString();
  } catch {
    return databaseUrl;
  }
}
