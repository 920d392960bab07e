/**
 * Bearer-token check for the API routes, in constant time. The key itself is
 * never logged or echoed.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { invalidApiKey } from "../protocol/errors.js";

const digest = (value: string): Buffer => createHash("sha256").update(value).digest();

export function createApiKeyCheck(apiKey: string): (authorization: string | undefined) => void {
  const expected = digest(apiKey);
  return (authorization) => {
    const match = /^Bearer\s+(.+)$/i.exec(authorization ?? "");
    const presented = match?.[1]?.trim();
    if (presented === undefined || !timingSafeEqual(digest(presented), expected)) throw invalidApiKey();
  };
}
