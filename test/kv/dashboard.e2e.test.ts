// The dashboard in a real headless browser (Debian's chromium driven by
// playwright-core) against three member processes: the page served by a
// follower shows the real leader, its "make leader" button transfers
// leadership, a killed member is shown down and then up again, and a learner
// added with the form is removed with its button. Saves a screenshot to
// artifacts/dashboard.png.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { repoRoot } from "../support/testdata.ts";
import { freePort, http, ProcCluster, type ProcMember, waitFor } from "./support/cluster.ts";

const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOT = join(repoRoot, "artifacts", "dashboard.png");
const inCI = process.env.CI === "true";
const missing = existsSync(CHROMIUM)
  ? false
  : `chromium is not installed at ${CHROMIUM}: run "apt-get install -y chromium" (.ci/run does it in CI)`;

const c = new ProcCluster();
let browser: BrowserContext | null = null;
let load: { stop(): Promise<void> } | null = null;
const profileDir = mkdtempSync(join(tmpdir(), "tsraft-dash-chromium-"));
after(async () => {
  await load?.stop();
  await browser?.close();
  rmSync(profileDir, { recursive: true, force: true });
  await c.cleanup();
});

/**
 * A light, bounded write load through every member in turn while the test
 * runs, so that the sparklines draw a curve. Failed writes (during a leader
 * change or while a member is down) are fine: only the page is under test.
 */
function backgroundWrites(members: ProcMember[]): { stop(): Promise<void> } {
  let stopped = false;
  const loop = (async () => {
    const deadline = Date.now() + 40_000;
    for (let i = 0; !stopped && Date.now() < deadline && i < 2000; i++) {
      await http("PUT", `${members[i % members.length]!.client}/kv/load-${i % 50}`, `v${i}`).catch(() => {});
      await new Promise((r) => setTimeout(r, 15));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

/**
 * Waits until `selector` matches an element (whose text matches `text`, if
 * given). The page polls on a timer and holds no element handle: the
 * dashboard rewrites its cards on every poll, and twice at load 28-36
 * Playwright's visible-element wait logged the right element as resolved
 * yet never returned (10 s, then 30 s).
 */
async function seen(page: Page, selector: string, text?: RegExp): Promise<void> {
  await page.waitForFunction(
    ([sel, src, flags]) => {
      // Runs in the page (this project's type checks have no DOM library).
      const doc = (
        globalThis as unknown as {
          document: { querySelector(s: string): { textContent: string | null } | null };
        }
      ).document;
      const el = doc.querySelector(sel);
      return el !== null && (src === null || new RegExp(src, flags).test(el.textContent ?? ""));
    },
    [selector, text?.source ?? null, text?.flags ?? ""] as const,
    { polling: 200, timeout: 30_000 },
  );
}

async function cardRole(page: Page, id: string): Promise<string | null> {
  return page.locator(`.card[data-id="${id}"]`).getAttribute("data-role");
}

// In CI the browser must be there (.ci/run installs it): a missing one fails below.
test("the dashboard in a headless browser", { skip: !inCI && missing }, async () => {
  assert.equal(missing, false, missing || "");
  const ms = [await c.add("m1"), await c.add("m2"), await c.add("m3")];
  const initial = c.initialCluster(["m1", "m2", "m3"]);
  for (const m of ms) c.start(m, ["--initial-cluster", initial]);
  try {
    for (const m of ms) await c.healthy(m);
    // Every member must have published its client URL for the page to reach it.
    await waitFor("client URLs published", async () => {
      const sts = await Promise.all(ms.map((m) => c.status(m)));
      return sts.every((s) => s.members.every((m: { clientURLs: string[] }) => m.clientURLs.length > 0));
    });
    load = backgroundWrites(ms);
    const ids = new Map<ProcMember, string>();
    for (const m of ms) ids.set(m, (await c.status(m)).id);
    const leader = await c.leader(ms);
    // The page is served by a follower; leadership goes to the other follower.
    const [serving, target] = ms.filter((m) => m !== leader) as [ProcMember, ProcMember];

    // Chromium runs with a fresh profile (the persistent context's user data dir).
    browser = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 900 },
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    // Generous: the page polls the cluster and re-renders, and on a machine
    // whose cores are busy elsewhere Chromium itself gets little CPU (one run
    // at load 28 saw the right text rendered but not confirmed within 10 s).
    page.setDefaultTimeout(30_000);
    await page.goto(`${serving.client}/ui`);

    // The leader shown is the real one, in the header, its card and the ring.
    await seen(page, `#leader[data-id="${ids.get(leader)}"]`);
    assert.match((await page.textContent("#leader .value")) ?? "", new RegExp(leader.name));
    assert.equal(await cardRole(page, ids.get(leader)!), "leader");
    assert.equal(
      await page.locator(`#ring g[data-id="${ids.get(leader)}"]`).getAttribute("data-role"),
      "leader",
    );
    assert.match((await page.textContent("#served")) ?? "", new RegExp(serving.name));
    await seen(page, `.card[data-id="${ids.get(target)}"] .repl-text`, /replicate/);

    // Leadership moves with the button, on the page and for real.
    await page.click(`.card[data-id="${ids.get(target)}"] button.make-leader`);
    await seen(page, `#leader[data-id="${ids.get(target)}"]`);
    await seen(page, `.card[data-id="${ids.get(target)}"] .msg.ok`);
    assert.equal(await c.leader(ms), target);
    await seen(page, `.card[data-id="${ids.get(leader)}"][data-role="follower"]`);
    await seen(page, `#timeline rect[data-leader="${ids.get(target)}"]`);

    // A member that dies is shown down, and up again once it is back.
    await c.kill(leader, "SIGKILL");
    await seen(page, `.card[data-id="${ids.get(leader)}"][data-up="false"]`);
    c.start(leader, ["--initial-cluster", initial]);
    await c.healthy(leader);
    await seen(page, `.card[data-id="${ids.get(leader)}"][data-up="true"]`);

    // A learner added with the form appears (down: no process runs it), then goes with its remove button.
    await page.fill("#add-peer", `http://127.0.0.1:${await freePort()}`);
    await page.fill("#add-name", "m4");
    await page.check("#add-learner");
    await page.click("#add-submit");
    await seen(page, "#add-msg.ok");
    const learner = page.locator(".card", { has: page.locator(".name", { hasText: "m4" }) });
    await learner.waitFor();
    assert.equal(await learner.getAttribute("data-up"), "false");
    await learner.locator("button.remove").click(); // arms it
    await learner.locator("button.remove.armed").click();
    await learner.waitFor({ state: "detached" });

    // The picture, once the sparklines have some load and the restarted member caught up.
    await waitFor("a proposal rate on the page", async () => {
      return !/^0\.0 /.test((await page.textContent("#rate .value")) ?? "0.0 ");
    });
    await seen(page, `.card[data-id="${ids.get(leader)}"] .repl-text`, /^replicate/);
    mkdirSync(join(repoRoot, "artifacts"), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await load.stop();
    load = null;

    // An API error is shown inline: a peer URL that is already a member's.
    await page.fill("#add-peer", ms[0]!.peer);
    await page.click("#add-submit");
    await seen(page, "#add-msg.err", /already used/);
    assert.deepEqual(pageErrors, [], "no script errors on the page");
  } catch (err) {
    console.error(c.dumpLogs());
    throw err;
  }
});
