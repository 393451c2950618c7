// WAL behaviour, following etcd's wal_test.go cases by name where one exists.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ConfState, Entry, HardState } from "../../src/raftpb/index.ts";
import {
  crc32cUpdate,
  Decoder,
  decodeRecord,
  Encoder,
  isValidSeq,
  nodeFileSystem,
  parseWalName,
  RecordType,
  searchIndex,
  validSnapshotEntries,
  verify,
  WAL,
  WalError,
  WalErrorCode,
  WalSnapshot,
  walName,
} from "../../src/wal/index.ts";
import { ascii, ents, FaultFS, hs, quiet, tempDir } from "./helpers.ts";

const small = { ...quiet, segmentSize: 4096 };

async function rejects(p: Promise<unknown> | (() => unknown), code: string): Promise<WalError> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (err) {
    assert.ok(err instanceof WalError, `expected WalError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

function segNames(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => n.endsWith(".wal"))
    .sort();
}

const idx = (es: Entry[]) => es.map((e) => `${e.term}/${e.index}`);
const hsOf = (h: HardState) => [h.term, h.vote, h.commit];

describe("wal: names", () => {
  test("TestScanWalName / walName", () => {
    assert.equal(walName(0x1, 0x21), "0000000000000001-0000000000000021.wal");
    assert.deepEqual(parseWalName("0000000000000000-0000000000000000.wal"), { seq: 0, index: 0 });
    assert.deepEqual(parseWalName("0000000000000100-0000000000000abc.wal"), { seq: 0x100, index: 0xabc });
    for (const bad of ["0000000000000000.wal", "0000000000000000-0000000000000000.snap", "x-y.wal", ""]) {
      assert.throws(
        () => parseWalName(bad),
        (e: WalError) => e.code === WalErrorCode.BadName,
      );
    }
  });

  test("TestSearchIndex and sequence continuity", () => {
    const names = [walName(0, 0), walName(1, 0x10), walName(2, 0x20), walName(3, 0x30)];
    assert.equal(searchIndex(names, 0x25), 2);
    assert.equal(searchIndex(names, 0x10), 1);
    assert.equal(searchIndex(names, 0x5), 0);
    assert.equal(searchIndex([walName(1, 0x10)], 0x5), -1);
    assert.ok(isValidSeq(names));
    assert.ok(!isValidSeq([walName(1, 0x10), walName(3, 0x30)]));
    // etcd's rule does not check the step after a seq-0 file.
    assert.ok(isValidSeq([walName(0, 0), walName(2, 0x20)]));
  });
});

describe("wal: create, save, read", () => {
  test("create refuses an existing WAL and a non-empty foreign directory; leaves no .tmp", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const wdir = join(dir, "wal");
      const w = await WAL.create(wdir, ascii("m"), quiet);
      assert.ok(!existsSync(`${wdir}.tmp`));
      assert.equal(statSync(join(wdir, walName(0, 0))).mode & 0o777, 0o600);
      await rejects(WAL.create(wdir, ascii("m"), quiet), WalErrorCode.Exists);
      await w.close();
      assert.deepEqual(readdirSync(wdir), [walName(0, 0)], "pipeline tmp file removed on close");
      const other = join(dir, "other");
      nodeFileSystem.mkdirSync(other, 0o700);
      writeFileSync(join(other, "precious.txt"), "keep me");
      await rejects(WAL.create(other, ascii("m"), quiet), WalErrorCode.DirNotEmpty);
      assert.equal(readFileSync(join(other, "precious.txt"), "utf8"), "keep me");
    } finally {
      cleanup();
    }
  });

  test("opening a directory that is not a WAL is a clear error", async () => {
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(join(dir, "notes.txt"), "hello");
      const err = await rejects(WAL.open(dir, new WalSnapshot(), quiet), WalErrorCode.FileNotFound);
      assert.match(err.message, /^wal: file not found/);
      assert.match(err.message, /no \*\.wal segment/);
      await rejects(WAL.open(join(dir, "missing"), new WalSnapshot(), quiet), WalErrorCode.FileNotFound);
    } finally {
      cleanup();
    }
  });

  test("TestRecover: entries, hard state and metadata come back; conflicting entries overwrite", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const wdir = join(dir, "wal");
      const w = await WAL.create(wdir, ascii("metadata"), quiet);
      await w.save(hs(1, 1n, 0), ents(1, 6, 1));
      await w.save(hs(2, 2n, 2), ents(3, 5, 2)); // a new leader rewrites 3..4
      await w.save(hs(2, 2n, 4), []);
      await w.close();
      const r = await WAL.open(wdir, new WalSnapshot(), quiet);
      const got = await r.readAll();
      assert.deepEqual(got.metadata, ascii("metadata"));
      assert.deepEqual(hsOf(got.hardState), [2, 2n, 4]);
      assert.deepEqual(idx(got.entries), ["1/1", "1/2", "2/3", "2/4"]);
      assert.deepEqual(got.entries[3]!.data, ascii("e4"));
      // Appending continues the CRC chain.
      await r.save(hs(2, 2n, 5), ents(5, 7, 2));
      await r.close();
      const again = await WAL.open(wdir, new WalSnapshot(), quiet);
      assert.deepEqual(idx((await again.readAll()).entries), ["1/1", "1/2", "2/3", "2/4", "2/5", "2/6"]);
      await again.close();
    } finally {
      cleanup();
    }
  });

  test("entries read back do not pin the 64 MB preallocated tail segment in memory", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const wdir = join(dir, "wal");
      const w = await WAL.create(wdir, ascii("m"), quiet);
      await w.save(hs(1, 1n, 1), [...ents(1, 4), new Entry(1, 4, 0, new Uint8Array(0))]);
      await w.close();
      const r = await WAL.open(wdir, new WalSnapshot(), quiet);
      const got = (await r.readAll()).entries;
      await r.close();
      assert.deepEqual(got[0]!.data, ascii("e1"));
      for (const e of got)
        assert.ok(e.data.buffer.byteLength <= 1 << 20, `entry ${e.index} pins a large buffer`);
    } finally {
      cleanup();
    }
  });

  test("TestSaveEmpty and etcd's mustSync rule: one fdatasync per save, none for commit-only", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const fs = new FaultFS();
      const w = await WAL.create(join(dir, "wal"), ascii("m"), { ...quiet, fs });
      const syncs = () => fs.calls.fdatasync ?? 0;
      const off = w.tailOffset;
      let n = syncs();
      await w.save(new HardState(0, 0n, 0), []);
      await w.save(null, []);
      assert.equal(w.tailOffset, off, "an empty save writes nothing");
      assert.equal(syncs(), n);
      await w.save(hs(1, 0n, 0), []); // term change
      assert.equal(syncs(), ++n);
      await w.save(hs(1, 1n, 0), []); // vote change
      assert.equal(syncs(), ++n);
      await w.save(hs(1, 1n, 1), []); // commit only
      assert.equal(syncs(), n);
      await w.save(hs(1, 1n, 2), [], true); // raft says mustSync
      assert.equal(syncs(), ++n);
      await w.save(hs(1, 1n, 2), ents(1, 101, 1, 256)); // 100 entries: one sync (group commit)
      assert.equal(syncs(), ++n);
      const writes = fs.calls.write ?? 0;
      await w.save(null, ents(101, 111, 1));
      assert.equal(syncs(), ++n);
      assert.equal((fs.calls.write ?? 0) - writes, 1, "one write per save");
      await w.close();
    } finally {
      cleanup();
    }
  });

  test("bad input is refused before anything is written", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const w = await WAL.create(join(dir, "wal"), ascii("m"), quiet);
      const off = w.tailOffset;
      await rejects(w.save(null, [new Entry(1, -1)]), WalErrorCode.InvalidArgument);
      await rejects(w.save(null, [new Entry(1.5, 2)]), WalErrorCode.InvalidArgument);
      await rejects(w.save(null, [new Entry(1, 2 ** 53)]), WalErrorCode.InvalidArgument);
      await rejects(w.save(hs(Number.NaN, 0n, 0), []), WalErrorCode.InvalidArgument);
      await rejects(w.saveSnapshot(new WalSnapshot(5, 1)), WalErrorCode.InvalidSnapshot);
      await rejects(w.saveSnapshot(new WalSnapshot(-1, 1, new ConfState())), WalErrorCode.InvalidSnapshot);
      assert.equal(w.tailOffset, off);
      await w.save(hs(1, 0n, 0), ents(1, 2)); // still usable
      await w.close();
      await rejects(w.save(hs(1, 0n, 0), []), WalErrorCode.Closed);
    } finally {
      cleanup();
    }
  });

  test("state rules: readAll first, once; read-only WALs refuse writes", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const wdir = join(dir, "wal");
      await (await WAL.create(wdir, ascii("m"), quiet)).close();
      const w = await WAL.open(wdir, new WalSnapshot(), quiet);
      await rejects(w.save(hs(1, 0n, 0), []), WalErrorCode.InvalidState);
      await w.readAll();
      await rejects(w.readAll(), WalErrorCode.DecoderNotFound);
      await w.close();
      const r = await WAL.openForRead(wdir, new WalSnapshot(), quiet);
      await r.readAll();
      await rejects(r.save(hs(1, 0n, 0), []), WalErrorCode.InvalidState);
      await r.close();
    } finally {
      cleanup();
    }
  });

  test("TestCut / TestSaveWithCut: names, header records, truncated old segment", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const wdir = join(dir, "wal");
      const w = await WAL.create(wdir, ascii("meta"), small);
      const all: Entry[] = [];
      let i = 1;
      while (w.lockedSegments.length < 3) {
        const batch = ents(i, i + 4, 1, 300);
        all.push(...batch);
        await w.save(hs(1, 1n, i), batch);
        i += 4;
      }
      const names = segNames(wdir);
      assert.equal(names.length, 3);
      const first = parseWalName(names[1]!);
      assert.equal(first.seq, 1);
      // The new segment is named after the last entry saved before the cut.
      const seg0 = new Uint8Array(readFileSync(join(wdir, names[0]!)));
      assert.ok(
        seg0.length >= 4096 && seg0.length < 4096 + 4 * 400,
        "cut after the batch that crossed the size",
      );
      // The old segment ends exactly after its last frame (no zero tail).
      const fd0 = nodeFileSystem.openSync(join(wdir, names[0]!), "r");
      const d0 = new Decoder(nodeFileSystem, [{ name: names[0]!, fd: fd0 }]);
      let lastEntry = 0;
      while (d0.next()) {
        if (d0.rec.type === RecordType.Entry) lastEntry++;
      }
      nodeFileSystem.closeSync(fd0);
      assert.equal(d0.lastOffset, seg0.length);
      assert.equal(first.index, lastEntry + 1);
      // Segment 1 starts with crc (chained from segment 0), metadata, state.
      const seg1 = new Uint8Array(readFileSync(join(wdir, names[1]!)));
      const fd1 = nodeFileSystem.openSync(join(wdir, names[1]!), "r");
      const d1 = new Decoder(nodeFileSystem, [{ name: names[1]!, fd: fd1 }]);
      const head: number[] = [];
      for (let k = 0; k < 3 && d1.next(); k++) head.push(d1.rec.type);
      nodeFileSystem.closeSync(fd1);
      assert.deepEqual(head, [RecordType.Crc, RecordType.Metadata, RecordType.State]);
      assert.equal(decodeRecord(seg1.subarray(8, 8 + seg1[0]!)).crc, d0.crc);
      await w.close();
      const r = await WAL.open(wdir, new WalSnapshot(), small);
      const got = await r.readAll();
      assert.deepEqual(idx(got.entries), idx(all));
      assert.deepEqual(hsOf(got.hardState), [1, 1n, i - 4]);
      await r.close();
    } finally {
      cleanup();
    }
  });

  test("TestRecoverAfterCut: open at every snapshot; missing early segments", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const wdir = join(dir, "wal");
      const w = await WAL.create(wdir, ascii("meta"), small);
      for (let i = 1; i <= 40; i++) {
        if (i > 1) await w.saveSnapshot(new WalSnapshot(i - 1, 1, new ConfState([1n])));
        await w.save(hs(1, 1n, i), [new Entry(1, i, 0, new Uint8Array(300).fill(i))]);
      }
      await w.close();
      const names = segNames(wdir);
      assert.ok(names.length >= 3);
      for (let s = 0; s < 40; s++) {
        const r = await WAL.open(wdir, new WalSnapshot(s, s === 0 ? 0 : 1), small);
        const got = await r.readAll();
        assert.equal(got.entries.length, 40 - s, `snapshot ${s}`);
        assert.equal(got.entries[0]!.index, s + 1);
        await r.close();
      }
      // Without the first segment, only snapshots at or after the second one's index open.
      nodeFileSystem.unlinkSync(join(wdir, names[0]!));
      const second = parseWalName(names[1]!).index;
      await rejects(WAL.open(wdir, new WalSnapshot(second - 1, 1), small), WalErrorCode.NoMatchingFile);
      const r = await WAL.open(wdir, new WalSnapshot(second, 1), small);
      assert.equal((await r.readAll()).entries[0]!.index, second + 1);
      await r.close();
    } finally {
      cleanup();
    }
  });

  test("snapshot mismatch, snapshot not found (read mode only), slice out of range", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const wdir = join(dir, "wal");
      const w = await WAL.create(wdir, ascii("m"), quiet);
      await w.save(hs(1, 1n, 1), ents(1, 4));
      await w.saveSnapshot(new WalSnapshot(2, 1, new ConfState([1n])));
      await w.close();
      const a = await WAL.open(wdir, new WalSnapshot(2, 7), quiet);
      await rejects(a.readAll(), WalErrorCode.SnapshotMismatch);
      await a.close();
      // etcd quirk: write mode does not report a missing start snapshot.
      const b = await WAL.open(wdir, new WalSnapshot(1, 1), quiet);
      assert.deepEqual(idx((await b.readAll()).entries), ["1/2", "1/3"]);
      await b.close();
      const c = await WAL.openForRead(wdir, new WalSnapshot(1, 1), quiet);
      const err = await rejects(c.readAll(), WalErrorCode.SnapshotNotFound);
      assert.deepEqual(idx((err as WalError & { partial: { entries: Entry[] } }).partial.entries), [
        "1/2",
        "1/3",
      ]);
      await c.close();
      // An entry that skips ahead of the snapshot.
      const gap = await WAL.create(join(dir, "gap"), ascii("m"), quiet);
      await gap.save(hs(1, 1n, 1), ents(1, 3));
      await gap.save(hs(1, 1n, 1), ents(5, 6));
      await gap.close();
      const g = await WAL.open(join(dir, "gap"), new WalSnapshot(), quiet);
      const e2 = await rejects(g.readAll(), WalErrorCode.SliceOutOfRange);
      assert.deepEqual(idx((e2 as WalError & { partial: { entries: Entry[] } }).partial.entries), [
        "1/1",
        "1/2",
      ]);
      await g.close();
    } finally {
      cleanup();
    }
  });

  test("metadata conflict and unknown record types are reported with file and offset", async () => {
    const { dir, cleanup } = tempDir();
    try {
      // Hand-built segments: a second metadata record that differs; then an unknown type.
      const build = (name: string, recs: (e: Encoder) => void) => {
        const wdir = join(dir, name);
        nodeFileSystem.mkdirSync(wdir, 0o700);
        const fd = nodeFileSystem.openSync(join(wdir, walName(0, 0)), "w", 0o600);
        const e = new Encoder(nodeFileSystem, fd, 0, 0, "P37");
        recs(e);
        e.flush();
        nodeFileSystem.closeSync(fd);
        return wdir;
      };
      const conflict = build("conflict", (e) => {
        e.appendCrc(0);
        e.appendData(RecordType.Metadata, ascii("a"));
        e.appendData(RecordType.Snapshot, new Uint8Array([0x08, 0, 0x10, 0]));
        e.appendData(RecordType.Metadata, ascii("b"));
      });
      const w = await WAL.open(conflict, new WalSnapshot(), quiet);
      const err = await rejects(w.readAll(), WalErrorCode.MetadataConflict);
      assert.equal(err.file, walName(0, 0));
      // 16 (crc frame) + 24 (metadata frame) + 24 (snapshot frame)
      assert.equal(err.offset, 64);
      await w.close();
      const unknown = build("unknown", (e) => {
        e.appendCrc(0);
        e.appendData(RecordType.Metadata, ascii("a"));
        e.appendData(9, ascii("??"));
      });
      const u = await WAL.open(unknown, new WalSnapshot(), quiet);
      const e2 = await rejects(u.readAll(), WalErrorCode.UnexpectedBlockType);
      assert.match(e2.message, /^unexpected block type 9/);
      await u.close();
      await rejects(verify(unknown, new WalSnapshot(), quiet), WalErrorCode.UnexpectedBlockType);
    } finally {
      cleanup();
    }
  });

  test("TestVerify and TestValidSnapshotEntries", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const wdir = join(dir, "wal");
      const w = await WAL.create(wdir, ascii("m"), small);
      await w.save(hs(1, 1n, 1), ents(1, 3, 1, 500));
      await w.saveSnapshot(new WalSnapshot(1, 1, new ConfState([1n])));
      await w.save(hs(1, 1n, 3), ents(3, 12, 1, 500));
      await w.saveSnapshot(new WalSnapshot(3, 1, new ConfState([1n])));
      await w.saveSnapshot(new WalSnapshot(10, 1, new ConfState([1n]))); // beyond commit
      await w.close();
      assert.ok(segNames(wdir).length >= 2);
      assert.deepEqual(hsOf(await verify(wdir, new WalSnapshot(), quiet)), [1, 1n, 3]);
      assert.deepEqual(hsOf(await verify(wdir, new WalSnapshot(3, 1), quiet)), [1, 1n, 3]);
      await rejects(verify(wdir, new WalSnapshot(3, 2), quiet), WalErrorCode.SnapshotMismatch);
      await rejects(verify(wdir, new WalSnapshot(2, 1), quiet), WalErrorCode.SnapshotNotFound);
      const snaps = await validSnapshotEntries(wdir, quiet);
      assert.deepEqual(
        snaps.map((s) => [s.index, s.term]),
        [
          [0, 0],
          [1, 1],
          [3, 1],
        ],
      );
      // Corrupt one data byte in the first segment: verify names the damage.
      const first = join(wdir, segNames(wdir)[0]!);
      const b = new Uint8Array(readFileSync(first));
      b[200] ^= 0x40;
      writeFileSync(first, b);
      const err = await rejects(verify(wdir, new WalSnapshot(), quiet), WalErrorCode.CRCMismatch);
      assert.equal(err.file, segNames(wdir)[0]);
    } finally {
      cleanup();
    }
  });

  test("TestReleaseLockTo", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const wdir = join(dir, "wal");
      const w = await WAL.create(wdir, ascii("m"), small);
      let i = 1;
      while (w.lockedSegments.length < 4) {
        await w.save(hs(1, 1n, i), ents(i, i + 1, 1, 1500));
        i++;
      }
      const held = w.lockedSegments.map((n) => parseWalName(n).index);
      assert.deepEqual(w.releaseLockTo(held[0]!), []);
      assert.deepEqual(w.releaseLockTo(held[1]! + 1), [walName(0, 0)], "keeps the segment holding the index");
      assert.equal(w.lockedSegments.length, 3);
      const released = w.releaseLockTo(Number.MAX_SAFE_INTEGER);
      assert.equal(released.length, 2, "keeps only the tail");
      assert.equal(w.lockedSegments.length, 1);
      // Released segments are unlocked: another WAL object can lock them.
      const fd = nodeFileSystem.openSync(join(wdir, released[0]!), "r+");
      assert.ok(nodeFileSystem.tryLock(fd));
      nodeFileSystem.closeSync(fd);
      await w.save(hs(1, 1n, i), ents(i, i + 1));
      await w.close();
    } finally {
      cleanup();
    }
  });

  test("locks: a second open in this process, or in another process, is refused", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const wdir = join(dir, "wal");
      const w = await WAL.create(wdir, ascii("m"), quiet);
      await rejects(WAL.open(wdir, new WalSnapshot(), quiet), WalErrorCode.Locked);
      // Read-only access takes no lock and works alongside the writer.
      const r = await WAL.openForRead(wdir, new WalSnapshot(), quiet);
      await r.readAll();
      await w.close();
      const w2 = await WAL.open(wdir, new WalSnapshot(), quiet);
      await w2.readAll();
      await w2.close();

      // Another process holds the WAL open for writing until we close its stdin.
      const src = new URL("../../src/wal/index.ts", import.meta.url).pathname;
      const child = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          "--input-type=module",
          "-e",
          `const { WAL, WalSnapshot } = await import(${JSON.stringify(src)});
           const { discardLogger } = await import(${JSON.stringify(new URL("../../src/raft/logger.ts", import.meta.url).pathname)});
           const w = await WAL.open(${JSON.stringify(wdir)}, new WalSnapshot(), { logger: discardLogger });
           await w.readAll();
           process.stdout.write("locked\\n");
           process.stdin.on("end", async () => { await w.close(); process.exit(0); });
           process.stdin.resume();`,
        ],
        { stdio: ["pipe", "pipe", "inherit"] },
      );
      await new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (d: Buffer) => {
          if (d.toString().includes("locked")) resolve();
        });
        child.on("exit", (c) => reject(new Error(`child exited ${c}`)));
      });
      await rejects(WAL.open(wdir, new WalSnapshot(), quiet), WalErrorCode.Locked);
      const exited = new Promise((resolve) => child.on("exit", resolve));
      child.stdin.end();
      assert.equal(await exited, 0);
      const w3 = await WAL.open(wdir, new WalSnapshot(), quiet);
      await w3.readAll();
      await w3.close();
    } finally {
      cleanup();
    }
  });

  test("TestTailWriteNoSlackSpace: a tail without preallocated space keeps working", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const wdir = join(dir, "wal");
      const w = await WAL.create(wdir, ascii("m"), quiet);
      await w.save(hs(1, 1n, 1), ents(1, 6));
      const end = w.tailOffset;
      await w.close();
      const p = join(wdir, walName(0, 0));
      const fd = nodeFileSystem.openSync(p, "r+");
      nodeFileSystem.ftruncateSync(fd, end);
      nodeFileSystem.closeSync(fd);
      const r = await WAL.open(wdir, new WalSnapshot(), quiet);
      await r.readAll();
      await r.save(hs(1, 1n, 2), ents(6, 11));
      await r.close();
      const again = await WAL.open(wdir, new WalSnapshot(), quiet);
      assert.equal((await again.readAll()).entries.length, 10);
      await again.close();
    } finally {
      cleanup();
    }
  });

  test("write-mode readAll wipes stray bytes left after the end of the log", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const wdir = join(dir, "wal");
      const w = await WAL.create(wdir, ascii("m"), quiet);
      await w.save(hs(1, 1n, 1), ents(1, 3));
      const end = w.tailOffset;
      await w.close();
      // A torn write left a zero length word at `end` and a fragment after it.
      const p = join(wdir, walName(0, 0));
      const fd = nodeFileSystem.openSync(p, "r+");
      nodeFileSystem.writeSync(fd, new Uint8Array(64).fill(0xab), 0, 64, end + 1024);
      nodeFileSystem.closeSync(fd);
      const r = await WAL.open(wdir, new WalSnapshot(), quiet);
      assert.equal((await r.readAll()).entries.length, 2);
      const b = new Uint8Array(readFileSync(p));
      assert.ok(b.subarray(end).every((x) => x === 0));
      assert.equal(b.length, 64_000_000);
      await r.close();
    } finally {
      cleanup();
    }
  });

  test("unsafeNoFsync skips fdatasync but still writes", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const fs = new FaultFS();
      const w = await WAL.create(join(dir, "wal"), ascii("m"), { ...quiet, fs, unsafeNoFsync: true });
      const before = fs.calls.fdatasync ?? 0;
      await w.save(hs(1, 1n, 1), ents(1, 3));
      assert.equal(fs.calls.fdatasync ?? 0, before);
      await w.close();
      const r = await WAL.open(join(dir, "wal"), new WalSnapshot(), quiet);
      assert.equal((await r.readAll()).entries.length, 2);
      await r.close();
    } finally {
      cleanup();
    }
  });

  test("a slow fdatasync logs etcd's warning (injected clock)", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const warnings: string[] = [];
      let t = 0;
      const logger = { ...quiet.logger, warning: (m: string) => warnings.push(m), info: () => {} };
      const w = await WAL.create(join(dir, "wal"), ascii("m"), {
        logger,
        now: () => {
          t += 600;
          return t;
        },
      });
      assert.equal(warnings.length, 0);
      await w.close();
      const w2 = await WAL.open(join(dir, "wal"), new WalSnapshot(), {
        logger,
        now: () => (t += 1500),
      });
      await w2.readAll();
      await w2.save(hs(1, 1n, 1), ents(1, 2));
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /^slow fdatasync/);
      await w2.close();
    } finally {
      cleanup();
    }
  });

  test("CRC chaining across segments matches crc32c over all data", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const wdir = join(dir, "wal");
      const w = await WAL.create(wdir, ascii("meta"), small);
      for (let i = 1; i < 30; i++) await w.save(hs(1, 1n, i), ents(i, i + 1, 1, 400));
      await w.close();
      // Recompute the chain independently over every non-crc record's data.
      let running = 0;
      for (const name of segNames(wdir)) {
        const fd = nodeFileSystem.openSync(join(wdir, name), "r");
        const d = new Decoder(nodeFileSystem, [{ name, fd }]);
        d.crc = running;
        while (d.next()) {
          if (d.rec.type === RecordType.Crc) assert.equal(d.rec.crc, running);
          else {
            running = crc32cUpdate(running, d.data() ?? new Uint8Array(0));
            assert.equal(d.rec.crc, running);
          }
        }
        nodeFileSystem.closeSync(fd);
      }
    } finally {
      cleanup();
    }
  });
});
