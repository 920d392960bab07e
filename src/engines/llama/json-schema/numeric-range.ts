/**
 * Integers and numbers within bounds, as exact GBNF.
 *
 * An integer is digits only, without leading zeros, at most 16 digits (the
 * rule of json-numbers.ts); a range becomes the classic digit-range grammar
 * (`[2-9] | [1-9] [0-9] | 1 [0-4] [0-9]` for 2…149), so every integer the
 * grammar writes is within the bounds and every such integer can be written.
 *
 * A bounded number is written without an exponent: an integer of the range,
 * or `I.f` with a fraction that is not all zeros, for integer parts whose
 * whole interval (I, I+1) lies within the bounds. Numbers between a
 * fractional bound and the next integer are left out (never invalid, only
 * narrower), as are exponents.
 */
import { finiteNumberGbnf, integerGbnf } from "../json-numbers.js";

/** The largest magnitude an integer may have (16 digits). */
const maxMagnitude = 10n ** 16n - 1n;

export interface NumericBounds {
  minimum: number | null;
  exclusiveMinimum: number | null;
  maximum: number | null;
  exclusiveMaximum: number | null;
}

function clamp(n: bigint): bigint {
  return n > maxMagnitude ? maxMagnitude + 1n : n < -maxMagnitude ? -maxMagnitude - 1n : n;
}

function toBigInt(n: number): bigint {
  if (n > 1e17) return maxMagnitude + 1n;
  if (n < -1e17) return -maxMagnitude - 1n;
  return BigInt(n);
}

/** The smallest integer satisfying the lower bounds, or null if there are none. */
function lowestInteger(b: NumericBounds): bigint | null {
  let lo: bigint | null = null;
  if (b.minimum !== null) lo = toBigInt(Math.ceil(b.minimum));
  if (b.exclusiveMinimum !== null) {
    const e = toBigInt(Math.floor(b.exclusiveMinimum)) + 1n;
    lo = lo === null || e > lo ? e : lo;
  }
  return lo === null ? null : clamp(lo);
}

/** The largest integer satisfying the upper bounds, or null if there are none. */
function highestInteger(b: NumericBounds): bigint | null {
  let hi: bigint | null = null;
  if (b.maximum !== null) hi = toBigInt(Math.floor(b.maximum));
  if (b.exclusiveMaximum !== null) {
    const e = toBigInt(Math.ceil(b.exclusiveMaximum)) - 1n;
    hi = hi === null || e < hi ? e : hi;
  }
  return hi === null ? null : clamp(hi);
}

const digitClass = (from: string, to: string): string => (from === to ? `"${from}"` : from === "0" && to === "9" ? "[0-9]" : `[${from}-${to}]`);

/** Decimal strings of one length L, between lo and hi (both L digits). */
function sameLength(lo: string, hi: string): string[] {
  if (lo === hi) return [`"${lo}"`];
  if (lo.length === 1) return [digitClass(lo, hi)];
  const l0 = lo[0] ?? "0";
  const h0 = hi[0] ?? "0";
  const loRest = lo.slice(1);
  const hiRest = hi.slice(1);
  if (l0 === h0) return sameLength(loRest, hiRest).map((tail) => `"${l0}" ${tail}`);
  const n = lo.length - 1;
  const loFull = /^0*$/.test(loRest);
  const hiFull = /^9*$/.test(hiRest);
  const out: string[] = [];
  const midFrom = loFull ? Number(l0) : Number(l0) + 1;
  const midTo = hiFull ? Number(h0) : Number(h0) - 1;
  if (!loFull) out.push(...alternativesWith(`"${l0}"`, sameLength(loRest, "9".repeat(n))));
  if (midFrom <= midTo) out.push(`${digitClass(String(midFrom), String(midTo))} [0-9]{${n}}`.replace(" [0-9]{1}", " [0-9]"));
  if (!hiFull) out.push(...alternativesWith(`"${h0}"`, sameLength("0".repeat(n), hiRest)));
  return out;
}

function alternativesWith(head: string, tails: string[]): string[] {
  return tails.length === 1 ? [`${head} ${tails[0] ?? ""}`] : [`${head} (${tails.join(" | ")})`];
}

/** Decimal integers in [lo, hi], 0 ≤ lo ≤ hi, without leading zeros. */
function nonNegativeRange(lo: bigint, hi: bigint): string[] {
  const out: string[] = [];
  const hiLength = hi.toString().length;
  for (let length = lo.toString().length; length <= hiLength; length++) {
    const first = length === 1 ? 0n : 10n ** BigInt(length - 1);
    const last = 10n ** BigInt(length) - 1n;
    const from = lo > first ? lo : first;
    const to = hi < last ? hi : last;
    if (from <= to) out.push(...sameLength(from.toString(), to.toString()));
  }
  return out;
}

/** Integers in [lo, hi] (any sign), as GBNF alternatives; empty if none. */
function integerAlternatives(lo: bigint, hi: bigint): string[] {
  const out: string[] = [];
  if (lo <= -1n) {
    const negHi = hi < -1n ? hi : -1n;
    const magnitudes = nonNegativeRange(-negHi, -lo);
    out.push(magnitudes.length === 1 ? `"-" ${magnitudes[0] ?? ""}` : `"-" (${magnitudes.join(" | ")})`);
  }
  if (hi >= 0n) out.push(...nonNegativeRange(lo > 0n ? lo : 0n, hi));
  return out;
}

const group = (alternatives: string[]): string => (alternatives.length === 1 ? (alternatives[0] ?? "") : `(${alternatives.join(" | ")})`);

const hasBounds = (b: NumericBounds): boolean => b.minimum !== null || b.exclusiveMinimum !== null || b.maximum !== null || b.exclusiveMaximum !== null;

/** An integer within the bounds, or null when no integer satisfies them. */
export function integerInRange(bounds: NumericBounds): string | null {
  if (!hasBounds(bounds)) return integerGbnf;
  const lo = lowestInteger(bounds) ?? -maxMagnitude;
  const hi = highestInteger(bounds) ?? maxMagnitude;
  const from = lo < -maxMagnitude ? -maxMagnitude : lo;
  const to = hi > maxMagnitude ? maxMagnitude : hi;
  if (from > to) return null;
  return group(integerAlternatives(from, to));
}

/** A fraction that makes a number strictly greater in magnitude than its integer part. */
const nonZeroFraction = '"." [0-9]{0,15} [1-9]';

/** A number within the bounds, or null when the grammar can express none. */
export function numberInRange(bounds: NumericBounds): string | null {
  if (!hasBounds(bounds)) return finiteNumberGbnf;
  const alternatives: string[] = [];
  const integers = integerInRange(bounds);
  if (integers !== null) alternatives.push(integers);
  const lowerBound = lowestInteger({ ...bounds, exclusiveMinimum: bounds.exclusiveMinimum === null ? null : Math.ceil(bounds.exclusiveMinimum) - 1 });
  // Numbers I.f (I ≥ 0) lie in (I, I+1): they need I ≥ the lower bound and I+1 ≤ the upper bound.
  const lower = lowerBound ?? -maxMagnitude;
  const upperInt = highestInteger({ ...bounds, exclusiveMaximum: bounds.exclusiveMaximum === null ? null : Math.floor(bounds.exclusiveMaximum) + 1 });
  const upper = upperInt ?? maxMagnitude + 1n;
  const posFrom = lower > 0n ? lower : 0n;
  const posTo = (upper > maxMagnitude + 1n ? maxMagnitude + 1n : upper) - 1n;
  if (posFrom <= posTo && posFrom <= maxMagnitude) alternatives.push(`${group(nonNegativeRange(posFrom, posTo > maxMagnitude ? maxMagnitude : posTo))} ${nonZeroFraction}`);
  // Numbers -I.f lie in (-(I+1), -I): they need -(I+1) ≥ the lower bound and -I ≤ the upper bound.
  const negFrom = upper < 0n ? -upper : 0n;
  const negTo = -lower - 1n;
  if (negFrom <= negTo && negFrom <= maxMagnitude) alternatives.push(`"-" ${group(nonNegativeRange(negFrom, negTo > maxMagnitude ? maxMagnitude : negTo))} ${nonZeroFraction}`);
  return alternatives.length === 0 ? null : group(alternatives);
}
