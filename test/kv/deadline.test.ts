// Shared request deadlines: requests in the same window share one signal.
import assert from "node:assert/strict";
import { test } from "node:test";
import { SharedDeadlines } from "../../src/kv/deadline.ts";

test("requests within one window share a signal; a later request gets a new one", () => {
  const d = new SharedDeadlines(60_000, 50);
  const a = d.signal(1000);
  assert.equal(d.signal(1049), a);
  const b = d.signal(1050);
  assert.notEqual(b, a);
  assert.equal(a.aborted, false);
});

test("a shared signal aborts with a TimeoutError after the timeout", async () => {
  const d = new SharedDeadlines(5, 5);
  const s = d.signal();
  // The deadline timer is unref'd (it must not keep a process alive); hold the loop open meanwhile.
  const keepAlive = setTimeout(() => {}, 1000);
  await new Promise<void>((resolve) => s.addEventListener("abort", () => resolve(), { once: true }));
  clearTimeout(keepAlive);
  assert.equal((s.reason as DOMException).name, "TimeoutError");
});

test("many requests on one shared signal raise no MaxListenersExceededWarning", async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.name);
  process.on("warning", onWarning);
  try {
    const d = new SharedDeadlines(1000);
    const s = d.signal(0);
    const listeners = Array.from({ length: 100 }, () => () => {});
    for (const l of listeners) s.addEventListener("abort", l);
    await new Promise((r) => setImmediate(r));
    for (const l of listeners) s.removeEventListener("abort", l);
  } finally {
    process.off("warning", onWarning);
  }
  assert.deepEqual(warnings, []);
});
