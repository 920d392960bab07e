import assert from "node:assert/strict";
import { test } from "node:test";
import { StopMatcher } from "../src/engines/llama/stop-matcher.js";

function run(stops: string[], pieces: string[], trim = false): { text: string; stopped: boolean } {
  const m = new StopMatcher(stops, { trimTrailingWhitespace: trim });
  let text = "";
  for (const piece of pieces) {
    const r = m.push(piece);
    text += r.emit;
    if (r.stopped) return { text, stopped: true };
  }
  return { text: text + m.flush(), stopped: false };
}

test("a stop split across pieces is never emitted", () => {
  assert.deepEqual(run(["STOP"], ["abc S", "T", "OP tail"]), { text: "abc ", stopped: true });
  assert.deepEqual(run(["\n\n"], ["a\n", "\nb"]), { text: "a", stopped: true });
});

test("held partial matches are released when they turn out not to be a stop", () => {
  const m = new StopMatcher(["STOP"]);
  assert.equal(m.push("xST").emit, "x");
  assert.equal(m.push("AR").emit, "STAR");
  assert.deepEqual(run(["STOP"], ["ST", "ST", "OP"]), { text: "ST", stopped: true });
});

test("the earliest of several stops wins", () => {
  assert.deepEqual(run(["bb", "a"], ["xxbbya"]), { text: "xx", stopped: true });
});

test("no stops: text passes through untouched", () => {
  assert.deepEqual(run([], ["a", " ", "b\n"]), { text: "a b\n", stopped: false });
});

test("trailing whitespace is held and dropped at the end when trimming", () => {
  const m = new StopMatcher([], { trimTrailingWhitespace: true });
  assert.equal(m.push('{"a": ').emit, '{"a":');
  assert.equal(m.push("1}\n").emit, " 1}");
  assert.equal(m.push("  \n").emit, "");
  assert.equal(m.flush(), "");
  assert.deepEqual(run(["\n\n\n\n"], ["{}", "\n\n", "\n\n", "x"], true), { text: "{}", stopped: true });
});
