/**
 * Checks on Anthropic Messages streams: the raw framing (`event: <name>` then
 * `data: <json>` whose `type` is that name) and the order of the events.
 */
import assert from "node:assert/strict";

export interface StreamEvent {
  type: string;
  index?: number;
  content_block?: { type: string };
  delta?: { type?: string; stop_reason?: string | null };
  [key: string]: unknown;
}

/** A raw SSE body → its named events, each `event:` line checked against its data's `type`. */
export function parseNamedEvents(raw: string): StreamEvent[] {
  assert.ok(raw.endsWith("\n\n"), "the stream ends with a blank line");
  return raw
    .slice(0, -2)
    .split("\n\n")
    .map((block) => {
      const lines = block.split("\n");
      assert.equal(lines.length, 2, `one event line and one data line: ${JSON.stringify(block.slice(0, 200))}`);
      const name = /^event: (.+)$/.exec(lines[0] ?? "")?.[1];
      assert.ok(name !== undefined, `named event: ${lines[0]}`);
      assert.ok(lines[1]?.startsWith("data: "), `data line: ${lines[1]}`);
      const data = JSON.parse((lines[1] ?? "").slice("data: ".length)) as StreamEvent;
      assert.equal(data.type, name, "the event's name is its data's type");
      return data;
    });
}

const deltaFor: Record<string, readonly string[]> = {
  text: ["text_delta"],
  thinking: ["thinking_delta", "signature_delta"],
  tool_use: ["input_json_delta"],
};

/**
 * message_start first; then blocks, each content_block_start → its own deltas
 * → content_block_stop, indexes 0, 1, 2… one at a time; then one
 * message_delta; message_stop last. `ping` may come anywhere after the start.
 */
export function assertEventOrder(events: readonly StreamEvent[]): void {
  const kinds = events.filter((e) => e.type !== "ping");
  assert.equal(kinds[0]?.type, "message_start", "message_start comes first");
  assert.equal(kinds.at(-1)?.type, "message_stop", "message_stop comes last");
  assert.equal(kinds.at(-2)?.type, "message_delta", "message_delta comes just before message_stop");
  let open: { index: number; type: string } | null = null;
  let next = 0;
  for (const event of kinds.slice(1, -2)) {
    switch (event.type) {
      case "content_block_start":
        assert.equal(open, null, "a block starts only when the previous one has stopped");
        assert.equal(event.index, next, "blocks are numbered in order");
        open = { index: next++, type: event.content_block?.type ?? "" };
        assert.ok(open.type in deltaFor, `a known block type: ${open.type}`);
        break;
      case "content_block_delta":
        assert.ok(open !== null && event.index === open.index, "a delta belongs to the open block");
        assert.ok(deltaFor[open.type]?.includes(event.delta?.type ?? ""), `a ${event.delta?.type} in a ${open.type} block`);
        break;
      case "content_block_stop":
        assert.ok(open !== null && event.index === open.index, "only the open block stops");
        open = null;
        break;
      default:
        assert.fail(`unexpected event ${event.type} between message_start and message_delta`);
    }
  }
  assert.equal(open, null, "every block stopped before message_delta");
  const first = events.findIndex((e) => e.type === "message_start");
  assert.equal(first, 0, "nothing, not even a ping, before message_start");
}
