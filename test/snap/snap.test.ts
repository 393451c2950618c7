// Snapshotter, following etcd's snapshotter_test.go cases; the file vector is
// the spec's section 3.2 example (hand-derived, protoc-verified there).
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ConfState, Snapshot, SnapshotMetadata } from "../../src/raftpb/index.ts";
import { SnapError, SnapErrorCode, Snapshotter, snapName } from "../../src/snap/index.ts";
import { WalSnapshot } from "../../src/wal/index.ts";
import { ascii, hex, quiet, tempDir, toHex } from "../wal/helpers.ts";

const SPEC_FILE = "08 ae e5 ed ac 09 12 0f 0a 01 78 12 0a 0a 04 08 01 28 00 10 0a 18 02";

function snap(index: number, term: number, data = "x"): Snapshot {
  return new Snapshot(ascii(data), new SnapshotMetadata(new ConfState([1n]), index, term));
}

function code(fn: () => unknown): string {
  try {
    fn();
    return "ok";
  } catch (err) {
    assert.ok(err instanceof SnapError, String(err));
    return err.code;
  }
}

describe("snap", () => {
  test("the spec's .snap vector: name and bytes (G36), and it loads back", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const s = new Snapshotter(dir, { ...quiet, profile: "G36" });
      await s.saveSnap(snap(10, 2));
      assert.deepEqual(readdirSync(dir), ["0000000000000002-000000000000000a.snap"]);
      assert.equal(toHex(readFileSync(join(dir, snapName(2, 10)))), SPEC_FILE);
      const got = new Snapshotter(dir, quiet).load();
      assert.deepEqual([got.metadata.index, got.metadata.term, got.metadata.confState.voters], [10, 2, [1n]]);
      assert.deepEqual(got.data, ascii("x"));
    } finally {
      cleanup();
    }
  });

  test("a file written by etcd (the vector) is read", () => {
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(join(dir, snapName(2, 10)), hex(SPEC_FILE));
      const got = new Snapshotter(dir, quiet).load();
      assert.equal(got.metadata.index, 10);
    } finally {
      cleanup();
    }
  });

  test("TestSaveAndLoad, TestSnapNames, empty snapshot not written", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const s = new Snapshotter(dir, quiet);
      await s.saveSnap(snap(0, 0));
      assert.deepEqual(readdirSync(dir), []);
      await s.saveSnap(snap(1, 1));
      await s.saveSnap(snap(5, 1));
      await s.saveSnap(snap(7, 3));
      writeFileSync(join(dir, "notes.txt"), "x");
      assert.deepEqual(s.snapNames(), [snapName(3, 7), snapName(1, 5), snapName(1, 1)]);
      assert.equal(s.load().metadata.index, 7);
    } finally {
      cleanup();
    }
  });

  test("TestBadCRC, TestFailback, TestAllSnapshotBroken: broken files are renamed .broken", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const s = new Snapshotter(dir, quiet);
      await s.saveSnap(snap(1, 1));
      await s.saveSnap(snap(2, 1));
      const newest = join(dir, snapName(1, 2));
      const b = new Uint8Array(readFileSync(newest));
      b[b.length - 1]! ^= 0xff;
      writeFileSync(newest, b);
      assert.equal(
        code(() => s.load()),
        "ok",
      );
      assert.equal(s.load().metadata.index, 1);
      assert.ok(existsSync(`${newest}.broken`));
      writeFileSync(join(dir, snapName(1, 1)), new Uint8Array(0));
      assert.equal(
        code(() => s.load()),
        SnapErrorCode.NoSnapshot,
      );
      assert.ok(existsSync(join(dir, `${snapName(1, 1)}.broken`)));
    } finally {
      cleanup();
    }
  });

  test("read errors: empty file, zero crc, crc mismatch, undecodable", async () => {
    const { readSnapFile } = await import("../../src/snap/index.ts");
    const { dir, cleanup } = tempDir();
    try {
      const p = join(dir, snapName(1, 1));
      const cases: [Uint8Array, string][] = [
        [new Uint8Array(0), SnapErrorCode.EmptySnapshot],
        [hex("08 00 12 01 78"), SnapErrorCode.EmptySnapshot],
        [hex("08 01 12 01 78"), SnapErrorCode.CRCMismatch],
        [hex("08 01 12 05 78"), SnapErrorCode.Decode],
      ];
      for (const [bytes, want] of cases) {
        writeFileSync(p, bytes);
        assert.equal(
          code(() => readSnapFile(p)),
          want,
        );
      }
    } finally {
      cleanup();
    }
  });

  test("TestLoadNewestSnap: loadNewestAvailable takes the newest the WAL vouches for", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const s = new Snapshotter(dir, quiet);
      await s.saveSnap(snap(1, 1));
      await s.saveSnap(snap(5, 1));
      await s.saveSnap(snap(9, 2));
      const pick = (ws: WalSnapshot[]) => s.loadNewestAvailable(ws).metadata.index;
      assert.equal(pick([new WalSnapshot(0, 0), new WalSnapshot(1, 1), new WalSnapshot(5, 1)]), 5);
      assert.equal(pick([new WalSnapshot(9, 2), new WalSnapshot(1, 1)]), 9);
      assert.equal(
        code(() => s.loadNewestAvailable([new WalSnapshot(5, 2)])),
        SnapErrorCode.NoSnapshot,
      );
      assert.ok(!readdirSync(dir).some((n) => n.endsWith(".broken")), "no file renamed for a mismatch");
    } finally {
      cleanup();
    }
  });

  test("TestNoSnapshot and orphaned db.tmp files", () => {
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(join(dir, "db.tmp.123"), "x");
      writeFileSync(join(dir, "db"), "x");
      const s = new Snapshotter(dir, quiet);
      assert.equal(
        code(() => s.load()),
        SnapErrorCode.NoSnapshot,
      );
      assert.ok(!existsSync(join(dir, "db.tmp.123")));
      assert.ok(existsSync(join(dir, "db")));
    } finally {
      cleanup();
    }
  });

  test(".snap.db: saveDBFrom streams and renames, keeps an existing file, dbFilePath, TestReleaseSnapDBs", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const s = new Snapshotter(dir, quiet);
      async function* chunks(n: number, fill: number) {
        for (let i = 0; i < n; i++) yield new Uint8Array(1000).fill(fill);
      }
      assert.equal(await s.saveDBFrom(chunks(5, 1), 0x10), 5000);
      assert.equal(readFileSync(s.dbFilePath(0x10)).length, 5000);
      assert.equal(await s.saveDBFrom(chunks(2, 2), 0x10), 2000);
      assert.equal(readFileSync(s.dbFilePath(0x10))[0], 1, "existing file kept");
      assert.ok(!readdirSync(dir).some((n) => n.startsWith("tmp")), "temp files removed");
      assert.equal(
        code(() => s.dbFilePath(0x11)),
        SnapErrorCode.NoDBSnapshot,
      );
      await s.saveDBFrom(chunks(1, 3), 0x20);
      await s.saveDBFrom(chunks(1, 3), 0x30);
      writeFileSync(join(dir, "zz.snap.db"), "x");
      assert.deepEqual(s.releaseSnapDBs(snap(0x20, 1)), ["0000000000000010.snap.db"]);
      assert.deepEqual(
        readdirSync(dir)
          .filter((n) => n.endsWith(".snap.db"))
          .sort(),
        ["0000000000000020.snap.db", "0000000000000030.snap.db", "zz.snap.db"],
      );
      // A failing stream leaves nothing behind.
      async function* failing() {
        yield new Uint8Array(10);
        throw new Error("peer went away");
      }
      await assert.rejects(s.saveDBFrom(failing(), 0x40), (e: SnapError) => e.code === SnapErrorCode.IO);
      assert.ok(!readdirSync(dir).some((n) => n.startsWith("tmp")));
    } finally {
      cleanup();
    }
  });

  test("purge keeps the newest N", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const s = new Snapshotter(dir, quiet);
      for (let i = 1; i <= 6; i++) await s.saveSnap(snap(i, 1));
      assert.equal(s.purge(2).length, 4);
      assert.deepEqual(s.snapNames(), [snapName(1, 6), snapName(1, 5)]);
    } finally {
      cleanup();
    }
  });
});
