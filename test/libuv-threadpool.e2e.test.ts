/**
 * The `chatport` entry runs with one libuv pool thread (node-llama-cpp's
 * decode steps then stay on one thread; src/cli/chatport.cts), and a
 * UV_THREADPOOL_SIZE the user sets wins. Checked from the outside: the
 * threads of real server processes, which differ by the pool threads alone.
 */
import fs from "node:fs";
import { test } from "node:test";
import assert from "node:assert/strict";
import { tinyModelPath } from "./helpers/models.js";
import { startServer } from "./helpers/server.js";

/** Threads of a running server once it has served a completion (the pool is up by then). */
async function threadsOfServer(env: Record<string, string>): Promise<number> {
  const server = await startServer({ models: { tiny: await tinyModelPath() }, env });
  try {
    const completion = await server.client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 4, seed: 1 });
    assert.equal(completion.object, "chat.completion");
    return fs.readdirSync(`/proc/${server.process.pid}/task`).length;
  } finally {
    await server.stop();
  }
}

test("chatport serves with one libuv pool thread unless UV_THREADPOOL_SIZE says otherwise", { skip: process.platform !== "linux" ? "reads /proc" : process.env.UV_THREADPOOL_SIZE !== undefined && "UV_THREADPOOL_SIZE is set for the tests themselves" }, async () => {
  const byDefault = await threadsOfServer({});
  const four = await threadsOfServer({ UV_THREADPOOL_SIZE: "4" });
  const six = await threadsOfServer({ UV_THREADPOOL_SIZE: "6" });
  assert.equal(six - four, 2, `a user's UV_THREADPOOL_SIZE is kept (threads: 4 → ${four}, 6 → ${six})`);
  assert.equal(four - byDefault, 3, `the default is one pool thread (threads: default ${byDefault}, 4 → ${four})`);
});
