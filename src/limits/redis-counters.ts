/**
 * Counters in Redis, shared by every server replica that points at the same
 * Redis, so N replicas enforce ONE limit per key exactly: every
 * check-and-update runs as one Lua script, which Redis executes atomically.
 *
 * Layout (all keys under a prefix, default `chatport:`; keyId and periodKey
 * are URI-encoded so no two pairs map to the same key):
 * - `req:<keyId>`  sorted set, one member per counted request, score = time ms
 * - `tok:<keyId>`  sorted set, members `<unique>:<tokens>`, score = time ms
 *   (held at admission, settled to what the request used)
 * - `spent:<periodKey>:<keyId>`  string, INCRBYFLOAT; TTL from initSpent
 * - `resv:<periodKey>:<keyId>`   sorted set, one member `<unique>:<amount>` per
 *   reservation, score = its expiry ms; expired members are dropped by every
 *   reservation, so each expires on its own
 * - channel `key-changes`: PUBLISHed key ids, received on a second
 *   (subscriber) connection.
 *
 * Window scores and reservation expiries are the callers' clock (`now`, default Date.now()); key TTLs
 * are Redis's clock, so replicas' clocks should agree to well under a second.
 */
import { randomUUID } from "node:crypto";
import { Redis, type RedisOptions } from "ioredis";
import { StorageUnavailableError } from "../protocol/errors.js";
import {
  WINDOW_MS,
  checkClaim,
  checkFinite,
  checkNonNegative,
  checkRequestLimit,
  checkTtl,
  checkTtlMs,
  resolveNow,
  warnError,
} from "./common.js";
import type { BudgetDecision, Claim, Counters, TokenWindowGrant, WindowDecision } from "./types.js";

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

// Numbers go back as strings with full precision (Lua numbers become integers in replies).
const FMT = `local function fmt(x) return string.format('%.17g', x) end`;

// Amount of a member `<unique>:<amount>`.
const AMOUNT_OF = `local function amount_of(member) return tonumber(string.match(member, '[^:]*$')) end`;

// ms until the newest entry of window zset `key` has left the window (0 when empty).
const UNTIL_EMPTY = `
local function until_empty(key, now, window)
  local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if newest[2] == nil then return 0 end
  return math.max(0, tonumber(newest[2]) + window - now)
end`;

// KEYS[1] request zset; ARGV now, window ms, limit, unique member.
// Returns {allowed 0/1, remaining, resetMs (until empty), retryMs (until room)}.
const TAKE_REQUEST = `
${UNTIL_EMPTY}
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count < limit then
  redis.call('ZADD', key, now, ARGV[4])
  redis.call('PEXPIRE', key, window)
  return {1, limit - count - 1, until_empty(key, now, window), 0}
end
-- refused: room again once count - limit + 1 of the oldest entries expired
-- (just the oldest, unless the limit was lowered since they were counted)
local entry = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
if entry[2] == nil then return {0, 0, until_empty(key, now, window), window} end
return {0, 0, until_empty(key, now, window), math.max(0, tonumber(entry[2]) + window - now)}
`;

// KEYS[1] token zset (members <unique>:<tokens>, scored by time); ARGV now,
// window ms, limit, need, want, unique. Holds min(want, room) if room >= need.
// Returns {allowed 0/1, remaining, resetMs, retryMs, granted, member or ''}.
const RESERVE_TOKENS = `
${FMT}
${AMOUNT_OF}
${UNTIL_EMPTY}
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local need = tonumber(ARGV[4])
local want = tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local entries = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
local used = 0
for i = 1, #entries, 2 do used = used + amount_of(entries[i]) end
local room = limit - used
if room > 0 and room >= need then
  local granted = math.min(want, room)
  local member = ARGV[6] .. ':' .. fmt(granted)
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, window)
  return {1, fmt(room - granted), until_empty(key, now, window), 0, fmt(granted), member}
end
-- refused: room again once enough of the oldest entries expired that the claim fits
local left = used
for i = 1, #entries, 2 do
  left = left - amount_of(entries[i])
  if limit - left > 0 and limit - left >= need then
    return {0, fmt(math.max(0, room)), until_empty(key, now, window), math.max(0, tonumber(entries[i + 1]) + window - now), '0', ''}
  end
end
return {0, fmt(math.max(0, room)), until_empty(key, now, window), window, '0', ''}
`;

// KEYS[1] token zset; ARGV held member, its replacement (same unique, used tokens).
// The replacement keeps the held entry's time; an entry that left the window stays gone.
const SETTLE_TOKENS = `
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
if tonumber(string.match(ARGV[2], '[^:]*$')) > 0 then redis.call('ZADD', KEYS[1], score, ARGV[2]) end
return 1
`;

// KEYS[1] spent counter, KEYS[2] reservation zset (members <unique>:<amount>,
// scored by expiry); ARGV now, ttl ms, limit, need, want, unique.
// Returns {0} when the spent counter is not loaded, else
// {1 granted / 2 refused, granted, spent, reserved by others, member or ''}.
const RESERVE_BUDGET = `
${FMT}
${AMOUNT_OF}
local spent = redis.call('GET', KEYS[1])
if not spent then return {0} end
spent = tonumber(spent)
local now = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local need = tonumber(ARGV[4])
local want = tonumber(ARGV[5])
-- each reservation expires on its own, whatever else the key does
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local held = redis.call('ZRANGE', KEYS[2], 0, -1)
local reserved = 0
for i = 1, #held do reserved = reserved + amount_of(held[i]) end
local room = limit - spent - reserved
if not (room > 0 and room >= need) then return {2, '0', fmt(spent), fmt(reserved), ''} end
local granted = math.min(want, room)
local member = ARGV[6] .. ':' .. fmt(granted)
redis.call('ZADD', KEYS[2], now + ttl, member)
-- the set itself lives as long as its latest reservation
local latest = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[2], math.max(ttl, tonumber(latest[2]) - now))
return {1, fmt(granted), fmt(spent), fmt(reserved), member}
`;

// KEYS[1] reservation zset; ARGV member, now, ttl ms. Only a live reservation is renewed.
const RENEW_BUDGET = `
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
local now = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
if not score or tonumber(score) <= now then return 0 end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
`;

// KEYS[1] spent counter, KEYS[2] reservation zset; ARGV member, amount.
// Only a loaded counter is added to: a missing one stays missing, so the next
// reservation says so and the caller reloads it from the ledger instead of
// trusting a counter that holds only this amount.
const SETTLE_BUDGET = `
redis.call('ZREM', KEYS[2], ARGV[1])
if tonumber(ARGV[2]) ~= 0 and redis.call('EXISTS', KEYS[1]) == 1 then redis.call('INCRBYFLOAT', KEYS[1], ARGV[2]) end
return 1
`;

const SCRIPTS = {
  chatportTakeRequest: { lua: TAKE_REQUEST, keys: 1 },
  chatportReserveTokens: { lua: RESERVE_TOKENS, keys: 1 },
  chatportSettleTokens: { lua: SETTLE_TOKENS, keys: 1 },
  chatportReserveBudget: { lua: RESERVE_BUDGET, keys: 2 },
  chatportRenewBudget: { lua: RENEW_BUDGET, keys: 1 },
  chatportSettleBudget: { lua: SETTLE_BUDGET, keys: 2 },
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
    for (const [name, { lua, keys }] of Object.entries(SCRIPTS)) this.redis.defineCommand(name, { lua, numberOfKeys: keys });
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
      this.script("chatportTakeRequest", [this.key("req", keyId)], t, WINDOW_MS, limit, this.unique()),
    );
    return decision(reply, limit);
  }

  async reserveTokens(keyId: string, limit: number, claim: Claim, now?: number): Promise<TokenWindowGrant> {
    const t = resolveNow(now);
    checkNonNegative(limit, "limit");
    checkClaim(claim);
    const reply = await this.call("reserveTokens", () =>
      this.script("chatportReserveTokens", [this.key("tok", keyId)], t, WINDOW_MS, limit, claim.need, claim.want, this.unique()),
    );
    if (!Array.isArray(reply) || reply.length !== 6) throw new Error(`unexpected reply from Redis reserveTokens: ${JSON.stringify(reply)}`);
    const entry = String(reply[5]);
    return { ...decision(reply.slice(0, 4), limit), granted: toNumber(reply[4], "reserveTokens"), entry: entry === "" ? null : entry };
  }

  async settleTokens(keyId: string, entry: string, tokens: number): Promise<void> {
    checkNonNegative(tokens, "tokens");
    const unique = entry.slice(0, entry.lastIndexOf(":"));
    await this.call("settleTokens", () => this.script("chatportSettleTokens", [this.key("tok", keyId)], entry, `${unique}:${tokens}`));
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

  async reserveBudget(keyId: string, periodKey: string, limit: number, claim: Claim, ttlMs: number, now?: number): Promise<BudgetDecision> {
    const t = resolveNow(now);
    checkFinite(limit, "limit");
    checkClaim(claim);
    checkTtlMs(ttlMs);
    const reply = await this.call("reserveBudget", () =>
      this.script(
        "chatportReserveBudget",
        [this.key("spent", periodKey, keyId), this.key("resv", periodKey, keyId)],
        t,
        ttlMs,
        String(limit),
        String(claim.need),
        String(claim.want),
        this.unique(),
      ),
    );
    if (!Array.isArray(reply) || (reply.length !== 1 && reply.length !== 5)) throw new Error(`unexpected reply from Redis reserveBudget: ${JSON.stringify(reply)}`);
    if (reply.length === 1) return { loaded: false };
    const reservation = String(reply[4]);
    return {
      loaded: true,
      granted: toNumber(reply[1], "reserveBudget"),
      reservation: reservation === "" ? null : reservation,
      spent: toNumber(reply[2], "reserveBudget"),
      reserved: toNumber(reply[3], "reserveBudget"),
    };
  }

  async renewBudget(keyId: string, periodKey: string, reservation: string, ttlMs: number, now?: number): Promise<void> {
    const t = resolveNow(now);
    checkTtlMs(ttlMs);
    await this.call("renewBudget", () => this.script("chatportRenewBudget", [this.key("resv", periodKey, keyId)], reservation, t, ttlMs));
  }

  async settleBudget(keyId: string, periodKey: string, reservation: string, amount: number): Promise<void> {
    checkFinite(amount, "amount");
    await this.call("settleBudget", () =>
      this.script("chatportSettleBudget", [this.key("spent", periodKey, keyId), this.key("resv", periodKey, keyId)], reservation, String(amount)),
    );
  }

  async releaseBudget(keyId: string, periodKey: string, reservation: string): Promise<void> {
    await this.call("releaseBudget", () => this.redis.zrem(this.key("resv", periodKey, keyId), reservation));
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

  private script(name: ScriptName, keys: string[], ...args: (string | number)[]): Promise<unknown> {
    const command = (this.redis as unknown as Record<ScriptName, ScriptCommand>)[name];
    return command.call(this.redis, ...keys, ...args);
  }

  private key(kind: "req" | "tok" | "spent" | "resv", ...parts: string[]): string {
    return `${this.prefix}${kind}:${parts.map(encodeURIComponent).join(":")}`;
  }

  private unique(): string {
    this.seq += 1;
    return `${this.instanceId}-${this.seq}`;
  }
}

/** A window script's `{allowed, remaining, resetMs, retryMs}` reply as a WindowDecision. */
function decision(reply: unknown, limit: number): WindowDecision {
  if (!Array.isArray(reply) || reply.length !== 4) throw new Error(`unexpected reply from Redis window script: ${JSON.stringify(reply)}`);
  const [allowed, remaining, resetMs, retryMs] = reply as unknown[];
  return {
    allowed: toNumber(allowed, "window script") === 1,
    limit,
    remaining: toNumber(remaining, "window script"),
    resetMs: toNumber(resetMs, "window script"),
    retryMs: toNumber(retryMs, "window script"),
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
