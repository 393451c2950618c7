// `tsraft wal dump` is read-only and reads everything: every file of the data
// directory is byte-identical afterwards (a damaged newest snapshot, a torn
// WAL tail and a leftover db.tmp file included), IDs are printed in hex, and
// an unreadable snapshot is reported (stderr, exit status 1, a WARNING line
// when the dump has to start from an older one), never skipped in silence.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { main } from "../../src/cli/tsraft.ts";
import { discardLogger } from "../../src/index.ts";
import {
  ConfChange,
  ConfChangeType,
  ConfState,
  Entry,
  EntryType,
  encodeConfChange,
  HardState,
  Writer,
} from "../../src/raftpb/index.ts";
import { snapName } from "../../src/snap/index.ts";
import { DiskStorage } from "../../src/storage/index.ts";

const quiet = { logger: discardLogger };
const M1 = 0x2bd0915e30aa6e35n;
const M2 = 0xbd9563d4be65ef5bn;
const CLUSTER = 0xb09611d967888454n;
const REQUEST_ID = 0xef5b17c4a2b3c001n;

/** etcdserverpb.Metadata{NodeID, ClusterID}, as etcd writes it into the WAL. */
function etcdMetadata(node: bigint, cluster: bigint): Uint8Array {
  const w = new Writer(new Uint8Array(22));
  w.byte(0x08);
  w.varint64(node);
  w.byte(0x10);
  w.varint64(cluster);
  return w.buf.subarray(0, w.pos);
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Every file under `dir`, recursively, with the SHA-256 of its content. */
function hashes(dir: string, prefix = ""): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of readdirSync(join(dir, prefix)).sort()) {
    const rel = join(prefix, n);
    if (statSync(join(dir, rel)).isDirectory()) Object.assign(out, hashes(dir, rel));
    else
      out[rel] = createHash("sha256")
        .update(readFileSync(join(dir, rel)))
        .digest("hex");
  }
  return out;
}

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(args, { log: (l) => (out += `${l}\n`), error: (l) => (err += `${l}\n`) });
  return { code, out, err };
}

/**
 * An etcd-shaped member directory (member/wal, member/snap): etcd metadata,
 * a conf change as etcd writes it (request ID, member JSON context), a vote
 * for a hashed member ID, and snapshots at 3 and 5.
 */
async function memberDir(): Promise<{ dir: string; cleanup: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), "tsraft-dump-"));
  const s = await DiskStorage.open(join(dir, "member"), { ...quiet, metadata: etcdMetadata(M1, CLUSTER) });
  const ctx = text(`{"id":${M2},"peerURLs":["http://127.0.0.1:24002"],"isLearner":true}`);
  const cc = new ConfChange(ConfChangeType.ConfChangeAddLearnerNode, M2, ctx, REQUEST_ID);
  await s.save({
    hardState: new HardState(2, M1, 2),
    entries: [
      new Entry(2, 1, EntryType.EntryNormal, text("put a")),
      new Entry(2, 2, EntryType.EntryConfChange, encodeConfChange(cc)),
    ],
  });
  await s.save({
    hardState: new HardState(3, M2, 6),
    entries: [3, 4, 5, 6, 7].map((i) => new Entry(3, i, EntryType.EntryNormal, text(`put ${i}`))),
  });
  await s.createSnapshot(3, new ConfState([M1], [M2]), text("state at 3"));
  await s.createSnapshot(5, new ConfState([M1], [M2]), text("state at 5"));
  await s.close();
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

describe("tsraft wal dump is read-only", () => {
  test("a clean etcd-shaped directory: IDs in hex, every record read, exit 0, nothing changed", async () => {
    const { dir, cleanup } = await memberDir();
    try {
      const before = hashes(dir);
      const r = await run(["wal", "dump", dir]);
      assert.equal(r.code, 0, r.err);
      assert.equal(r.err, "");
      assert.match(
        r.out,
        /^Snapshot:\nterm=3 index=5 Voters:\[2bd0915e30aa6e35\] VotersOutgoing:\[\] Learners:\[bd9563d4be65ef5b\]/,
      );
      assert.match(
        r.out,
        /0000000000000003-0000000000000005\.snap\tterm=3 index=5 data=10B .*\[dumped from\]/,
      );
      assert.match(r.out, /0000000000000003-0000000000000003\.snap\tterm=3 index=3 data=10B .*\[in WAL\]/);
      assert.match(r.out, /WAL metadata:\nNodeID:2bd0915e30aa6e35 ClusterID:b09611d967888454\n/);
      assert.match(r.out, /WAL HardState:\nTerm:3 Vote:bd9563d4be65ef5b Commit:6\n/);
      assert.match(
        r.out,
        /WAL records: 7 entries \(index 1\.\.7\), 2 hard states, 3 snapshots, 1 metadata, 1 crc\n/,
      );
      assert.match(r.out, /WAL entries: 2\nlastIndex=7\n/);

      // The conf change, from the whole log: node and request IDs in hex, etcd's member JSON shown.
      const none = mkdtempSync(join(tmpdir(), "tsraft-dump-nosnap-"));
      const all = await run(["wal", "dump", join(dir, "member", "wal"), "--snap-dir", none]);
      rmSync(none, { recursive: true });
      assert.equal(all.code, 0, all.err);
      assert.match(all.out, /Snapshot:\nempty/);
      assert.match(
        all.out,
        /\n {5}2 {10}2\tconfchange {8}\tlbd9563d4be65ef5b id=ef5b17c4a2b3c001 context=\{"id":13660934810076835675,"peerURLs":\["http:\/\/127\.0\.0\.1:24002"\],"isLearner":true\}\n/,
      );
      assert.match(all.out, /WAL entries: 7\n/);
      assert.deepEqual(hashes(dir), before);
    } finally {
      cleanup();
    }
  });

  test("a damaged newest snapshot: named on stderr, WARNING, dump from the older one, exit 1, nothing renamed", async () => {
    const { dir, cleanup } = await memberDir();
    try {
      const snapDir = join(dir, "member", "snap");
      const newest = join(snapDir, snapName(3, 5));
      const b = new Uint8Array(readFileSync(newest));
      b[b.length - 2]! ^= 0x10;
      writeFileSync(newest, b);
      writeFileSync(join(snapDir, "db.tmp4711"), "leftover");
      const before = hashes(dir);

      const r = await run(["wal", "dump", dir]);
      assert.equal(r.code, 1);
      assert.match(r.out, /^Snapshot:\nterm=3 index=3 /);
      assert.match(r.out, /0000000000000003-0000000000000005\.snap\tUNREADABLE: snap: crc mismatch/);
      assert.match(
        r.out,
        /WARNING: the newest snapshot 0000000000000003-0000000000000005\.snap cannot be read; dumping from the older 0000000000000003-0000000000000003\.snap/,
      );
      assert.match(r.out, /WAL entries: 4\nlastIndex=7\n/);
      assert.match(
        r.err,
        /error: snapshot file .*0000000000000003-0000000000000005\.snap: \[ERR_SNAP_CRC_MISMATCH\]/,
      );
      assert.deepEqual(hashes(dir), before, "no .broken rename, no db.tmp cleanup, no write");
    } finally {
      cleanup();
    }
  });

  test("a snapshot at the last index: no entries follow, and the last index is the snapshot's", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tsraft-dump-"));
    try {
      const s = await DiskStorage.open(dir, { ...quiet, metadata: etcdMetadata(M1, CLUSTER) });
      await s.save({
        hardState: new HardState(2, M1, 3),
        entries: [1, 2, 3].map((i) => new Entry(2, i, EntryType.EntryNormal, text(`put ${i}`))),
      });
      await s.createSnapshot(3, new ConfState([M1]), text("state at 3"));
      await s.close();
      const r = await run(["wal", "dump", dir]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /^Snapshot:\nterm=2 index=3 /);
      assert.match(r.out, /WAL entries: 0\nlastIndex=3\n/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a torn WAL tail is the end of the log for the dump and is not repaired", async () => {
    const { dir, cleanup } = await memberDir();
    try {
      const walDir = join(dir, "member", "wal");
      const seg = join(walDir, readdirSync(walDir).filter((n) => n.endsWith(".wal"))[0]!);
      // Cut the file inside its last record: a crash mid-write.
      const data = readFileSync(seg);
      let end = data.length;
      while (end > 0 && data[end - 1] === 0) end--;
      truncateSync(seg, end - 3);
      const before = hashes(dir);
      const r = await run(["wal", "dump", dir]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /WAL HardState:\nTerm:3 Vote:bd9563d4be65ef5b Commit:6\n/);
      assert.deepEqual(hashes(dir), before, "the torn tail is still there");
    } finally {
      cleanup();
    }
  });
});
