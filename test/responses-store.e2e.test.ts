/**
 * Stored responses through the official `openai` SDK against real server
 * processes: `store` (default true), retrieve, delete, input items,
 * `previous_response_id` over three turns — on a second replica sharing
 * PostgreSQL, and after a restart on SQLite — ownership (another key gets
 * 404), `store: false`, the size limit; retention on the store itself (SQLite
 * and PostgreSQL).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import SqliteDatabase from "better-sqlite3";
import OpenAI from "openai";
import { settingDefault } from "../src/settings.js";
import { openStore } from "../src/store/open-store.js";
import type { Store } from "../src/store/types.js";
import { freshFetch } from "./helpers/fresh-connections.js";
import { tinyModelPath } from "./helpers/models.js";
import { assertMatchesSchema } from "./helpers/openapi.js";
import { createTestSchema, type TestSchema } from "./helpers/postgres.js";
import { startServer, tempDbPath, type RunningServer } from "./helpers/server.js";

/** Every request of this file on a connection of its own (see the helper). */
const fetch = freshFetch;

const adminKey = "sk-admin-stored-responses";
const serverArgs = ["--threads", "1", "--parallel", "2", "--ctx", "2048"];

async function keyClient(server: RunningServer, name: string): Promise<OpenAI> {
  const res = await fetch(server.baseURL.replace("/v1", "/admin/keys"), {
    method: "POST",
    headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json" },
    body: JSON.stringify({ name }),
  });
  assert.equal(res.status, 201);
  const { secret } = (await res.json()) as { secret: string };
  return new OpenAI({ baseURL: server.baseURL, apiKey: secret, maxRetries: 0, timeout: 120_000, fetch });
}

const clientOf = (server: RunningServer, apiKey: string): OpenAI => new OpenAI({ baseURL: server.baseURL, apiKey, maxRetries: 0, timeout: 120_000, fetch });

/** `store` is in OpenAI's response object; the SDK's type leaves it out. */
const storedFlag = (response: OpenAI.Responses.Response): unknown => (response as unknown as { store?: unknown }).store;

const isNotFound = (err: unknown): boolean => err instanceof OpenAI.NotFoundError;

/** Three turns, each continuing the previous one (turn i on clients[i]); the prompt grows with every turn. */
async function threeTurns(clients: OpenAI[]): Promise<OpenAI.Responses.Response[]> {
  const turns: OpenAI.Responses.Response[] = [];
  for (const [i, client] of clients.entries()) {
    turns.push(
      await client.responses.create({
        model: "tiny",
        input: `turn ${i + 1}: tell me more`,
        max_output_tokens: 4,
        ...(i > 0 ? { previous_response_id: turns[i - 1]!.id } : {}),
      }),
    );
  }
  for (const [i, turn] of turns.entries()) {
    assert.equal(turn.previous_response_id, i === 0 ? null : turns[i - 1]!.id);
    if (i > 0) {
      const before = turns[i - 1]!;
      // The previous turn's input and output are in this turn's prompt.
      assert.ok((turn.usage?.input_tokens ?? 0) > (before.usage?.input_tokens ?? 0) + (before.usage?.output_tokens ?? 0), JSON.stringify(turns.map((t) => t.usage)));
    }
  }
  return turns;
}

describe("stored responses on SQLite", () => {
  let server: RunningServer;
  let client: OpenAI;
  let other: OpenAI;
  const dbPath = tempDbPath();
  const start = async (): Promise<RunningServer> =>
    startServer({ models: { tiny: await tinyModelPath() }, args: [...serverArgs, "--db-path", dbPath, "--response-max-bytes", "4096"], adminKey });

  before(async () => {
    server = await start();
    client = await keyClient(server, "owner");
    other = await keyClient(server, "someone-else");
  });
  after(async () => server?.stop());

  test("store defaults to true: retrieve gives the same response, input_items lists this turn's input", async () => {
    const created = await client.responses.create({ model: "tiny", input: [{ role: "user", content: "hello" }, { role: "user", content: [{ type: "input_text", text: "again" }] }], max_output_tokens: 3, metadata: { topic: "tests" } });
    assert.equal(storedFlag(created), true);
    const got = await client.responses.retrieve(created.id);
    assertMatchesSchema("Response", got);
    assert.deepEqual({ ...got, output_text: undefined }, { ...created, output_text: undefined });
    const items = await client.responses.inputItems.list(created.id);
    const page = items.getPaginatedItems();
    // Newest first, as OpenAI lists them.
    assert.deepEqual(
      page.map((item) => (item.type === "message" ? item.content.map((c) => (c.type === "input_text" ? c.text : "")).join("") : item.type)),
      ["again", "hello"],
    );
    for (const item of page) assert.match(item.id ?? "", /^msg_/);
    const asc = await client.responses.inputItems.list(created.id, { order: "asc", limit: 1 });
    assert.equal(asc.data.length, 1);
    assert.equal(asc.has_more, true);
  });

  test("previous_response_id over three turns, then again after a restart", async () => {
    const turns = await threeTurns([client, client, client]);
    // On one replica the continued conversation is served from the KV cache the previous turn left.
    for (const turn of turns.slice(1)) assert.ok((turn.usage?.input_tokens_details.cached_tokens ?? 0) > 0, JSON.stringify(turn.usage));
    await server.stop();
    server = await start();
    const again = clientOf(server, String(client.apiKey));
    const fourth = await again.responses.create({ model: "tiny", input: "turn 4", max_output_tokens: 2, previous_response_id: turns[2]!.id, store: false });
    assert.ok((fourth.usage?.input_tokens ?? 0) > (turns[2]!.usage?.input_tokens ?? 0));
    assert.equal((await again.responses.retrieve(turns[0]!.id)).id, turns[0]!.id);
    client = again;
    other = clientOf(server, String(other.apiKey));
  });

  test("another key cannot see, continue, list or delete it (404), nor can the admin key", async () => {
    const mine = await client.responses.create({ model: "tiny", input: "secret plans", max_output_tokens: 2 });
    await assert.rejects(other.responses.retrieve(mine.id), isNotFound);
    await assert.rejects(other.responses.inputItems.list(mine.id), isNotFound);
    await assert.rejects(other.responses.delete(mine.id), isNotFound);
    await assert.rejects(other.responses.create({ model: "tiny", input: "x", previous_response_id: mine.id }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.NotFoundError);
      assert.equal((err.error as { param?: string }).param, "previous_response_id");
      return true;
    });
    await assert.rejects(clientOf(server, adminKey).responses.retrieve(mine.id), isNotFound);
    assert.equal((await client.responses.retrieve(mine.id)).id, mine.id, "still there for its owner");
  });

  test("delete: the response is gone, a second delete is 404", async () => {
    const created = await client.responses.create({ model: "tiny", input: "to delete", max_output_tokens: 2 });
    const res = await fetch(`${server.baseURL}/responses/${created.id}`, { method: "DELETE", headers: { authorization: `Bearer ${client.apiKey}` } });
    assert.deepEqual(await res.json(), { id: created.id, object: "response", deleted: true });
    await assert.rejects(client.responses.retrieve(created.id), isNotFound);
    await assert.rejects(client.responses.delete(created.id), isNotFound);
    await assert.rejects(client.responses.retrieve("resp_does_not_exist"), isNotFound);
    const weird = await fetch(`${server.baseURL}/responses/${encodeURIComponent("resp_\u0000x")}`, { headers: { authorization: `Bearer ${client.apiKey}` } });
    assert.equal(weird.status, 404);
  });

  test("store: false stores nothing", async () => {
    const created = await client.responses.create({ model: "tiny", input: "ephemeral", max_output_tokens: 2, store: false });
    assert.equal(storedFlag(created), false);
    await assert.rejects(client.responses.retrieve(created.id), isNotFound);
    await assert.rejects(client.responses.create({ model: "tiny", input: "x", previous_response_id: created.id }), isNotFound);
  });

  test("a conversation larger than the size limit is refused before it runs, unless it is not stored", async () => {
    const big = "word ".repeat(1000);
    const res = await fetch(`${server.baseURL}/responses`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${client.apiKey}` },
      body: JSON.stringify({ model: "tiny", input: big, max_output_tokens: 2 }),
    });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { code: string; param: string } };
    assertMatchesSchema("ErrorResponse", body);
    assert.equal(body.error.code, "response_too_large");
    assert.equal(body.error.param, "store");
    const unstored = await client.responses.create({ model: "tiny", input: big, max_output_tokens: 2, store: false });
    assert.equal(storedFlag(unstored), false);
  });

  test("a response that outgrows the size limit while it is generated is still answered, says store: false and is not stored; its row is ok", async () => {
    // Twenty alternatives per token make each output token several hundred bytes: a few tokens pass 4096.
    const params = { model: "tiny", input: "hi", max_output_tokens: 12, top_logprobs: 20 };
    const created = await client.responses.create(params);
    assert.ok((created.usage?.output_tokens ?? 0) > 0);
    assert.ok(JSON.stringify(created).length > 4096, "the response is past the limit");
    assert.equal(storedFlag(created), false);
    assert.equal(created.status === "completed" || created.status === "incomplete", true);
    await assert.rejects(client.responses.retrieve(created.id), isNotFound);

    const stream = client.responses.stream(params);
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    const end = events.at(-1);
    assert.ok(end?.type === "response.completed" || end?.type === "response.incomplete", `ends well, not with ${end?.type}`);
    assertMatchesSchema("ResponseStreamEvent", end);
    assert.equal(storedFlag(end.response), false);
    await assert.rejects(client.responses.retrieve(end.response.id), isNotFound);

    const db = new SqliteDatabase(dbPath, { readonly: true, fileMustExist: true });
    try {
      const ids = [created.id, end.response.id].sort();
      const rows = (db.prepare("select id, status, http_status from ledger where id in (?, ?) order by id").all(...ids) as object[]).map((row) => ({ ...row }));
      assert.deepEqual(rows, ids.map((id) => ({ id, status: "ok", http_status: 200 })), "one row each, saying the client got its answer");
    } finally {
      db.close();
    }
    assert.equal(server.jsonLogs().filter((line) => line.msg === "response not stored: larger than the size limit").length, 2);
  });
});

describe("stored responses on PostgreSQL, two replicas", () => {
  let schema: TestSchema;
  let a: RunningServer;
  let b: RunningServer;

  before(async () => {
    schema = await createTestSchema();
    const model = await tinyModelPath();
    const args = [...serverArgs, "--database-url", schema.url];
    a = await startServer({ models: { tiny: model }, args, adminKey });
    b = await startServer({ models: { tiny: model }, args, adminKey });
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await schema?.drop();
  });

  test("three turns alternating replicas; each replica retrieves, lists and deletes what the other stored", async () => {
    const onA = await keyClient(a, "replicated");
    const onB = clientOf(b, String(onA.apiKey));
    const turns = await threeTurns([onA, onB, onA]);
    assert.equal((await onB.responses.retrieve(turns[2]!.id)).id, turns[2]!.id);
    assert.equal((await onA.responses.inputItems.list(turns[1]!.id)).data.length, 1);
    await onB.responses.delete(turns[0]!.id);
    await assert.rejects(onA.responses.retrieve(turns[0]!.id), isNotFound);
    // Each row holds its whole conversation: a deleted first turn does not break the third.
    const fourth = await onB.responses.create({ model: "tiny", input: "turn 4", max_output_tokens: 2, previous_response_id: turns[2]!.id, store: false });
    assert.ok((fourth.usage?.input_tokens ?? 0) > (turns[2]!.usage?.input_tokens ?? 0));
    const other = await keyClient(b, "other");
    await assert.rejects(other.responses.retrieve(turns[1]!.id), isNotFound);
  });
});

describe("retention in the store", () => {
  for (const dialect of ["sqlite", "postgres"] as const) {
    test(`${dialect}: an expired response is neither read nor kept`, async () => {
      const schema = dialect === "postgres" ? await createTestSchema() : null;
      const store: Store = await openStore({ databaseUrl: schema?.url ?? null, sqlitePath: tempDbPath(), sqliteSync: settingDefault("sqliteSync") });
      try {
        const now = new Date();
        const later = new Date(now.getTime() + 60_000);
        const row = { keyId: "key_a", model: "tiny", createdAt: now, history: [], input: [{ type: "message" }], response: { id: "x" } };
        await store.responses.save({ ...row, id: "resp_short", expiresAt: new Date(now.getTime() + 1000) });
        await store.responses.save({ ...row, id: "resp_forever", expiresAt: null });
        assert.equal((await store.responses.get("resp_short", "key_a", now))?.id, "resp_short");
        assert.equal(await store.responses.get("resp_short", "key_a", later), null);
        assert.equal(await store.responses.get("resp_short", "key_b", now), null);
        assert.equal(await store.responses.get("resp_short", null, now), null);
        assert.equal(await store.responses.purgeExpired(later), 1);
        assert.equal(await store.responses.get("resp_short", "key_a", now), null, "purged");
        assert.equal((await store.responses.get("resp_forever", "key_a", later))?.id, "resp_forever");
      } finally {
        await store.close();
        await schema?.drop();
      }
    });
  }
});
