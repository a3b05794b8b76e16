// Drives the console in headless Chromium for browser_test.go. Steps are
// paced by the Go test: the script prints "STEP <name>" when it has done
// its part and reads a line on stdin before the next (the test makes calls
// through the proxy in between). Any failed expectation exits non-zero.
"use strict";
const { chromium } = require(process.env.PLAYWRIGHT_CORE);
const readline = require("node:readline");
const path = require("node:path");

const base = process.env.CONSOLE_BASE;   // http://127.0.0.1:PORT
const link = process.env.CONSOLE_LINK;   // base + /?token=...
const shots = process.env.SHOTS_DIR;
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function step(name) {
  console.log("STEP " + name);
  const { value, done } = await lines.next();
  if (done || value.trim() !== "next") throw new Error("test said " + (done ? "nothing" : value) + " after " + name);
}
function expect(cond, what) { if (!cond) throw new Error("expected " + what); }
async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, name + ".png"), fullPage: true });
}

(async () => {
  // A fresh user data directory (playwright passes it as --user-data-dir).
  const ctx = await chromium.launchPersistentContext(process.env.USER_DATA_DIR, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await ctx.newPage();
    page.setDefaultTimeout(20000);

    // (a) No token, no cookie: refused.
    let resp = await page.goto(base + "/approvals");
    expect(resp.status() === 401, "401 without the token, got " + resp.status());
    expect((await page.textContent("h1")).includes("Not signed in"), "the 401 page");
    resp = await page.goto(base + "/approvals?token=" + "0".repeat(64));
    expect(resp.status() === 401, "401 with a wrong token, got " + resp.status());

    // The link signs in and drops the token from the address.
    resp = await page.goto(link);
    expect(resp.status() === 200, "the link opens the console, got " + resp.status());
    expect(!page.url().includes("token="), "the token gone from the URL: " + page.url());
    const cookies = await ctx.cookies();
    expect(cookies.length === 1 && cookies[0].httpOnly && cookies[0].sameSite === "Strict", "one HttpOnly SameSite=Strict cookie: " + JSON.stringify(cookies));

    // (b) The held call is in the queue, with its arguments; approve it.
    await page.goto(base + "/approvals");
    const card = page.locator("section.held", { hasText: process.env.APPROVAL_ID });
    await card.waitFor();
    expect((await card.locator("pre.args").textContent()).includes('"amount": 1'), "the arguments pretty-printed");
    await shot(page, "approvals");
    await card.locator("select[name=approver]").selectOption(process.env.APPROVER);
    await card.locator("input[name=passphrase]").fill("not the passphrase!");
    await card.locator("button.go").click();
    await page.locator(".flash.bad", { hasText: "wrong passphrase" }).waitFor();
    const again = page.locator("section.held", { hasText: process.env.APPROVAL_ID });
    await again.locator("select[name=approver]").selectOption(process.env.APPROVER);
    await again.locator("input[name=passphrase]").fill(process.env.PASSPHRASE);
    await again.locator("button.go").click();
    await page.locator(".flash.ok", { hasText: "Approved " + process.env.APPROVAL_ID }).waitFor();
    expect(!(await page.content()).includes(process.env.PASSPHRASE), "the passphrase not echoed in the page");
    await step("approved");

    // (c) Set the tool's rule to Deny.
    await page.goto(base + "/rules");
    const row = page.locator('tr[data-tool="test_simple_text"]');
    await row.waitFor();
    await shot(page, "rules");
    await row.locator("select[name=kind]").selectOption("deny");
    await row.locator("button[type=submit]").click();
    await page.locator(".flash.ok", { hasText: "Saved" }).waitFor();
    expect((await page.locator('tr[data-tool="test_simple_text"] .pill').textContent()).trim() === "Deny", "the row now says Deny");
    await step("denied");

    // (d) Live decisions: the calls so far, and one made while watching.
    await page.goto(base + "/decisions");
    await page.locator('tr[data-tool="test_simple_text"][data-decision="deny"]').first().waitFor();
    await page.locator('tr[data-tool="test_simple_text"][data-decision="allow"]').first().waitFor();
    await page.locator('tr[data-tool="test_simple_text"][data-decision^="approval_req"]').first().waitFor();
    await page.locator("#live:not([hidden])").waitFor();
    const before = await page.locator('tr[data-tool="test_error_handling"]').count();
    console.log("STEP watching " + before);
    const { value } = await lines.next();
    expect(value && value.trim() === "next", "next after watching");
    await page.waitForFunction((n) => document.querySelectorAll('tr[data-tool="test_error_handling"]').length > n, before);
    await shot(page, "decisions");
    // The filter applies as you pick: only denials stay visible.
    await page.selectOption("select[name=decision]", "deny");
    const visible = await page.locator("#decisions tbody tr:visible").evaluateAll((rows) => rows.map((r) => r.dataset.decision));
    expect(visible.length > 0 && visible.every((d) => d === "deny"), "only denials after filtering: " + visible);

    await page.goto(base + "/counters");
    await page.locator("td", { hasText: "test_error_handling" }).first().waitFor();
    await shot(page, "counters");
    await page.goto(base + "/scan");
    await page.locator("td code", { hasText: "test_simple_text" }).first().waitFor();
    await shot(page, "scan");

    // (e) A changed tool definition: its diff and markers, then approved
    // with the approver's passphrase (a wrong one first).
    await page.goto(base + "/pins");
    const pin = page.locator('section.pin[data-name="test_simple_text"]');
    await pin.waitFor();
    expect((await pin.locator("pre.diff").textContent()).includes("<IMPORTANT>"), "the diff shows the new description");
    expect((await pin.locator("ul.flags").textContent()).length > 0, "the poisoning markers listed");
    await shot(page, "pins");
    await pin.locator("select[name=approver]").selectOption(process.env.APPROVER);
    await pin.locator("input[name=passphrase]").fill("not the passphrase!");
    await pin.locator("button.go").click();
    await page.locator(".flash.bad", { hasText: "wrong passphrase" }).waitFor();
    const pin2 = page.locator('section.pin[data-name="test_simple_text"]');
    await pin2.locator("select[name=approver]").selectOption(process.env.APPROVER);
    await pin2.locator("input[name=passphrase]").fill(process.env.PASSPHRASE);
    await pin2.locator("button.go").click();
    await page.locator(".flash.ok", { hasText: 'Approved tool "test_simple_text"' }).waitFor();
    expect(await page.locator('section.pin[data-name="test_simple_text"]').count() === 0, "the approved pin gone from the page");
    await step("pinned");
    console.log("STEP done");
  } finally {
    await ctx.close();
  }
})().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
