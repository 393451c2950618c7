// When a leader syncs a lone write on the event loop's thread (host option
// inlineSync): for one client writing at a time, yes; while many clients
// write, never — not even in the lulls where a single proposal happens to
// be waiting, because the others' requests would queue behind the blocked
// loop. Counted by wrapping node:fs's fdatasyncSync (the WAL's inline sync);
// the followers are set to sync in the pool, so only the leader's count.
import assert from "node:assert/strict";
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { test } from "node:test";
import { delta, startCluster } from "./support.ts";

let inline = 0;
const realSync = fs.fdatasyncSync;

test("a leader syncs inline for one writer at a time, and never while 16 write", async () => {
  fs.fdatasyncSync = (fd: number) => {
    inline++;
    return realSync(fd);
  };
  syncBuiltinESMExports();
  const c = await startCluster(3, { unsafeNoFsync: false });
  try {
    const h = await c.leader();
    for (const f of c.hosts) if (f !== h) (f.cfg as { inlineSync?: boolean }).inlineSync = false;
    await new Promise((r) => setTimeout(r, 50));
    inline = 0;
    for (let i = 0; i < 40; i++) await h.propose(delta(1));
    assert.ok(inline >= 30, `one writer: ${inline} of 40 writes synced inline`);

    // 16 writers in closed loops, each pausing 0-2 ms (seeded) before its
    // next write as a client across a network would: answers then come
    // back in a spread, and a Ready often finds a single proposal waiting
    // (the rule before this test synced 7-18 of these writes inline).
    // Counted once 32 writes are done (the first of them cannot know that
    // others follow) and only while all 16 are writing.
    let seed = 12345;
    const jitter = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return new Promise((r) => setTimeout(r, seed % 3));
    };
    let counting = true;
    let during = -1;
    let writes = 0;
    const writer = async () => {
      for (let i = 0; i < 60; i++) {
        await jitter();
        await h.propose(delta(1));
        if (++writes === 32) inline = 0;
      }
      if (counting) {
        counting = false;
        during = inline;
      }
    };
    inline = 0;
    await Promise.all(Array.from({ length: 16 }, writer));
    assert.equal(during, 0, "no inline sync while 16 clients write");
  } finally {
    fs.fdatasyncSync = realSync;
    syncBuiltinESMExports();
    await c.close();
  }
});
