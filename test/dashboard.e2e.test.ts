/**
 * The admin dashboard in a real browser (Debian's Chromium driven by
 * playwright-core) against a real server with the tiny model: log in, charts
 * drawn from real requests, keys created / edited / revoked, the models page,
 * and a streamed chat in the playground. Screenshots of every page go to
 * test-artifacts/dashboard/. Without Chromium this fails and says how to
 * install it (`npm test` installs it when it can).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test, type TestContext } from "node:test";
import OpenAI from "openai";
import { chromium, type Browser, type Page } from "playwright-core";
import { chromiumArgs, chromiumPath, isExecutable, missingChromiumMessage } from "./helpers/chromium.js";
import { tinyModelPath } from "./helpers/models.js";
import { repoRoot, startServer, type RunningServer } from "./helpers/server.js";

const adminKey = "sk-admin-dashboard-e2e-4f9c2a";
const shots = path.join(repoRoot, "test-artifacts", "dashboard");

let server: RunningServer;
let origin: string;
let browser: Browser;
let page: Page;
let teamKeyId: string;
const pageErrors: string[] = [];

interface UsageRow {
  group: string | null;
  requests: number;
  total_tokens: number;
  prompt_tokens: number;
  completion_tokens: number;
}

interface WireKey {
  id: string;
  name: string;
  status: string;
  rpm: number | null;
  tpm: number | null;
  owner: string | null;
  budget: { unit: string; amount: number; period: string } | null;
}

async function admin<T>(route: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const res = await fetch(`${origin}${route}`, {
    method: init.method ?? "GET",
    headers: { authorization: `Bearer ${adminKey}`, ...(init.body === undefined ? {} : { "content-type": "application/json" }) },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  assert.ok(res.ok, `${route}: HTTP ${res.status} ${await res.clone().text()}`);
  return (await res.json()) as T;
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}

/**
 * Saturated pixels on a chart's canvas: bars and lines are coloured, grid and
 * text are grey. (Browser-side code is passed as text: this file is typed for
 * Node, without the DOM.)
 */
async function colouredPixels(testid: string): Promise<number> {
  return page.evaluate<number>(`(() => {
    const canvas = document.querySelector('[data-testid="${testid}"] canvas');
    const ctx = canvas === null ? null : canvas.getContext("2d");
    if (ctx === null) return 0;
    const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
    let count = 0;
    for (let i = 0; i < data.length; i += 4) {
      const r = data[i], g = data[i + 1], b = data[i + 2];
      if (Math.max(r, g, b) - Math.min(r, g, b) > 60 && data[i + 3] > 0) count++;
    }
    return count;
  })()`);
}

/** Polls `check` until it holds (Playwright's locators wait for elements, not for numbers). */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function numberAttr(testid: string, name: string): Promise<number> {
  return Number((await page.getByTestId(testid).getAttribute(name)) ?? Number.NaN);
}

/** Why the server or the browser could not be started; every test then fails with it. */
let setupError: unknown = null;

/** A test that needs the server and the browser: fails (never skips) when they are missing. */
function browserTest(name: string, fn: (t: TestContext) => Promise<void>): void {
  test(name, async (t) => {
    if (setupError !== null) throw setupError;
    await fn(t);
  });
}

before(async () => {
  try {
    await setup();
  } catch (err) {
    setupError = err;
  }
});

async function setup(): Promise<void> {
  // No browser is a failure with instructions, never a skip.
  const executable = chromiumPath();
  if (!isExecutable(executable)) throw new Error(missingChromiumMessage(executable));
  fs.mkdirSync(shots, { recursive: true });

  server = await startServer({
    models: { tiny: await tinyModelPath() },
    adminKey,
    args: ["--threads", "1", "--parallel", "2", "--ctx", "512"],
  });
  origin = server.baseURL.replace(/\/v1$/, "");
  const served = await fetch(`${origin}/dashboard/`);
  if (served.status !== 200) {
    throw new Error(`GET /dashboard/ answered ${served.status} ${await served.text()}: the server must register the dashboard and \`npm run build\` must build it`);
  }

  // Real traffic for the charts: the admin key (no key id) and a managed key.
  const asAdmin = new OpenAI({ baseURL: server.baseURL, apiKey: adminKey, maxRetries: 0 });
  await asAdmin.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "Hello" }], max_tokens: 12, seed: 1 });
  const stream = await asAdmin.chat.completions.create({
    model: "tiny",
    messages: [{ role: "user", content: "Count to five" }],
    max_tokens: 16,
    stream: true,
    stream_options: { include_usage: true },
  });
  for await (const _chunk of stream) {
    // drained
  }
  const team = await admin<WireKey & { secret: string }>("/admin/keys", { method: "POST", body: { name: "e2e-team", owner: "qa" } });
  teamKeyId = team.id;
  const asTeam = new OpenAI({ baseURL: server.baseURL, apiKey: team.secret, maxRetries: 0 });
  await asTeam.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "Hi there" }], max_tokens: 10 });

  // The ledger has all three before the page first asks.
  await until("the ledger to record the requests", async () => {
    const { data } = await admin<{ data: UsageRow[] }>("/admin/usage");
    return (data[0]?.requests ?? 0) >= 3;
  });

  browser = await chromium.launch({ executablePath: executable, headless: true, args: chromiumArgs });
  page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
  page.setDefaultTimeout(15_000);
  page.on("pageerror", (err) => pageErrors.push(err.message));
}

after(async () => {
  await browser?.close();
  await server?.stop();
});

describe("dashboard", () => {
  browserTest("is served at /dashboard with a strict CSP and cacheable hashed assets", async () => {
    const redirect = await fetch(`${origin}/dashboard`, { redirect: "manual" });
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.get("location"), "/dashboard/");
    const res = await fetch(`${origin}/dashboard/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /text\/html/);
    assert.match(res.headers.get("content-security-policy") ?? "", /default-src 'self'/);
    const html = await res.text();
    assert.doesNotMatch(html, /https?:\/\//, "no external URLs in the page (works offline)");
    const asset = /src="(\/dashboard\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(asset !== undefined, "the page loads its bundled script");
    const js = await fetch(`${origin}${asset}`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get("cache-control") ?? "", /immutable/);
    assert.equal((await fetch(`${origin}/dashboard/assets/missing.js`)).status, 404);
  });

  browserTest("login: a wrong key shows an error, the admin key opens the overview", async () => {
    await page.goto(`${origin}/dashboard`);
    await page.getByTestId("login-key").fill("sk-not-the-admin-key");
    await page.getByTestId("login-submit").click();
    const error = page.getByTestId("login-error");
    await error.waitFor();
    assert.match(await error.innerText(), /not accepted/);
    await shot("login");

    await page.getByTestId("login-key").fill(adminKey);
    await page.getByTestId("login-submit").click();
    await page.getByTestId("page-overview").waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem("chatport.adminKey")), adminKey);
  });

  browserTest("overview: totals match /admin/usage and the charts are drawn from them", async () => {
    const from = Math.floor(Date.now() / 1000) - 24 * 3600;
    const hourly = await admin<{ data: UsageRow[] }>(`/admin/usage?group_by=hour&from=${from}`);
    const requests = hourly.data.reduce((sum, row) => sum + row.requests, 0);
    const tokens = hourly.data.reduce((sum, row) => sum + row.total_tokens, 0);
    assert.equal(requests, 3, "the three requests made before the browser started");

    await page.getByTestId("total-requests").waitFor();
    assert.equal(Number(await page.getByTestId("total-requests").getAttribute("data-value")), requests);
    assert.equal(Number(await page.getByTestId("total-tokens").getAttribute("data-value")), tokens);
    assert.equal((await page.getByTestId("total-requests").innerText()).split("\n")[1], String(requests));

    const hourlyChart = page.getByTestId("chart-requests-hourly");
    assert.equal(await hourlyChart.getAttribute("data-points"), "24");
    assert.equal(Number(await hourlyChart.getAttribute("data-total")), requests);
    for (const id of ["chart-requests-hourly", "chart-tokens-hourly", "chart-daily", "chart-tokens-daily", "chart-by-model", "chart-by-key"]) {
      const chart = page.getByTestId(id);
      assert.equal(await chart.getAttribute("data-empty"), "false", `${id} has data`);
      const box = await chart.locator("canvas").first().boundingBox();
      assert.ok(box !== null && box.width > 150 && box.height > 100, `${id} is drawn`);
      assert.ok((await colouredPixels(id)) > 40, `${id} shows coloured bars or lines`);
    }
    assert.equal(Number(await page.getByTestId("chart-by-key").getAttribute("data-points")), 2, "admin key and e2e-team");
    assert.match(await page.getByTestId("table-by-key").innerText(), /e2e-team[\s\S]*1/);
    assert.match(await page.getByTestId("table-by-model").innerText(), /tiny\s+3/);

    // The live panel polls /admin/stats.
    await until("the live panel to count the requests", async () => (await numberAttr("live-total", "data-value")) >= 3);
    await until("two live samples", async () => (await numberAttr("live-chart", "data-points")) >= 2);
    assert.ok(await page.getByTestId("live-chart").locator("canvas").isVisible());
    await shot("overview");
  });

  browserTest("keys: create shows the secret once, edit changes limits, revoke marks it revoked", async () => {
    await page.getByTestId("nav-keys").click();
    await page.getByTestId("keys-table").waitFor();
    await page.getByTestId("key-new").click();
    await page.getByTestId("key-form-name").fill("dash-created");
    await page.getByTestId("key-form-owner").fill("ops");
    await page.getByTestId("key-form-rpm").fill("30");
    await page.getByTestId("key-form-tpm").fill("5000");
    await page.getByTestId("key-form-budget-unit").selectOption("tokens");
    await page.getByTestId("key-form-budget-amount").fill("100000");
    await page.getByTestId("key-form-budget-period").selectOption("monthly");
    await page.getByTestId("key-form-submit").click();

    const secret = (await page.getByTestId("key-secret-value").innerText()).trim();
    assert.match(secret, /^sk-\S{20,}$/);
    const row = page.locator('[data-key-name="dash-created"]');
    await row.waitFor();
    const id = (await row.getAttribute("data-testid"))?.replace(/^key-row-/, "") ?? "";
    const listed = (await admin<{ data: WireKey[] }>("/admin/keys")).data.find((k) => k.name === "dash-created");
    assert.ok(listed !== undefined);
    assert.equal(listed.id, id);
    assert.deepEqual([listed.owner, listed.rpm, listed.tpm, listed.budget], ["ops", 30, 5000, { unit: "tokens", amount: 100000, period: "monthly" }]);
    assert.equal((await fetch(`${origin}/v1/models`, { headers: { authorization: `Bearer ${secret}` } })).status, 200, "the new secret works");
    await shot("keys-created");

    // Shown once: gone after dismissing, and not there after a reload.
    await page.getByTestId("key-secret-dismiss").click();
    assert.equal(await page.getByTestId("key-secret").count(), 0);
    await page.reload();
    await row.waitFor();
    assert.ok(!(await page.content()).includes(secret), "the secret is not shown again");

    // Edit a limit.
    await row.getByTestId("key-edit").click();
    await page.getByTestId("key-form-rpm").fill("45");
    await page.getByTestId("key-form-submit").click();
    await page.getByTestId("keys-message").waitFor();
    await row.locator("td", { hasText: /^45$/ }).waitFor();
    const edited = await admin<WireKey>(`/admin/keys/${id}`);
    assert.equal(edited.rpm, 45);
    assert.equal(edited.tpm, 5000, "fields not touched stay");

    // Usage per key: the managed key that made one request.
    await page.locator(`[data-testid="key-row-${teamKeyId}"]`).getByTestId("key-usage").click();
    await page.getByTestId("key-usage-panel").waitFor();
    await page.locator('[data-testid=key-usage-requests][data-value="1"]').waitFor();

    // Revoke, through the confirmation.
    await row.getByTestId("key-revoke").click();
    await page.getByTestId("confirm-dialog").waitFor();
    await page.getByTestId("confirm-ok").click();
    await page.locator('[data-key-name="dash-created"][data-status="revoked"]').waitFor();
    assert.equal(await row.getByTestId("key-status").innerText(), "revoked");
    const revoked = (await admin<{ data: WireKey[] }>("/admin/keys")).data.find((k) => k.id === id);
    assert.equal(revoked?.status, "revoked");
    assert.equal((await fetch(`${origin}/v1/models`, { headers: { authorization: `Bearer ${secret}` } })).status, 401, "the revoked secret is refused");
    await shot("keys");
  });

  browserTest("models: the local model with its context size and load", async () => {
    await page.getByTestId("nav-models").click();
    const card = page.getByTestId("model-tiny");
    await card.waitFor();
    assert.equal(await card.getByTestId("model-kind").innerText(), "local");
    assert.match(await card.getByTestId("model-context").innerText(), /512 tokens/);
    assert.match(await card.innerText(), /0\/2 active/);
    await shot("models");
  });

  browserTest("playground: a streamed chat shows tokens as they arrive, then usage and timings", async (t) => {
    await page.getByTestId("nav-playground").click();
    await page.getByTestId("pg-model").selectOption("tiny");
    await page.getByTestId("pg-max-tokens").fill("400");
    await page.getByTestId("pg-seed").fill("7");
    await page.locator("summary", { hasText: "Extra parameters" }).click();
    await page.getByTestId("pg-extra").fill('{"ignore_eos": true}');
    await page.getByTestId("pg-input").fill("Tell me a long story.");

    // Watch the streaming answer's text in the page: every change, with the time.
    await page.evaluate(`(() => {
      const seen = (window.__seen = []);
      const transcript = document.querySelector("[data-testid=pg-transcript]");
      new MutationObserver(() => {
        const live = transcript.querySelector("[data-testid=pg-streaming] [data-testid=pg-message-text]");
        if (live !== null) seen.push({ at: performance.now(), length: live.textContent.length });
      }).observe(transcript, { subtree: true, childList: true, characterData: true });
    })()`);
    await page.getByTestId("pg-send").click();
    await page.locator("[data-testid=pg-usage][data-ready=true]").waitFor({ timeout: 30_000 });

    const seen = await page.evaluate<Array<{ at: number; length: number }>>("window.__seen");
    const lengths = seen.map((s) => s.length).filter((n) => n > 0);
    const distinct = [...new Set(lengths)];
    t.diagnostic(`streamed text lengths seen: ${distinct.length} distinct (${distinct.slice(0, 8).join(", ")}, …, ${distinct.at(-1)})`);
    assert.ok(distinct.length >= 3, `the answer grew over several observations while streaming (saw ${JSON.stringify(distinct)})`);
    for (let i = 1; i < lengths.length; i++) assert.ok((lengths[i] ?? 0) >= (lengths[i - 1] ?? 0), "it only grows");

    const answer = await page.getByTestId("pg-message-assistant").last().getByTestId("pg-message-text").innerText();
    assert.ok(answer.length >= (distinct.at(-1) ?? 0), "the final answer holds all streamed text");
    assert.equal(await page.getByTestId("pg-completion-tokens").innerText(), "Completion\n400");
    assert.match(await page.getByTestId("pg-ttft").innerText(), /TTFT\n[\d.]+ m?s/);
    assert.match(await page.getByTestId("pg-tps").innerText(), /[\d.]+ tok\/s/);
    assert.match(await page.getByTestId("pg-finish").innerText(), /length/);
    await shot("playground");

    // Tools: the call the model makes shows in the transcript.
    await page.getByTestId("pg-clear").click();
    await page.locator("[data-testid=pg-usage][data-ready=false]").waitFor();
    await page.getByTestId("pg-extra").fill("");
    await page.getByTestId("pg-max-tokens").fill("200");
    await page.locator("summary", { hasText: "Tools" }).click();
    await page.getByRole("button", { name: "Example" }).click();
    await page.getByTestId("pg-tool-choice").selectOption("required");
    await page.getByTestId("pg-input").fill("What is the weather in Paris?");
    await page.getByTestId("pg-send").click();
    await page.locator("[data-testid=pg-usage][data-ready=true]").waitFor({ timeout: 30_000 });
    const call = page.getByTestId("pg-tool-call").first();
    await call.waitFor();
    assert.match(await call.innerText(), /get_weather/);
    await shot("playground-tools");
    assert.deepEqual(pageErrors, [], "no uncaught errors in the page");
  });

  browserTest("logout forgets the key", async () => {
    await page.getByTestId("logout").click();
    await page.getByTestId("login-form").waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem("chatport.adminKey")), null);
  });
});
