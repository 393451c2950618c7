// DiskStorage.open reads the WAL once: the snapshot records (which `.snap`
// file may be loaded) and the replay after the snapshot come from the same
// read, which starts from the newest `.snap` file. Held to what etcd's two
// reads (validSnapshotEntries, then open at the snapshot loaded) give: the
// same state, the same choice of snapshot when the newest file cannot be
// used, and the same error when the WAL is damaged in two ways.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ConfState, Entry, type HardState, Snapshot, SnapshotMetadata } from "../../src/raftpb/index.ts";
import { Snapshotter } from "../../src/snap/index.ts";
import { DiskStorage } from "../../src/storage/index.ts";
import { Encoder } from "../../src/wal/encoder.ts";
import {
  nodeFileSystem,
  RecordType,
  validSnapshotEntries,
  WAL,
  WalError,
  WalErrorCode,
  WalSnapshot,
  walName,
} from "../../src/wal/index.ts";
import { ascii, CountingFS, ents, hs, quiet, tempDir } from "./helpers.ts";

const opts = { ...quiet, segmentSize: 4096, maxWalFiles: 100, maxSnapFiles: 100 };

/** A member's directory: 400 entries over many segments, a snapshot every 60. */
async function member(dir: string): Promise<void> {
  const s = await DiskStorage.open(dir, opts);
  for (let i = 1; i <= 400; i += 10) {
    await s.save({ hardState: hs(2, 1n, i + 9), entries: ents(i, i + 10, 2, 90) });
    if ((i + 9) % 60 === 0) await s.createSnapshot(i + 9, new ConfState([1n]), ascii(`state@${i + 9}`));
  }
  await s.close();
}

interface View {
  snap: [number, number];
  hardState: [number, bigint, number];
  entries: string[];
}

function view(s: DiskStorage): View {
  const md = s.snapshot().metadata;
  const h = s.initialState().hardState;
  const out: string[] = [];
  if (s.lastIndex() >= s.firstIndex()) {
    for (const e of s.entries(s.firstIndex(), s.lastIndex() + 1, Number.POSITIVE_INFINITY))
      out.push(`${e.term}/${e.index}/${new TextDecoder().decode(e.data.subarray(0, 5))}`);
  }
  return { snap: [md.index, md.term], hardState: [h.term, h.vote, h.commit], entries: out };
}

/** etcd's recovery, read-only: validSnapshotEntries, the newest vouched-for snapshot, readAll from it. */
async function twoReads(dir: string, at?: WalSnapshot): Promise<View> {
  const walDir = join(dir, "wal");
  let start = at;
  if (start === undefined) {
    const walSnaps = await validSnapshotEntries(walDir, quiet);
    const snap = new Snapshotter(join(dir, "snap"), { ...quiet, readOnly: true }).loadNewestAvailable(
      walSnaps,
    );
    start = new WalSnapshot(snap.metadata.index, snap.metadata.term);
  }
  const w = await WAL.openForRead(walDir, start, quiet);
  const r = await w.readAll();
  const h: HardState = r.hardState;
  return {
    snap: [start.index, start.term],
    hardState: [h.term, h.vote, h.commit],
    entries: r.entries.map((e) => `${e.term}/${e.index}/${new TextDecoder().decode(e.data.subarray(0, 5))}`),
  };
}

const segments = (dir: string) =>
  readdirSync(join(dir, "wal"))
    .filter((n) => n.endsWith(".wal"))
    .sort();

describe("DiskStorage.open: one read of the WAL", () => {
  test("every segment is read once, and the state is what etcd's two reads give", async () => {
    const { dir, cleanup } = tempDir();
    try {
      await member(dir);
      const want = await twoReads(dir);
      assert.equal(want.snap[0], 360);
      const fs = new CountingFS();
      const s = await DiskStorage.open(dir, { ...opts, fs });
      assert.deepEqual(view(s), want);
      assert.equal(new TextDecoder().decode(s.snapshot().data), "state@360");
      await s.close();
      const segs = segments(dir);
      assert.ok(segs.length >= 10, `${segs.length} segments`);
      let walBytes = 0;
      for (const name of segs) {
        const path = join(dir, "wal", name);
        const read = fs.read.get(path) ?? 0;
        assert.ok(read > 0 && read <= statSync(path).size, `${name}: read ${read} of ${statSync(path).size}`);
        walBytes += read;
      }
      const snapReads = [...fs.read].filter(([p]) => p.endsWith(".snap"));
      assert.equal(snapReads.length, 1, "one .snap file read");
      assert.ok(walBytes > 0);
    } finally {
      cleanup();
    }
  });

  test("the newest .snap file without its WAL record (a crash between the two): the older one is used", async () => {
    const { dir, cleanup } = tempDir();
    try {
      await member(dir);
      // Written as createSnapshot would, but the WAL record never made it.
      await new Snapshotter(join(dir, "snap"), quiet).saveSnap(
        new Snapshot(ascii("state@390"), new SnapshotMetadata(new ConfState([1n]), 390, 2)),
      );
      const want = await twoReads(dir);
      assert.deepEqual(want.snap, [360, 2]);
      const s = await DiskStorage.open(dir, opts);
      assert.deepEqual(view(s), want);
      await s.close();
    } finally {
      cleanup();
    }
  });

  test("an unreadable newest .snap file is set aside and the older one used", async () => {
    const { dir, cleanup } = tempDir();
    try {
      await member(dir);
      const newest = join(dir, "snap", readdirSync(join(dir, "snap")).sort().at(-1)!);
      const want = await twoReads(dir, new WalSnapshot(300, 2));
      const b = readFileSync(newest);
      b[b.length - 3]! ^= 0x40;
      writeFileSync(newest, b);
      const s = await DiskStorage.open(dir, opts);
      assert.deepEqual(view(s), want);
      assert.ok(readdirSync(join(dir, "snap")).includes(`${newest.split("/").at(-1)}.broken`));
      await s.close();
    } finally {
      cleanup();
    }
  });

  test("a newest .snap file that no segment can hold (before the first one): read again from the right one", async () => {
    const { dir, cleanup } = tempDir();
    try {
      // Old segments purged, so that the WAL starts after index 1.
      const s0 = await DiskStorage.open(dir, { ...opts, maxWalFiles: 0 });
      for (let i = 1; i <= 200; i += 10) {
        await s0.save({ hardState: hs(2, 1n, i + 9), entries: ents(i, i + 10, 2, 90) });
        if ((i + 9) % 60 === 0) await s0.createSnapshot(i + 9, new ConfState([1n]), ascii(`state@${i + 9}`));
      }
      await s0.close();
      assert.notEqual(segments(dir)[0], walName(0, 0));
      // A stray file whose name sorts last (term 9) at index 1.
      await new Snapshotter(join(dir, "snap"), quiet).saveSnap(
        new Snapshot(ascii("stray"), new SnapshotMetadata(new ConfState([1n]), 1, 9)),
      );
      const want = await twoReads(dir);
      assert.deepEqual(want.snap, [180, 2]);
      const s = await DiskStorage.open(dir, opts);
      assert.deepEqual(view(s), want);
      await s.close();
    } finally {
      cleanup();
    }
  });

  test("two kinds of damage: the error the first of etcd's two reads reports comes first", async () => {
    const { dir, cleanup } = tempDir();
    try {
      // Segment 0 holds a record of an unknown type (refused by the replay);
      // segment 1 a damaged entry (refused by the snapshot-record read, which
      // etcd runs first over the whole WAL).
      const wdir = join(dir, "wal");
      nodeFileSystem.mkdirSync(wdir, 0o700);
      const write = (name: string, prev: number, recs: (e: Encoder) => void): number => {
        const fd = nodeFileSystem.openSync(join(wdir, name), "w", 0o600);
        const e = new Encoder(nodeFileSystem, fd, 0, prev, "P37");
        e.appendCrc(prev);
        e.appendData(RecordType.Metadata, ascii("m"));
        recs(e);
        e.flush();
        nodeFileSystem.closeSync(fd);
        return e.crc;
      };
      const crc = write(walName(0, 0), 0, (e) => {
        e.appendEntry(new Entry(1, 1, 0, ascii("one")));
        e.appendData(9, ascii("??"));
      });
      write(walName(1, 2), crc, (e) => e.appendEntry(new Entry(1, 2, 0, ascii("two-two-two"))));
      const second = join(wdir, walName(1, 2));
      await assert.rejects(
        DiskStorage.open(dir, quiet),
        (e: WalError) => e.code === WalErrorCode.UnexpectedBlockType,
      );
      const b = readFileSync(second);
      b[b.length - 12]! ^= 0x01; // inside "two-two-two"
      writeFileSync(second, b);
      await assert.rejects(DiskStorage.open(dir, quiet), (e: WalError) => {
        assert.ok(e instanceof WalError);
        assert.equal(e.code, WalErrorCode.CRCMismatch);
        assert.equal(e.file, walName(1, 2));
        return true;
      });
    } finally {
      cleanup();
    }
  });

  test("a second open of a held directory is refused at once (ERR_WAL_LOCKED)", async () => {
    const { dir, cleanup } = tempDir();
    try {
      await member(dir);
      const s = await DiskStorage.open(dir, opts);
      const fs = new CountingFS();
      await assert.rejects(
        DiskStorage.open(dir, { ...opts, fs }),
        (e: WalError) => e.code === WalErrorCode.Locked,
      );
      // Refused before reading the log.
      const walRead = [...fs.read].filter(([p]) => p.endsWith(".wal")).reduce((a, [, n]) => a + n, 0);
      assert.equal(walRead, 0);
      await s.close();
      const again = await DiskStorage.open(dir, opts);
      await again.close();
    } finally {
      cleanup();
    }
  });

  test("a torn tail in a preallocated segment: repaired once, the .broken copy identical and sparse", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const s = await DiskStorage.open(dir, quiet);
      for (let i = 1; i <= 40; i += 4)
        await s.save({ hardState: hs(1, 1n, i), entries: ents(i, i + 4, 1, 700) });
      const tail = s.wal.tailSegment;
      const end = s.wal.tailOffset;
      await s.close();
      const path = join(dir, "wal", tail);
      const b = readFileSync(path);
      assert.equal(b.length, 64_000_000);
      // The sector holding the end of the last record never reached the disk.
      b.fill(0, Math.floor((end - 100) / 512) * 512, end);
      writeFileSync(path, b);
      const r = await DiskStorage.open(dir, quiet);
      assert.ok(r.lastIndex() >= 36 && r.lastIndex() < 40, `last ${r.lastIndex()}`);
      await r.close();
      const broken = readFileSync(`${path}.broken`);
      assert.ok(broken.equals(b), "the copy holds the segment as it was");
      assert.ok(statSync(`${path}.broken`).blocks * 512 < 4 << 20, "the zero tail is not written out");
    } finally {
      cleanup();
    }
  });

  test("WAL.recover: validSnapshotEntries' records, readAll's result, then a WAL that appends", async () => {
    const { dir, cleanup } = tempDir();
    try {
      await member(dir);
      const walDir = join(dir, "wal");
      const start = new WalSnapshot(300, 2);
      const want = await twoReads(dir, start);
      const pass = await WAL.recover(walDir, start, opts);
      assert.deepEqual(
        pass.snapshots.map((x) => [x.index, x.term]),
        (await validSnapshotEntries(walDir, quiet)).map((x) => [x.index, x.term]),
      );
      const { wal, result } = await pass.finish!();
      assert.deepEqual(
        result.entries.map((e) => `${e.term}/${e.index}/${new TextDecoder().decode(e.data.subarray(0, 5))}`),
        want.entries,
      );
      assert.deepEqual(
        [result.hardState.term, result.hardState.vote, result.hardState.commit],
        want.hardState,
      );
      assert.deepEqual(result.metadata, new Uint8Array(0));
      await assert.rejects(pass.finish!(), (e: WalError) => e.code === WalErrorCode.InvalidState);
      await pass.close(); // the WAL is the caller's now: not closed by this
      await wal.save(hs(2, 1n, 401), ents(401, 402, 2, 90));
      assert.equal(wal.lastIndex, 401);
      await wal.close();
      const again = await WAL.openForRead(walDir, start, quiet);
      const r = await again.readAll();
      assert.equal(r.entries.at(-1)!.index, 401);
    } finally {
      cleanup();
    }
  });
});
