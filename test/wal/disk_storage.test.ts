// DiskStorage: the durable raft Storage. Recovery is tested by reopening
// (after a clean close and after simulated crashes).
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ErrCompacted, ErrSnapOutOfDate } from "../../src/index.ts";
import { ConfState, type Entry, Snapshot, SnapshotMetadata } from "../../src/raftpb/index.ts";
import { SnapError, SnapErrorCode } from "../../src/snap/index.ts";
import { DiskStorage } from "../../src/storage/index.ts";
import { type WalError, WalErrorCode } from "../../src/wal/index.ts";
import { ascii, ents, FaultFS, hs, quiet, rng, tempDir } from "./helpers.ts";

const idx = (es: Entry[]) => es.map((e) => `${e.term}/${e.index}`);

function state(s: DiskStorage) {
  const { hardState, confState } = s.initialState();
  const first = s.firstIndex();
  const last = s.lastIndex();
  return {
    hs: [hardState.term, hardState.vote, hardState.commit],
    voters: confState.voters,
    first,
    last,
    snap: [s.snapshot().metadata.index, s.snapshot().metadata.term],
    entries: last >= first ? idx(s.entries(first, last + 1, Number.POSITIVE_INFINITY)) : [],
  };
}

describe("DiskStorage", () => {
  test("creates, saves Readys, and comes back identical after reopening", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const s = await DiskStorage.open(dir, { ...quiet, metadata: ascii("node1") });
      assert.ok(s.created);
      assert.deepEqual(state(s).entries, []);
      await s.save({ hardState: hs(1, 1n, 0), entries: ents(1, 4), mustSync: true });
      await s.save({ hardState: hs(1, 1n, 3), entries: [] });
      await s.save({ hardState: hs(2, 1n, 3), entries: ents(3, 6, 2) }); // overwrite from index 3
      const before = state(s);
      assert.deepEqual(before.entries, ["1/1", "1/2", "2/3", "2/4", "2/5"]);
      await s.close();
      const r = await DiskStorage.open(dir, { ...quiet, metadata: ascii("node1") });
      assert.ok(!r.created);
      assert.deepEqual(state(r), before);
      assert.deepEqual(r.entries(2, 3, 100)[0]!.data, ascii("e2"));
      await r.close();
    } finally {
      cleanup();
    }
  });

  test("one fdatasync per save however many entries", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const fs = new FaultFS();
      const s = await DiskStorage.open(dir, { ...quiet, fs });
      for (const n of [1, 10, 100, 1000]) {
        const before = fs.calls.fdatasync ?? 0;
        const last = s.lastIndex();
        await s.save({
          hardState: hs(1, 1n, last),
          entries: ents(last + 1, last + 1 + n, 1, 256),
          mustSync: true,
        });
        assert.equal((fs.calls.fdatasync ?? 0) - before, 1, `${n} entries`);
      }
      await s.close();
    } finally {
      cleanup();
    }
  });

  test("snapshots and compaction: reopen loads the snapshot and the log after it", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const s = await DiskStorage.open(dir, quiet);
      await s.save({ hardState: hs(1, 1n, 10), entries: ents(1, 11) });
      const snap = await s.createSnapshot(8, new ConfState([1n, 2n, 3n]), ascii("state@8"));
      assert.deepEqual([snap.metadata.index, snap.metadata.term], [8, 1]);
      await assert.rejects(s.createSnapshot(8, null, ascii("x")), (e) => e === ErrSnapOutOfDate);
      await assert.rejects(
        s.createSnapshot(Number.NaN, null, ascii("x")),
        (e: WalError) => e.code === WalErrorCode.InvalidArgument,
      );
      assert.throws(
        () => s.compact(2.5),
        (e: WalError) => e.code === WalErrorCode.InvalidArgument,
      );
      s.compact(6);
      assert.throws(
        () => s.compact(5),
        (e) => e === ErrCompacted,
      );
      assert.equal(s.firstIndex(), 7);
      await s.save({ hardState: hs(1, 1n, 12), entries: ents(11, 13) });
      await s.close();
      const r = await DiskStorage.open(dir, quiet);
      const st = state(r);
      assert.deepEqual(st.snap, [8, 1]);
      assert.deepEqual(st.voters, [1n, 2n, 3n]);
      assert.deepEqual(st.hs, [1, 1n, 12]);
      assert.equal(st.first, 9);
      assert.deepEqual(st.entries, ["1/9", "1/10", "1/11", "1/12"]);
      assert.deepEqual(r.snapshot().data, ascii("state@8"));
      await r.close();
    } finally {
      cleanup();
    }
  });

  test("a Ready carrying a snapshot (follower catch-up) replaces the log", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const s = await DiskStorage.open(dir, quiet);
      await s.save({ hardState: hs(1, 1n, 2), entries: ents(1, 4) });
      const incoming = new Snapshot(
        ascii("leader state"),
        new SnapshotMetadata(new ConfState([1n, 2n]), 50, 3),
      );
      await s.save({ hardState: hs(3, 0n, 50), snapshot: incoming, entries: [] });
      assert.deepEqual([s.firstIndex(), s.lastIndex()], [51, 50]);
      await s.save({ hardState: hs(3, 0n, 51), entries: ents(51, 53, 3) });
      const before = state(s);
      await s.close();
      const r = await DiskStorage.open(dir, quiet);
      assert.deepEqual(state(r), before);
      assert.deepEqual(state(r).snap, [50, 3]);
      await r.close();
    } finally {
      cleanup();
    }
  });

  test("sustained load with snapshots keeps disk use bounded", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const opts = { ...quiet, segmentSize: 16 * 1024, maxWalFiles: 2, maxSnapFiles: 2 };
      const s = await DiskStorage.open(dir, opts);
      const usage = () => {
        let total = 0;
        for (const sub of ["wal", "snap"]) {
          for (const n of readdirSync(join(dir, sub))) {
            if (!n.endsWith(".tmp")) total += statSync(join(dir, sub, n)).size;
          }
        }
        return total;
      };
      let peak = 0;
      for (let round = 0; round < 60; round++) {
        const last = s.lastIndex();
        await s.save({ hardState: hs(1, 1n, last + 20), entries: ents(last + 1, last + 21, 1, 200) });
        if (round % 5 === 4) {
          await s.createSnapshot(s.lastIndex(), new ConfState([1n]), new Uint8Array(1000));
          s.compact(s.lastIndex() - 5);
        }
        // The live tail is preallocated to the segment size; count it once.
        peak = Math.max(peak, usage());
        assert.ok(readdirSync(join(dir, "wal")).filter((n) => n.endsWith(".wal")).length <= 6);
      }
      assert.ok(peak < 8 * 16 * 1024, `peak disk use ${peak}`);
      const before = state(s);
      await s.close();
      const r = await DiskStorage.open(dir, opts);
      // The cache restarts from the snapshot: entries before it are not replayed.
      const after = state(r);
      assert.deepEqual([after.hs, after.snap, after.last], [before.hs, before.snap, before.last]);
      assert.equal(after.first, before.snap[0]! + 1);
      await r.close();
    } finally {
      cleanup();
    }
  });

  test("another cluster's WAL, or a WAL directory holding something else, is refused", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const a = join(dir, "a");
      await (await DiskStorage.open(a, { ...quiet, metadata: ascii("cluster-1") })).close();
      await assert.rejects(
        DiskStorage.open(a, { ...quiet, metadata: ascii("cluster-2") }),
        (e: WalError) => e.code === WalErrorCode.MetadataMismatch,
      );
      const b = join(dir, "b");
      (await import("node:fs")).mkdirSync(join(b, "wal"), { recursive: true });
      writeFileSync(join(b, "wal", "important.db"), "not a wal");
      await assert.rejects(DiskStorage.open(b, quiet), (e: WalError) => e.code === WalErrorCode.DirNotEmpty);
      assert.equal(readFileSync(join(b, "wal", "important.db"), "utf8"), "not a wal");
    } finally {
      cleanup();
    }
  });

  test("a torn tail is repaired once on open; corruption elsewhere is refused", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const opts = { ...quiet, segmentSize: 4096 };
      const s = await DiskStorage.open(dir, opts);
      for (let i = 1; i <= 40; i += 4)
        await s.save({ hardState: hs(1, 1n, i), entries: ents(i, i + 4, 1, 100) });
      const tail = s.wal.tailSegment;
      const end = s.wal.tailOffset;
      await s.close();
      const wdir = join(dir, "wal");
      const path = join(wdir, tail);
      const b = new Uint8Array(readFileSync(path));
      // A torn write: the sectors holding the last records never reached the disk.
      const torn = Math.floor((end - 100) / 512) * 512;
      b.fill(0, torn, end);
      writeFileSync(path, b);
      const r = await DiskStorage.open(dir, opts);
      assert.ok(r.lastIndex() >= 30 && r.lastIndex() < 40, `last ${r.lastIndex()} end ${end} torn ${torn}`);
      assert.ok(readdirSync(wdir).includes(`${tail}.broken`));
      await r.close();
      // Damage in the first segment is never cut away.
      const first = join(
        wdir,
        readdirSync(wdir)
          .filter((n) => n.endsWith(".wal"))
          .sort()[0]!,
      );
      const f = new Uint8Array(readFileSync(first));
      f[300]! ^= 0x10;
      writeFileSync(first, f);
      await assert.rejects(DiskStorage.open(dir, opts), (e: WalError) => e.code === WalErrorCode.CRCMismatch);
    } finally {
      cleanup();
    }
  });

  test("a failed save (ENOSPC) is reported and leaves the cache as it was", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const fs = new FaultFS();
      const s = await DiskStorage.open(dir, { ...quiet, fs });
      await s.save({ hardState: hs(1, 1n, 1), entries: ents(1, 3) });
      fs.inject("write", "ENOSPC", { partial: 10 });
      await assert.rejects(
        s.save({ hardState: hs(1, 1n, 2), entries: ents(3, 6) }),
        (e: WalError) => e.code === WalErrorCode.IO,
      );
      assert.equal(s.lastIndex(), 2);
      assert.deepEqual(state(s).hs, [1, 1n, 1]);
      await s.close();
      const r = await DiskStorage.open(dir, quiet);
      assert.equal(r.lastIndex(), 2);
      await r.close();
    } finally {
      cleanup();
    }
  });

  test("ENOSPC writing a snapshot file: typed error, no partial file, storage unchanged", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const fs = new FaultFS();
      const s = await DiskStorage.open(dir, { ...quiet, fs });
      await s.save({ hardState: hs(1, 1n, 5), entries: ents(1, 6) });
      fs.inject("write", "ENOSPC", { partial: 3, path: /\.snap$/ });
      await assert.rejects(s.createSnapshot(4, new ConfState([1n]), ascii("state")), (e: SnapError) => {
        return e instanceof SnapError && e.code === SnapErrorCode.IO;
      });
      assert.equal(s.snapshot().metadata.index, 0);
      assert.deepEqual(readdirSync(join(dir, "snap")), []);
      const snap = await s.createSnapshot(4, new ConfState([1n]), ascii("state"));
      assert.equal(snap.metadata.index, 4);
      await s.close();
    } finally {
      cleanup();
    }
  });

  test("power loss at random points: every acknowledged Ready survives restart", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const r = rng(11);
      for (let trial = 0; trial < 8; trial++) {
        const d = join(dir, `t${trial}`);
        const fs = new FaultFS();
        const opts = { ...quiet, fs, segmentSize: 8192, maxWalFiles: 1 };
        const s = await DiskStorage.open(d, opts);
        const rounds = 5 + Math.floor(r() * 20);
        let acked = { last: 0, commit: 0, snap: 0 };
        for (let i = 0; i < rounds; i++) {
          const last = s.lastIndex();
          await s.save({ hardState: hs(1, 1n, last), entries: ents(last + 1, last + 6, 1, 300) });
          if (last > 0 && r() < 0.2) await s.createSnapshot(last, new ConfState([1n]), ascii(`snap${last}`));
          acked = { last: s.lastIndex(), commit: last, snap: s.snapshot().metadata.index };
        }
        fs.crash(r() < 0.5 ? () => r() < 0.5 : undefined);
        const again = await DiskStorage.open(d, { ...quiet, segmentSize: 8192 });
        const st = state(again);
        assert.ok(st.last >= acked.last, `trial ${trial}: last ${st.last} < ${acked.last}`);
        assert.ok(st.hs[2]! >= acked.commit);
        assert.ok(st.snap[0]! >= acked.snap || acked.snap === 0);
        const es = again.entries(again.firstIndex(), acked.last + 1, Number.POSITIVE_INFINITY);
        for (const e of es) assert.ok(new TextDecoder().decode(e.data).startsWith(`e${e.index}.`));
        await again.close();
      }
    } finally {
      cleanup();
    }
  });
});
