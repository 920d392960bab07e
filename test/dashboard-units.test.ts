/**
 * The dashboard's pure parts, without a browser: the SSE parser the
 * playground streams through (any slicing of the bytes gives the same
 * events) and the usage buckets behind the charts.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { SseParser, type SseEvent } from "../dashboard/src/sse.js";
import { bucketStart, fillBuckets, totals, emptyRow, DAY, HOUR } from "../dashboard/src/usage.js";

function parseAll(pieces: readonly string[]): SseEvent[] {
  const events: SseEvent[] = [];
  const parser = new SseParser((event) => events.push(event));
  for (const piece of pieces) parser.feed(piece);
  parser.end();
  return events;
}

describe("SseParser", () => {
  test("data lines, multi-line data, event names, comments, and an unterminated tail dropped", () => {
    const text = ': keep-alive\n\ndata: {"a":1}\n\nevent: error\ndata: line one\ndata: line two\n\ndata:no-space\r\n\r\ndata: [DONE]\n\ndata: cut off';
    assert.deepEqual(parseAll([text]), [
      { event: "message", data: '{"a":1}' },
      { event: "error", data: "line one\nline two" },
      { event: "message", data: "no-space" },
      { event: "message", data: "[DONE]" },
    ]);
  });

  test("any slicing of the stream (CRLF split included) gives the same events", () => {
    const text = 'data: {"x":"héllo"}\r\n\r\ndata: second\r\n\r\n: c\n\ndata: third\rdata: more\r\r';
    const whole = parseAll([text]);
    assert.equal(whole.length, 3);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: text.length }), { maxLength: 12 }), (cuts) => {
        const points = [...new Set([0, ...cuts, text.length])].sort((a, b) => a - b);
        const pieces = points.slice(1).map((end, i) => text.slice(points[i], end));
        assert.deepEqual(parseAll(pieces), whole);
      }),
    );
  });
});

describe("usage buckets", () => {
  test("hour and day groups are UTC bucket starts", () => {
    assert.equal(bucketStart("2026-11-22T01"), Date.UTC(2026, 10, 22, 1) / 1000);
    assert.equal(bucketStart("2026-11-22"), Date.UTC(2026, 10, 22) / 1000);
    assert.equal(bucketStart("tiny"), null);
    assert.equal(bucketStart(null), null);
  });

  test("fillBuckets gives every bucket up to now, zeros where nothing happened", () => {
    const now = Date.UTC(2026, 10, 22, 5, 30) / 1000;
    const rows = [
      { ...emptyRow("2026-11-22T05"), requests: 2, total_tokens: 30 },
      { ...emptyRow("2026-11-22T03"), requests: 1, total_tokens: 7 },
      { ...emptyRow("2026-11-20T03"), requests: 9, total_tokens: 99 }, // outside the 24 h
    ];
    const hours = fillBuckets(rows, HOUR, 24, now);
    assert.equal(hours.x.length, 24);
    assert.equal(hours.x.at(-1), Date.UTC(2026, 10, 22, 5) / 1000);
    assert.equal(hours.x[0], Date.UTC(2026, 10, 21, 6) / 1000);
    assert.deepEqual(hours.rows.map((r) => r.requests).slice(-3), [1, 0, 2]);
    assert.equal(totals(hours.rows).requests, 3);
    const days = fillBuckets([{ ...emptyRow("2026-11-20"), requests: 4 }], DAY, 30, now);
    assert.equal(days.x.length, 30);
    assert.deepEqual(days.rows.map((r) => r.requests).slice(-3), [4, 0, 0]);
  });
});
