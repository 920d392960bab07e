/**
 * Counters in Redis, shared by every server replica that points at the same
 * Redis, so N replicas enforce ONE limit per key exactly: every
 * check-and-update runs as one Lua script, which Redis executes atomically.
 *
 * Layout (all keys under a prefix, default `chatport:`; keyId and periodKey
 * are URI-encoded so no two pairs map to the same key):
 * - `req:<keyId>`  sorted set, one member per counted request, score = time ms
 * - `tok:<keyId>`  sorted set, members `<unique>:<tokens>`, score = time ms
 * - `spent:<periodKey>:<keyId>`  string, INCRBYFLOAT; TTL from initSpent
 * - `resv:<periodKey>:<keyId>`   string, INCRBYFLOAT; TTL refreshed per reserve
 * - channel `key-changes`: PUBLISHed key ids, received on a second
 *   (subscriber) connection.
 *
 * Window scores are the callers' clock (`now`, default Date.now()); key TTLs
 * are Redis's clock, so replicas' clocks should agree to well under a second.
 */
import { randomUUID } from "node:crypto";
import { Redis, type RedisOptions } from "ioredis";
import { StorageUnavailableError } from "../protocol/errors.js";
import {
  RESERVATION_TTL_MS,
  WINDOW_MS,
  checkFinite,
  checkNonNegative,
  checkRequestLimit,
  checkTtl,
  resolveNow,
  warnError,
} from "./common.js";
import type { Counters, WindowDecision } from "./types.js";

export const DEFAULT_REDIS_PREFIX = "chatport:";

/** ioredis's message for a command that got no reply within commandTimeout. */
const COMMAND_TIMED_OUT = "Command timed out";

/**
 * Connection settings that make a down or hung Redis fail calls within
 * seconds rather than queue them forever: a refused connection fails after
 * 2 reconnect attempts, a silent one after the connect timeout, a command
 * with no reply after the command timeout.
 */
export const REDIS_CONNECTION_DEFAULTS: RedisOptions = {
  lazyConnect: true,
  connectTimeout: 5_000,
  commandTimeout: 5_000,
  maxRetriesPerRequest: 2,
  retryStrategy: (times) => Math.min(times * 200, 2_000),
};

export interface RedisCountersOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…`; default 127.0.0.1:6379. */
  url?: string;
  /** Overrides {@link REDIS_CONNECTION_DEFAULTS} and whatever the URL says. */
  redisOptions?: RedisOptions;
  /** Prepended to every key and the channel; default `chatport:`. */
  prefix?: string;
  /**
   * Errors nobody awaits: connection trouble after the first successful
   * connect (reported once per distinct message), a key-change listener that
   * threw. Default: a process warning.
   */
  onError?: (error: unknown) => void;
}

// KEYS[1] request zset; ARGV now, window ms, limit, unique member.
// Returns {allowed 0/1, remaining, resetMs}.
const TAKE_REQUEST = `
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count < limit then
  redis.call('ZADD', key, now, ARGV[4])
  redis.call('PEXPIRE', key, window)
  local remaining = limit - count - 1
  if remaining > 0 then return {1, remaining, 0} end
  -- the last slot was just taken: room again when the oldest entry expires
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return {1, 0, math.max(0, tonumber(oldest[2]) + window - now)}
end
-- refused: room again once count - limit + 1 of the oldest entries expired
-- (just the oldest, unless the limit was lowered since they were counted)
local entry = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
if entry[2] == nil then return {0, 0, window} end
return {0, 0, math.max(0, tonumber(entry[2]) + window - now)}
`;

// Token count of a member `<unique>:<tokens>`.
const TOKENS_OF = `local function tokens_of(member) return tonumber(string.match(member, '[^:]*$')) end`;

// KEYS[1] token zset; ARGV now, window ms, limit.
// Returns {allowed 0/1, remaining (string: may be fractional), resetMs}.
const CHECK_TOKENS = `
${TOKENS_OF}
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local entries = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
local used = 0
for i = 1, #entries, 2 do used = used + tokens_of(entries[i]) end
if used < limit then return {1, string.format('%.17g', limit - used), 0} end
-- room again once enough of the oldest entries expired that less than limit is left
local left = used
for i = 1, #entries, 2 do
  left = left - tokens_of(entries[i])
  if left < limit then return {0, '0', math.max(0, tonumber(entries[i + 1]) + window - now)} end
end
return {0, '0', window}
`;

// KEYS[1] token zset; ARGV now, window ms, member `<unique>:<tokens>`.
const ADD_TOKENS = `
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
redis.call('ZADD', key, now, ARGV[3])
redis.call('PEXPIRE', key, window)
return 1
`;

// KEYS[1] spent counter; ARGV amount. Only a loaded counter is added to: a
// missing one stays missing, so getSpent says null and the caller reloads
// it from the ledger instead of trusting a counter that holds only this amount.
const ADD_SPENT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCRBYFLOAT', KEYS[1], ARGV[1]) end
return false
`;

// KEYS[1] reservation; ARGV amount, ttl ms. Returns the new total (string).
const RESERVE = `
local total = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return total
`;

// KEYS[1] reservation; ARGV amount. Never leaves it below 0: at (or within
// float dust of) 0 the key is deleted.
const RELEASE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local left = tonumber(redis.call('INCRBYFLOAT', KEYS[1], '-' .. ARGV[1]))
if left <= 1e-9 then redis.call('DEL', KEYS[1]) end
return 1
`;

const SCRIPTS = {
  chatportTakeRequest: TAKE_REQUEST,
  chatportCheckTokens: CHECK_TOKENS,
  chatportAddTokens: ADD_TOKENS,
  chatportAddSpent: ADD_SPENT,
  chatportReserve: RESERVE,
  chatportRelease: RELEASE,
} as const;

type ScriptName = keyof typeof SCRIPTS;
/** How ioredis exposes a command made with defineCommand (its typings cannot know our names). */
type ScriptCommand = (this: Redis, ...args: (string | number)[]) => Promise<unknown>;

export class RedisCounters implements Counters {
  readonly prefix: string;
  /** `host:port`, for error messages (never the URL: it may hold a password). */
  readonly where: string;
  private readonly redis: Redis;
  /** Second connection: a subscribed connection can run nothing but (un)subscribe. */
  private readonly subscriber: Redis;
  private readonly channel: string;
  private readonly listeners: ((keyId: string) => void)[] = [];
  private readonly onError: (error: unknown) => void;
  /** Unique per instance; with `seq` it makes sorted-set members unique across replicas. */
  private readonly instanceId = randomUUID();
  private seq = 0;
  private subscribed: Promise<void> | null = null;
  private wasReady = false;
  private lastConnectionError: string | null = null;
  /** A call failed and the connection has not been ready since: calls fail at once instead of queueing. */
  private unreachable = false;
  private closed = false;

  constructor(options: RedisCountersOptions = {}) {
    this.prefix = options.prefix ?? DEFAULT_REDIS_PREFIX;
    this.channel = `${this.prefix}key-changes`;
    this.onError = options.onError ?? warnError;
    const redisOptions: RedisOptions = { ...REDIS_CONNECTION_DEFAULTS, ...options.redisOptions };
    this.redis = options.url === undefined ? new Redis(redisOptions) : new Redis(options.url, redisOptions);
    const host = this.redis.options.host ?? "127.0.0.1";
    this.where = `${host.includes(":") ? `[${host}]` : host}:${this.redis.options.port ?? 6379}`;
    for (const [name, lua] of Object.entries(SCRIPTS)) this.redis.defineCommand(name, { lua, numberOfKeys: 1 });
    this.subscriber = this.redis.duplicate();

    for (const connection of [this.redis, this.subscriber]) {
      connection.on("ready", () => {
        this.wasReady = true;
        this.lastConnectionError = null;
        if (connection === this.redis) this.unreachable = false;
      });
      // Without a listener ioredis prints every reconnect failure itself.
      connection.on("error", (error: Error) => this.connectionError(error));
    }
    this.subscriber.on("message", (channel: string, keyId: string) => {
      if (channel === this.channel) this.dispatch(keyId);
    });
  }

  /**
   * Connects, checks the server answers (PING) and subscribes to key
   * changes. Calls work without it (the first one connects), but only after
   * it are other replicas' key changes certain to arrive.
   */
  async open(): Promise<void> {
    await this.call("connect", async () => {
      await this.redis.ping();
      await this.subscribe();
    });
  }

  async takeRequest(keyId: string, limit: number, now?: number): Promise<WindowDecision> {
    const t = resolveNow(now);
    checkRequestLimit(limit);
    const reply = await this.call("takeRequest", () =>
      this.script("chatportTakeRequest", this.key("req", keyId), t, WINDOW_MS, limit, this.unique()),
    );
    return decision(reply, limit);
  }

  async checkTokens(keyId: string, limit: number, now?: number): Promise<WindowDecision> {
    const t = resolveNow(now);
    checkNonNegative(limit, "limit");
    const reply = await this.call("checkTokens", () => this.script("chatportCheckTokens", this.key("tok", keyId), t, WINDOW_MS, limit));
    return decision(reply, limit);
  }

  async addTokens(keyId: string, tokens: number, now?: number): Promise<void> {
    const t = resolveNow(now);
    checkNonNegative(tokens, "tokens");
    if (tokens === 0) return;
    await this.call("addTokens", () =>
      this.script("chatportAddTokens", this.key("tok", keyId), t, WINDOW_MS, `${this.unique()}:${tokens}`),
    );
  }

  async getSpent(keyId: string, periodKey: string): Promise<number | null> {
    const value = await this.call("getSpent", () => this.redis.get(this.key("spent", periodKey, keyId)));
    return value === null ? null : Number(value);
  }

  async initSpent(keyId: string, periodKey: string, value: number, ttlSeconds: number | null): Promise<void> {
    checkFinite(value, "value");
    checkTtl(ttlSeconds);
    const key = this.key("spent", periodKey, keyId);
    await this.call("initSpent", () =>
      ttlSeconds === null ? this.redis.set(key, String(value), "NX") : this.redis.set(key, String(value), "EX", ttlSeconds, "NX"),
    );
  }

  async addSpent(keyId: string, periodKey: string, amount: number): Promise<void> {
    checkFinite(amount, "amount");
    if (amount === 0) return;
    await this.call("addSpent", () => this.script("chatportAddSpent", this.key("spent", periodKey, keyId), String(amount)));
  }

  async reserve(keyId: string, periodKey: string, amount: number): Promise<number> {
    checkNonNegative(amount, "amount");
    const reply = await this.call("reserve", () =>
      this.script("chatportReserve", this.key("resv", periodKey, keyId), String(amount), RESERVATION_TTL_MS),
    );
    return toNumber(reply, "reserve");
  }

  async release(keyId: string, periodKey: string, amount: number): Promise<void> {
    checkNonNegative(amount, "amount");
    if (amount === 0) return;
    await this.call("release", () => this.script("chatportRelease", this.key("resv", periodKey, keyId), String(amount)));
  }

  async ping(): Promise<void> {
    await this.call("ping", () => this.redis.ping());
  }

  async publishKeyChange(keyId: string): Promise<void> {
    await this.call("publishKeyChange", () => this.redis.publish(this.channel, keyId));
  }

  onKeyChange(listener: (keyId: string) => void): void {
    this.listeners.push(listener);
    if (this.subscribed === null && !this.closed) this.subscribe().catch((error: unknown) => this.onError(this.clearError("subscribe", error)));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.length = 0;
    await Promise.all([shutdown(this.redis), shutdown(this.subscriber)]);
  }

  /** Subscribes the second connection once; a failed attempt may be retried. */
  private subscribe(): Promise<void> {
    this.subscribed ??= this.subscriber.subscribe(this.channel).then(
      () => undefined,
      (error: unknown) => {
        this.subscribed = null;
        throw error;
      },
    );
    return this.subscribed;
  }

  private dispatch(keyId: string): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(keyId);
      } catch (error) {
        this.onError(error);
      }
    }
  }

  private connectionError(error: Error): void {
    const message = this.redact(error.message);
    if (message === this.lastConnectionError) return;
    this.lastConnectionError = message;
    // Before the first connect the failure reaches the caller through the
    // rejected call; reporting it here as well would only be noise.
    if (this.wasReady && !this.closed) this.onError(new Error(`Redis counters at ${this.where}: ${message}`));
  }

  /**
   * Runs a Redis call. Any failure becomes a StorageUnavailableError (a 503
   * for the client) whose detail says what failed where, without secrets. A
   * command that timed out means the connection may be black-holed (open, but
   * nothing comes back, which TCP can take hours to notice): it is dropped and
   * made again, so the counters recover once Redis answers. Until it is
   * ready again, calls fail at once rather than each waiting out a timeout
   * (a request makes several).
   */
  private async call<T>(operation: string, run: () => Promise<T>): Promise<T> {
    if (this.closed) throw new Error(`Redis counters at ${this.where}: ${operation} after close`);
    if (this.unreachable && this.redis.status !== "ready") {
      const why = this.lastConnectionError === null ? "" : ` (${this.lastConnectionError})`;
      throw new StorageUnavailableError("redis", `Redis counters at ${this.where}: ${operation} failed: not connected${why}`);
    }
    try {
      return await run();
    } catch (error) {
      // (A ReplyError is Redis answering: it is reachable.)
      if (this.wasReady && !(error instanceof Error && error.name === "ReplyError")) this.unreachable = true;
      if (error instanceof Error && error.message === COMMAND_TIMED_OUT && this.redis.status === "ready") this.redis.disconnect(true);
      throw new StorageUnavailableError("redis", this.clearError(operation, error).message);
    }
  }

  private clearError(operation: string, error: unknown): Error {
    let message = this.redact(error instanceof Error ? error.message : String(error));
    // "Reached the max retries per request limit" alone does not say why.
    if (this.lastConnectionError !== null && this.lastConnectionError !== message) message += ` (${this.lastConnectionError})`;
    // No `cause`: ioredis errors may carry the failed command's arguments (AUTH's password).
    return new Error(`Redis counters at ${this.where}: ${operation} failed: ${message}`);
  }

  /** Removes the password from a message, should a server or library ever echo it. */
  private redact(message: string): string {
    const password = this.redis.options.password;
    return password ? message.split(password).join("***") : message;
  }

  private script(name: ScriptName, key: string, ...args: (string | number)[]): Promise<unknown> {
    const command = (this.redis as unknown as Record<ScriptName, ScriptCommand>)[name];
    return command.call(this.redis, key, ...args);
  }

  private key(kind: "req" | "tok" | "spent" | "resv", ...parts: string[]): string {
    return `${this.prefix}${kind}:${parts.map(encodeURIComponent).join(":")}`;
  }

  private unique(): string {
    this.seq += 1;
    return `${this.instanceId}-${this.seq}`;
  }
}

/** A window script's `{allowed, remaining, resetMs}` reply as a WindowDecision. */
function decision(reply: unknown, limit: number): WindowDecision {
  if (!Array.isArray(reply) || reply.length !== 3) throw new Error(`unexpected reply from Redis window script: ${JSON.stringify(reply)}`);
  const [allowed, remaining, resetMs] = reply as unknown[];
  return {
    allowed: toNumber(allowed, "window script") === 1,
    limit,
    remaining: toNumber(remaining, "window script"),
    resetMs: toNumber(resetMs, "window script"),
  };
}

function toNumber(value: unknown, what: string): number {
  const n = typeof value === "number" ? value : typeof value === "string" ? Number(value) : Number.NaN;
  if (!Number.isFinite(n)) throw new Error(`unexpected reply from Redis ${what}: ${JSON.stringify(value)}`);
  return n;
}

/** QUIT when connected (lets pending replies arrive), otherwise just drop the socket and stop reconnecting. */
async function shutdown(connection: Redis): Promise<void> {
  if (connection.status === "ready") {
    try {
      await connection.quit();
      return;
    } catch {
      // fall through
    }
  }
  connection.disconnect();
}
