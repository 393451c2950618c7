// The watcher hub (spec §3.8): live delivery, replay from a past revision,
// filters, prev_kv, compaction, pausing slow consumers, progress, restore.
import assert from "node:assert/strict";
import { test } from "node:test";
import { keyToString, type WatchEvent, type Watcher, type WatchSink } from "../../src/mvcc/index.ts";
import { Harness } from "./support.ts";

interface Got {
  evs: string[];
  headers: number[];
  compacted: number[];
  progress: number[];
}

function sink(got: Got, accept: () => boolean = () => true): WatchSink {
  return {
    events(_w: Watcher, evs: WatchEvent[], headerRev: number) {
      got.headers.push(headerRev);
      for (const e of evs)
        got.evs.push(
          `${e.type === 0 ? "PUT" : "DEL"} ${e.kv.key}@${e.kv.main}${e.type === 0 ? `=${new TextDecoder().decode(e.kv.value)}` : ""}${e.prev ? ` prev=${new TextDecoder().decode(e.prev.value)}@${e.prev.main}` : ""}`,
        );
      return accept();
    },
    compacted(_w, rev) {
      got.compacted.push(rev);
    },
    progress(_w, rev) {
      got.progress.push(rev);
    },
  };
}
const fresh = (): Got => ({ evs: [], headers: [], compacted: [], progress: [] });

test("live: one response per revision that touched the range, header = event revision; single key and prefix", () => {
  const h = new Harness();
  const one = fresh();
  const pre = fresh();
  h.sm.hub.watch({ key: "a", end: undefined, startRev: 0 }, sink(one));
  h.sm.hub.watch({ key: "p/", end: "p0", startRev: 0 }, sink(pre));
  h.put("a", "1");
  h.put("p/x", "2");
  h.put("b", "3");
  h.del("a");
  h.del("p/", "p0");
  assert.deepEqual(one.evs, ["PUT a@2=1", "DEL a@5"]);
  assert.deepEqual(one.headers, [2, 5]);
  assert.deepEqual(pre.evs, ["PUT p/x@3=2", "DEL p/x@6"]);
});

test("replay from a past revision, then live, nothing skipped or duplicated; nothing before watch() returns", () => {
  const h = new Harness();
  for (let i = 0; i < 5; i++) h.put("k", `v${i}`); // revs 2..6
  const got = fresh();
  h.sm.hub.watch({ key: "k", end: undefined, startRev: 4 }, sink(got));
  assert.deepEqual(got.evs, [], "replay is scheduled, not run inside watch()");
  h.put("k", "v5"); // 7, arrives before the replay ran: the watcher is unsynced and skips it live
  h.drain();
  h.put("k", "v6"); // 8, live
  assert.deepEqual(got.evs, ["PUT k@4=v2", "PUT k@5=v3", "PUT k@6=v4", "PUT k@7=v5", "PUT k@8=v6"]);
  assert.deepEqual(got.headers, [7, 8], "catch-up batch carries the current revision, live the event's");
});

test("replay batches at most 1000 revisions per response", () => {
  const h = new Harness();
  for (let i = 0; i < 2500; i++) h.put("k", "v");
  const got = fresh();
  h.sm.hub.watch({ key: "k", end: undefined, startRev: 2 }, sink(got));
  h.drain();
  assert.equal(got.evs.length, 2500);
  assert.equal(got.headers.length, 3);
});

test("future start revision waits; filters NOPUT/NODELETE; filtered-out responses are not sent", () => {
  const h = new Harness();
  const fut = fresh();
  const noput = fresh();
  const nodel = fresh();
  h.sm.hub.watch({ key: "k", end: undefined, startRev: 4 }, sink(fut));
  h.sm.hub.watch({ key: "k", end: undefined, startRev: 0, noPut: true }, sink(noput));
  h.sm.hub.watch({ key: "k", end: undefined, startRev: 0, noDelete: true }, sink(nodel));
  h.put("k", "1"); // 2
  h.put("k", "2"); // 3
  h.del("k"); // 4
  h.put("k", "3"); // 5
  h.drain();
  assert.deepEqual(fut.evs, ["DEL k@4", "PUT k@5=3"]);
  assert.deepEqual(noput.evs, ["DEL k@4"]);
  assert.deepEqual(noput.headers, [4]);
  assert.deepEqual(nodel.evs, ["PUT k@2=1", "PUT k@3=2", "PUT k@5=3"]);
});

test("prev_kv: none for a creation; the version before for updates and deletes; omitted when compacted", () => {
  const h = new Harness();
  h.put("k", "1"); // 2
  h.put("k", "2"); // 3
  h.del("k"); // 4
  h.put("k", "3"); // 5 (a creation)
  const got = fresh();
  h.sm.hub.watch({ key: "k", end: undefined, startRev: 2, prevKv: true }, sink(got));
  h.drain();
  assert.deepEqual(got.evs, ["PUT k@2=1", "PUT k@3=2 prev=1@2", "DEL k@4 prev=2@3", "PUT k@5=3"]);
  h.put("k", "4"); // 6
  assert.equal(got.evs.at(-1), "PUT k@6=4 prev=3@5");
  h.ok({ compaction: { revision: 6n } });
  const late = fresh();
  h.sm.hub.watch({ key: "k", end: undefined, startRev: 6, prevKv: true }, sink(late));
  h.drain();
  assert.deepEqual(late.evs, ["PUT k@6=4"], "prev at revision 5 < compaction 6 is omitted");
});

test("compacted start revision: one compacted notice with the compaction revision, then the watcher is gone", () => {
  const h = new Harness();
  for (let i = 0; i < 5; i++) h.put("k", `v${i}`); // 2..6
  h.ok({ compaction: { revision: 4n } });
  const got = fresh();
  const w = h.sm.hub.watch({ key: "k", end: undefined, startRev: 3 }, sink(got));
  h.drain();
  assert.deepEqual(got.compacted, [4]);
  assert.deepEqual(got.evs, []);
  assert.equal(w.removed, true);
  h.put("k", "x");
  assert.deepEqual(got.evs, []);
  const ok = fresh();
  h.sm.hub.watch({ key: "k", end: undefined, startRev: 4 }, sink(ok));
  h.drain();
  assert.deepEqual(ok.evs, ["PUT k@4=v2", "PUT k@5=v3", "PUT k@6=v4", "PUT k@7=x"]);
});

test("a slow consumer is paused, misses nothing, resumes from history; compaction while paused cancels it", () => {
  const h = new Harness();
  const got = fresh();
  let open = false;
  const w = h.sm.hub.watch(
    { key: "k", end: undefined, startRev: 0 },
    sink(got, () => open),
  );
  h.put("k", "1"); // 2, delivered, then paused
  h.put("k", "2"); // 3, not delivered
  h.put("k", "3"); // 4
  assert.deepEqual(got.evs, ["PUT k@2=1"]);
  open = true;
  h.sm.hub.resume(w);
  h.drain();
  h.put("k", "4"); // 5 live again
  assert.deepEqual(got.evs, ["PUT k@2=1", "PUT k@3=2", "PUT k@4=3", "PUT k@5=4"]);
  open = false;
  h.put("k", "5"); // 6 delivered, paused
  h.put("k", "6"); // 7
  h.put("k", "7"); // 8
  h.ok({ compaction: { revision: 8n } }); // the watcher still needs revision 7
  open = true;
  h.sm.hub.resume(w);
  h.drain();
  assert.deepEqual(got.compacted, [8]);
});

test("cancel stops delivery; progress ticks reach idle synced watchers that asked", () => {
  const h = new Harness();
  const a = fresh();
  const p = fresh();
  const wa = h.sm.hub.watch({ key: "k", end: undefined, startRev: 0 }, sink(a));
  h.sm.hub.watch({ key: "q", end: undefined, startRev: 0, progressNotify: true }, sink(p));
  h.sm.hub.cancel(wa);
  h.put("k", "1");
  assert.deepEqual(a.evs, []);
  h.sm.hub.progressTick();
  assert.deepEqual(p.progress, [2]);
  h.put("q", "x");
  h.sm.hub.progressTick();
  assert.deepEqual(p.progress, [2], "an event since the last tick: no progress notice");
  h.sm.hub.progressTick();
  assert.deepEqual(p.progress, [2, 3]);
});

test("a watch on all keys sees binary keys in order of their changes", () => {
  const h = new Harness();
  const got = fresh();
  h.sm.hub.watch({ key: "\0", end: null, startRev: 0 }, sink(got));
  h.ok({ put: { key: new Uint8Array([0xff]), value: new Uint8Array() } });
  assert.equal(got.evs.length, 1);
  assert.equal(got.evs[0]!.startsWith(`PUT ${keyToString(new Uint8Array([0xff]))}@2`), true);
});

test("a watch from revision 1 (the empty store) replays everything; after compaction at 1 too", () => {
  const h = new Harness();
  h.put("k", "a"); // 2
  h.put("k", "b"); // 3
  const got = fresh();
  h.sm.hub.watch({ key: "k", end: undefined, startRev: 1 }, sink(got));
  h.drain();
  assert.deepEqual(got.evs, ["PUT k@2=a", "PUT k@3=b"]);
  h.ok({ compaction: { revision: 1n } });
  const again = fresh();
  h.sm.hub.watch({ key: "k", end: undefined, startRev: 1 }, sink(again));
  h.drain();
  assert.deepEqual(again.evs, ["PUT k@2=a", "PUT k@3=b"]);
  assert.deepEqual(again.compacted, []);
});
