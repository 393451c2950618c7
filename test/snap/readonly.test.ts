// The Snapshotter's read-only mode: inspection never writes, renames or
// deletes anything, and a snapshot it cannot use is reported with its file
// name instead of being set aside. Only the owning member (the default mode)
// renames broken files to `.broken`, as etcd does when it recovers its own
// directory.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { discardLogger } from "../../src/index.ts";
import { ConfState, Snapshot, SnapshotMetadata } from "../../src/raftpb/index.ts";
import { SnapError, SnapErrorCode, Snapshotter, snapName } from "../../src/snap/index.ts";
import { WalSnapshot } from "../../src/wal/index.ts";

const quiet = { logger: discardLogger };
const ID = 0xbd9563d4be65ef5bn; // an etcd-style member ID, above 2^63

function snap(index: number, term: number): Snapshot {
  return new Snapshot(
    new TextEncoder().encode(`state at ${index}`),
    new SnapshotMetadata(new ConfState([ID]), index, term),
  );
}

/** Every file of `dir` with the SHA-256 of its content. */
function hashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of readdirSync(dir).sort()) {
    out[n] = createHash("sha256")
      .update(readFileSync(join(dir, n)))
      .digest("hex");
  }
  return out;
}

function errorOf(fn: () => unknown): SnapError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SnapError, String(err));
    return err;
  }
  assert.fail("expected a SnapError");
}

/** A directory with snapshots at 5, 9 and 12 (term 2), the newest damaged, and a leftover db.tmp file. */
async function damaged(): Promise<{ dir: string; cleanup: () => void; newest: string }> {
  const dir = mkdtempSync(join(tmpdir(), "tsraft-snap-ro-"));
  const owner = new Snapshotter(dir, quiet);
  for (const i of [5, 9, 12]) await owner.saveSnap(snap(i, 2));
  const newest = join(dir, snapName(2, 12));
  const b = new Uint8Array(readFileSync(newest));
  b[b.length - 1]! ^= 0x01;
  writeFileSync(newest, b);
  writeFileSync(join(dir, "db.tmp12345"), "half a defragmentation");
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }), newest };
}

describe("Snapshotter read-only mode", () => {
  test("load() reports an unreadable newest file by name and changes nothing", async () => {
    const { dir, cleanup, newest } = await damaged();
    try {
      const before = hashes(dir);
      const ro = new Snapshotter(dir, { ...quiet, readOnly: true });
      const err = errorOf(() => ro.load());
      assert.equal(err.code, SnapErrorCode.CRCMismatch);
      assert.equal(err.file, newest);
      assert.match(err.message, /0000000000000002-000000000000000c\.snap/);
      assert.deepEqual(hashes(dir), before, "nothing renamed, deleted or written");
    } finally {
      cleanup();
    }
  });

  test("loadNewestAvailable(): a damaged file the WAL does not vouch for is not a candidate; a damaged candidate is reported", async () => {
    const { dir, cleanup, newest } = await damaged();
    try {
      const before = hashes(dir);
      const ro = new Snapshotter(dir, { ...quiet, readOnly: true });
      // The WAL records 5 and 9 only: 12 was written just before a crash.
      const got = ro.loadNewestAvailable([
        new WalSnapshot(0, 0),
        new WalSnapshot(5, 2),
        new WalSnapshot(9, 2),
      ]);
      assert.equal(got.metadata.index, 9);
      assert.deepEqual(got.metadata.confState.voters, [ID]);
      // The WAL records 12: it must be used, and it cannot be read.
      const err = errorOf(() => ro.loadNewestAvailable([new WalSnapshot(9, 2), new WalSnapshot(12, 2)]));
      assert.equal(err.code, SnapErrorCode.CRCMismatch);
      assert.equal(err.file, newest);
      assert.deepEqual(hashes(dir), before);
    } finally {
      cleanup();
    }
  });

  test("inspect() lists every file with its snapshot or error, in any mode, without changes", async () => {
    const { dir, cleanup, newest } = await damaged();
    try {
      const before = hashes(dir);
      for (const readOnly of [true, false]) {
        const files = new Snapshotter(dir, { ...quiet, readOnly }).inspect();
        assert.deepEqual(
          files.map((f) => [
            f.name,
            f.term,
            f.index,
            f.snapshot?.metadata.index ?? null,
            f.error?.code ?? null,
          ]),
          [
            [snapName(2, 12), 2, 12, null, SnapErrorCode.CRCMismatch],
            [snapName(2, 9), 2, 9, 9, null],
            [snapName(2, 5), 2, 5, 5, null],
          ],
        );
        assert.equal(files[0]!.error!.file, newest);
        assert.deepEqual(hashes(dir), before);
      }
    } finally {
      cleanup();
    }
  });

  test("writing calls throw ERR_SNAP_READ_ONLY and create nothing", async () => {
    const { dir, cleanup } = await damaged();
    try {
      const before = hashes(dir);
      const ro = new Snapshotter(dir, { ...quiet, readOnly: true });
      await assert.rejects(ro.saveSnap(snap(20, 3)), { code: SnapErrorCode.ReadOnly });
      await assert.rejects(ro.saveDBFrom([new Uint8Array(4)], 20), { code: SnapErrorCode.ReadOnly });
      assert.equal(errorOf(() => ro.purge(1)).code, SnapErrorCode.ReadOnly);
      assert.equal(errorOf(() => ro.releaseSnapDBs(snap(20, 3))).code, SnapErrorCode.ReadOnly);
      assert.deepEqual(hashes(dir), before);
    } finally {
      cleanup();
    }
  });

  test("the owning member (default mode) still sets broken files aside and removes db.tmp leftovers, as etcd", async () => {
    const { dir, cleanup, newest } = await damaged();
    try {
      const owner = new Snapshotter(dir, quiet);
      assert.equal(owner.load().metadata.index, 9);
      const names = readdirSync(dir).sort();
      assert.ok(names.includes(`${snapName(2, 12)}.broken`), names.join(" "));
      assert.ok(!names.includes(snapName(2, 12)));
      assert.ok(!names.some((n) => n.startsWith("db.tmp")));
      assert.ok(newest.endsWith(snapName(2, 12)));
    } finally {
      cleanup();
    }
  });
});
