/** Test isolation in the shared Redis: a random key prefix per suite, and its keys deleted afterwards. */
import crypto from "node:crypto";
import { Redis } from "ioredis";

export const testRedisUrl = process.env.CHATPORT_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

export function testRedisPrefix(name: string): string {
  return `chatport-test-${name}-${crypto.randomBytes(4).toString("hex")}:`;
}

export async function deleteRedisPrefix(prefix: string, url = testRedisUrl): Promise<number> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let deleted = 0;
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
      cursor = next;
      if (keys.length > 0) deleted += await redis.del(...keys);
    } while (cursor !== "0");
    return deleted;
  } finally {
    redis.disconnect();
  }
}
