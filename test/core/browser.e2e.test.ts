// The raft core in a real browser: examples/rawnode-demo.ts (three RawNodes)
// and examples/node-cluster.ts (the async Node API with timers, a conf change
// adding a fourth member) are bundled by esbuild for the browser platform —
// which fails on any import of a Node built-in — and run in headless
// Debian chromium; their console output must show the work done.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import { repoRoot } from "../support/testdata.ts";

const CHROMIUM = "/usr/bin/chromium";
const inCI = process.env.CI === "true";
const missing = existsSync(CHROMIUM)
  ? false
  : `chromium is not installed at ${CHROMIUM}: run "apt-get install -y chromium" (.ci/run does it in CI)`;

/** Bundles the browser entry for the "browser" platform (a Node built-in anywhere fails it). */
function bundle() {
  return build({
    entryPoints: [join(repoRoot, "test/core/browser_entry.ts")],
    bundle: true,
    platform: "browser",
    // The examples import the package by name: resolve it to src/ (no build needed).
    conditions: ["source"],
    format: "esm",
    target: "es2022",
    write: false,
    logLevel: "silent",
  });
}

test("the core bundles for the browser without Node built-ins", async () => {
  const out = await bundle();
  assert.equal(out.errors.length, 0);
  const code = out.outputFiles[0]!.text;
  assert.doesNotMatch(code, /from\s*["']node:/);
});

// In CI the browser must be there (.ci/run installs it): a missing one fails below.
test("the examples of the core run in headless chromium", { skip: !inCI && missing }, async () => {
  assert.equal(missing, false, missing || "");
  const out = await bundle();
  const profile = mkdtempSync(join(tmpdir(), "tsraft-core-chromium-"));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox"],
  });
  try {
    const page = browser.pages()[0] ?? (await browser.newPage());
    const lines: string[] = [];
    const errors: string[] = [];
    page.on("console", (m) => lines.push(m.text()));
    page.on("pageerror", (e) => errors.push(e.message));
    const finished = page.waitForEvent("console", {
      predicate: (m) => m.text() === "browser run finished",
      timeout: 30_000,
    });
    await page.setContent("<!doctype html><title>tsraft core</title>");
    await page.addScriptTag({ content: out.outputFiles[0]!.text, type: "module" });
    await Promise.race([
      finished,
      page.waitForEvent("pageerror", { timeout: 30_000 }).then((e) => {
        throw e;
      }),
    ]);
    assert.deepEqual(errors, []);
    // Three RawNodes: one leader, and every node applied the three words.
    assert.ok(
      lines.some((l) => /^node 1 is leader at term \d+$/.test(l)),
      lines.join("\n"),
    );
    for (const id of [1, 2, 3]) {
      assert.ok(
        lines.some((l) =>
          new RegExp(`^node ${id}: commit=\\d+ applied=\\[alpha, bravo, charlie\\]$`).test(l),
        ),
      );
    }
    // Four Node members after the conf change, each with every entry applied.
    for (const id of [1, 2, 3, 4]) {
      assert.ok(
        lines.includes(`member ${id}: applied [alpha, bravo, charlie, delta], voters 1,2,3,4`),
        lines.join("\n"),
      );
    }
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
});
