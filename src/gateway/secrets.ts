/**
 * Comparing presented bearer tokens with configured secrets in constant time.
 * Secrets are hashed first so the comparison does not leak their length.
 */
import { createHash, timingSafeEqual } from "node:crypto";

const digest = (value: string): Buffer => createHash("sha256").update(value).digest();

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(authorization: string | undefined): string | null {
  const match = /^Bearer\s+(.+)$/i.exec(authorization ?? "");
  const token = match?.[1]?.trim();
  return token === undefined || token === "" ? null : token;
}

/** A matcher for one configured secret (the static API key, the admin key). */
export function secretMatcher(secret: string): (presented: string | null) => boolean {
  const expected = digest(secret);
  return (presented) => presented !== null && timingSafeEqual(digest(presented), expected);
}
