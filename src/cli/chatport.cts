#!/usr/bin/env node
/**
 * The `chatport` command: sets the size of libuv's thread pool, then runs the
 * command line (main.ts).
 *
 * node-llama-cpp runs every llama_decode on whichever libuv pool thread is
 * free, and llama.cpp's CPU backend starts its worker threads from that
 * thread for each step (node-llama-cpp attaches no persistent thread pool).
 * With Node's default four pool threads a single stream's steps hop between
 * threads, and decoding measured 30–37 ms a token against 24–26 ms with one
 * pool thread, the speed of llama.cpp's own tools (Q4_K_M qwen2.5-0.5b shape,
 * 2 threads, docs/BENCHMARKS.md "One libuv pool thread"). So `chatport` runs with
 * one pool thread unless UV_THREADPOOL_SIZE says otherwise.
 *
 * The price: everything else that uses the pool waits behind the running
 * engine step — DNS lookups of upstream host names, asynchronous file reads
 * (the dashboard's files), zlib, and the steps of a second local model.
 * Set UV_THREADPOOL_SIZE (e.g. 4) to trade the other way.
 *
 * libuv sizes its pool once, when the first work is queued. This file is
 * CommonJS because Node loads a CommonJS entry with synchronous reads, so
 * nothing has been queued yet when the variable is set; an ES module entry is
 * read through the pool itself.
 */
process.env["UV_THREADPOOL_SIZE"] ??= "1";
void import("./main.js");
