/**
 * Picks the counters for this server: Redis when a Redis URL is configured
 * (replicas then share one limit per key), otherwise in-process Maps.
 */
import { StorageUnavailableError } from "../protocol/errors.js";
import { MemoryCounters } from "./memory-counters.js";
import { RedisCounters } from "./redis-counters.js";
import type { Counters } from "./types.js";

export interface OpenCountersOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…`; null/undefined/"" = in-process counters. */
  redisUrl?: string | null;
  /** Redis key prefix; default `chatport:`. */
  prefix?: string;
  /** Errors nobody awaits (see RedisCountersOptions.onError); default: a process warning. */
  onError?: (error: unknown) => void;
}

/**
 * Opens the counters. With a Redis URL, connects and checks Redis answers
 * before resolving; rejects (within seconds) with an error naming host:port,
 * never the password in the URL.
 */
export async function openCounters(options: OpenCountersOptions): Promise<Counters> {
  const { redisUrl, prefix, onError } = options;
  if (redisUrl === undefined || redisUrl === null || redisUrl === "") return new MemoryCounters({ onError });
  checkRedisUrl(redisUrl);
  const counters = new RedisCounters({ url: redisUrl, prefix, onError });
  try {
    await counters.open();
  } catch (error) {
    // Stop its reconnect attempts, which would otherwise keep the process alive.
    await counters.close();
    // `error` comes from RedisCounters, which already left out anything secret.
    const said = error instanceof StorageUnavailableError ? error.detail : error instanceof Error ? error.message : String(error);
    const reason = said.replace(/^Redis counters at \S+: /, "");
    throw new Error(`cannot use Redis at ${counters.where} for limits: ${reason}`, { cause: error });
  }
  return counters;
}

/**
 * ioredis accepts nearly any string as a URL and then connects somewhere
 * unexpected; refuse what is not a redis(s) URL. The message never repeats
 * the URL (nor Node's TypeError, whose `input` holds it): it may hold a password.
 */
function checkRedisUrl(redisUrl: string): void {
  let url: URL | null = null;
  try {
    url = new URL(redisUrl);
  } catch {
    // reported below
  }
  if (url === null || (url.protocol !== "redis:" && url.protocol !== "rediss:") || url.hostname === "") {
    throw new Error("invalid Redis URL for limits: expected redis://[user:password@]host[:port][/db] or rediss://…");
  }
}
