// Snapshots: a consistent point-in-time image captured at the call, streamed
// in chunks while writes continue; exact round trip; damage is a typed error
// and leaves the state untouched.
import assert from "node:assert/strict";
import { test } from "node:test";
import { crc32c, imageHash, MvccError, MvccErrorCode } from "../../src/mvcc/index.ts";
import { b, collect, Harness, s } from "./support.ts";

test("round trip: every revision, compaction, lease, alarm and attachment survives; chunks are bounded", async () => {
  const h = new Harness();
  // alarms block puts; raise it after filling
  h.ok({ leaseGrant: { ID: 77n, TTL: 120n } });
  for (let i = 0; i < 3000; i++) {
    if (i % 10 === 0) h.ok({ put: { key: b(`lease/${i}`), value: b("L"), lease: 77n } });
    else h.put(`k/${String(i % 700).padStart(4, "0")}`, `value-${i}-${"x".repeat(100 + (i % 50))}`);
    if (i % 97 === 0) h.del(`k/${String((i * 7) % 700).padStart(4, "0")}`);
  }
  h.ok({ put: { key: b("big"), value: new Uint8Array(200_000).fill(9) } });
  h.ok({ compaction: { revision: 1500n } });
  h.ok({ alarm: { action: 1, memberID: 0xfedcba9876543210n, alarm: 1 } });
  const snap = h.sm.snapshot();
  const chunks = await collect(snap);
  assert.equal(
    chunks.reduce((n, c) => n + c.length, 0),
    snap.size,
    "size is exact before streaming",
  );
  assert.ok(chunks.length > 5);
  assert.ok(chunks.every((c) => c.length <= 64 * 1024 || c.length > 200_000));
  const r = new Harness();
  await r.sm.restore(chunks);
  assert.equal(r.sm.rev, h.sm.rev);
  assert.equal(r.sm.compactRev, 1500);
  assert.equal(r.sm.appliedIndex, h.sm.appliedIndex);
  assert.equal(r.sm.hashKV(0).hash, h.sm.hashKV(0).hash);
  for (const rev of [1500, 2000, h.sm.rev]) {
    const all = { rangeEnd: new Uint8Array([0]), revision: BigInt(rev) };
    assert.deepEqual(r.get("\0", all), h.get("\0", all));
  }
  assert.deepEqual(r.sm.lessor.capture(), h.sm.lessor.capture());
  assert.equal(r.sm.lessor.lookup(77n)!.keys.size, h.sm.lessor.lookup(77n)!.keys.size);
  assert.deepEqual(r.sm.alarmList(), h.sm.alarmList());
  // replay history from the restored revision log
  const evs: number[] = [];
  r.sm.hub.watch(
    { key: "k/", end: "k0", startRev: 1500 },
    {
      events: (_w, es) => {
        for (const e of es) evs.push(e.kv.main);
        return true;
      },
      compacted: () => assert.fail("not compacted"),
      progress: () => {},
    },
  );
  r.drain();
  const want: number[] = [];
  h.sm.store.changesBetween(1500, h.sm.rev, (_rev, cs) => {
    for (const c of cs) if (c.key.startsWith("k/")) want.push(c.main);
  });
  assert.deepEqual(evs, want);
});

test("consistent point in time: writes, deletes and a compaction during the stream do not leak in", async () => {
  const h = new Harness();
  fillNoAlarm(h, 2000);
  const before = h.get("\0", { rangeEnd: new Uint8Array([0]) });
  const rev = h.sm.rev;
  const hash = h.sm.hashKV(0).hash;
  const snap = h.sm.snapshot();
  const chunks: Uint8Array[] = [];
  let i = 0;
  for await (const c of snap) {
    chunks.push(c);
    h.put(`k/${String(i % 700).padStart(4, "0")}`, `later-${i}`);
    h.del(`k/${String((i * 3) % 700).padStart(4, "0")}`);
    if (i === 2) h.ok({ compaction: { revision: BigInt(h.sm.rev - 5) } });
    i++;
  }
  assert.ok(i > 3);
  const r = new Harness();
  await r.sm.restore(chunks);
  assert.equal(r.sm.rev, rev);
  assert.equal(r.sm.hashKV(0).hash, hash);
  assert.deepEqual(r.get("\0", { rangeEnd: new Uint8Array([0]) }), before);
});

function fillNoAlarm(h: Harness, n: number): void {
  h.ok({ leaseGrant: { ID: 77n, TTL: 120n } });
  for (let i = 0; i < n; i++) {
    if (i % 10 === 0) h.ok({ put: { key: b(`lease/${i}`), value: b("L"), lease: 77n } });
    else h.put(`k/${String(i % 700).padStart(4, "0")}`, `value-${i}-${"x".repeat(100 + (i % 50))}`);
    if (i % 97 === 0) h.del(`k/${String((i * 7) % 700).padStart(4, "0")}`);
  }
}

test("damage is a SnapshotCorrupt error and leaves the state untouched", async () => {
  const h = new Harness();
  fillNoAlarm(h, 300);
  const img = Buffer.concat(await collect(h.sm.snapshot()));
  const target = new Harness();
  target.put("keep", "me");
  const isCorrupt = (e: unknown) => (e as { code?: string }).code === MvccErrorCode.SnapshotCorrupt;
  const cases: [string, Uint8Array][] = [
    ["empty", new Uint8Array()],
    ["bad magic", Uint8Array.from(img, (x, i) => (i === 0 ? x ^ 1 : x))],
    ["truncated", img.subarray(0, img.length - 3)],
    ["cut in half", img.subarray(0, img.length >> 1)],
    ["trailing bytes", Buffer.concat([img, Buffer.from([0])])],
  ];
  // a changed byte anywhere in the body
  for (const at of [9, 40, img.length >> 1, img.length - 10, img.length - 1]) {
    const c = Uint8Array.from(img);
    c[at]! ^= 0x20;
    cases.push([`flip@${at}`, c]);
  }
  for (const [name, bytes] of cases) {
    await assert.rejects(target.sm.restore([bytes]), isCorrupt, name);
    assert.equal(s(target.get("keep").kvs[0]!.value), "me", name);
    assert.equal(target.sm.rev, 2, name);
  }
  // split into 1-byte chunks: still fine
  const r = new Harness();
  await r.sm.restore(Array.from(img, (x) => new Uint8Array([x])));
  assert.equal(r.sm.rev, h.sm.rev);
});

test("an alarm survives a restore, with its effect", async () => {
  const h = new Harness();
  h.ok({ alarm: { action: 1, memberID: 0xfedcba9876543210n, alarm: 1 } });
  const r = new Harness();
  await r.sm.restore(await collect(h.sm.snapshot()));
  assert.equal(
    r.cmd({ put: { key: b("x") } }).skipped,
    true,
    "entries up to the image's applied index are skipped",
  );
  r.index = h.index;
  assert.equal(r.cmd({ put: { key: b("x") } }).error?.code, MvccErrorCode.NoSpace);
});

test("a snapshot claiming a huge revision is refused without allocating for it", async () => {
  const { encodeSnapshot } = await import("../../src/mvcc/index.ts");
  const img = await collect(
    encodeSnapshot({ rev: 2 ** 50, compactRev: -1, appliedIndex: 0, records: [], leases: [], alarms: [] }),
  );
  const r = new Harness();
  await assert.rejects(r.sm.restore(img), (e: { code?: string }) => e.code === MvccErrorCode.SnapshotCorrupt);
  assert.equal(r.sm.rev, 1);
});

test("restore at a raft index: the image stands for that index, so a new cluster's entries after it apply", async () => {
  // An image saved at log index 50 of one cluster, restored into a new
  // cluster whose snapshot is at index 3 (tsraft/host's restoreMember): the
  // commands at 4, 5... are that cluster's and must not be skipped as
  // already applied.
  const h = new Harness();
  for (let i = 0; i < 50; i++) h.put(`k${i % 5}`, `v${i}`);
  assert.equal(h.sm.appliedIndex, 50);
  const r = new Harness();
  await r.sm.restore(await collect(h.sm.snapshot()), { index: 3, term: 1 });
  assert.equal(r.sm.appliedIndex, 3);
  r.index = 3;
  const put = r.put("after", "restore");
  assert.equal(put.header.revision, BigInt(h.sm.rev + 1), "the revision goes on from the image's");
  assert.deepEqual(r.keys("after"), ["after"]);
  // Without an index the image's own is kept (a member restoring its own snapshot).
  const same = new Harness();
  await same.sm.restore(await collect(h.sm.snapshot()));
  assert.equal(same.sm.appliedIndex, 50);
});

test("imageHash tells states apart (a CRC over a whole image, checksum included, is the same for every image)", async () => {
  const a = new Harness();
  a.put("k", "v1");
  const b2 = new Harness();
  b2.put("k", "v2");
  const ia = Buffer.concat(await collect(a.sm.snapshot()));
  const ib = Buffer.concat(await collect(b2.sm.snapshot()));
  // Why the hash is not crc32c(image): that is one constant for every image.
  assert.equal(crc32c(0, ia), crc32c(0, ib));
  const ha = await imageHash([ia]);
  const hb = await imageHash([ib]);
  assert.notEqual(ha, hb, "different states hash differently");
  assert.equal(ha, crc32c(0, ia.subarray(0, ia.length - 4)), "the CRC-32C of every byte before the checksum");
  // The same state, however the stream is cut, hashes the same.
  assert.equal(await imageHash(Array.from(ia, (x) => new Uint8Array([x]))), ha);
  assert.equal(await imageHash(a.sm.snapshot()), ha);
  await assert.rejects(imageHash([ia.subarray(0, 5)]), isCorruptError);
});

function isCorruptError(e: unknown): boolean {
  return e instanceof MvccError && e.code === MvccErrorCode.SnapshotCorrupt;
}
