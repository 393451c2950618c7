// `tsraft wal dump`: output on a real data directory, filters, and errors.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { main } from "../../src/cli/tsraft.ts";
import { ConfChange, ConfState, Entry, EntryType, encodeConfChange } from "../../src/raftpb/index.ts";
import { DiskStorage } from "../../src/storage/index.ts";
import { ascii, ents, hs, quiet, tempDir } from "./helpers.ts";

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(args, { log: (l) => (out += `${l}\n`), error: (l) => (err += `${l}\n`) });
  return { code, out, err };
}

describe("tsraft wal dump", () => {
  test("finds the log in an etcd or tsraft-kv data directory (member/wal, member/snap)", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const s = await DiskStorage.open(join(dir, "member"), { ...quiet, metadata: ascii("kv") });
      await s.save({ hardState: hs(1, 1n, 2), entries: ents(1, 3) });
      await s.close();
      const r = await run(["wal", "dump", dir]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /WAL metadata:\n"kv"/);
      assert.match(r.out, /WAL entries: 2\nlastIndex=2/);
    } finally {
      cleanup();
    }
  });

  test("prints snapshot, metadata, hard state and entries; filters by index and type", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const s = await DiskStorage.open(dir, { ...quiet, metadata: ascii("member-1") });
      const cc = new Entry(1, 1, EntryType.EntryConfChange, encodeConfChange(new ConfChange(0, 1n)));
      await s.save({ hardState: hs(1, 1n, 1), entries: [cc, ...ents(2, 6)] });
      await s.createSnapshot(2, new ConfState([1n]), ascii("snap"));
      await s.save({ hardState: hs(2, 1n, 5), entries: ents(6, 8, 2) });
      await s.close();

      const all = await run(["wal", "dump", dir]);
      assert.equal(all.code, 0, all.err);
      assert.match(all.out, /^Snapshot:\nterm=1 index=2 Voters:\[1\]/);
      assert.match(all.out, /WAL metadata:\n"member-1"/);
      assert.match(all.out, /WAL HardState:\nTerm:2 Vote:1 Commit:5/);
      assert.match(all.out, /WAL entries: 5\nlastIndex=7/);
      assert.match(all.out, /\n {5}1 {10}3\tnormal {12}\t"e3"\n/);
      assert.match(all.out, /Entries shown: 5/);

      const from = await run(["wal", "dump", join(dir, "wal"), "--start-index", "6"]);
      assert.match(from.out, /Start dumping log entries from index 6/);
      assert.match(from.out, /Entries shown: 2/);
      assert.doesNotMatch(from.out, /"e5"/);

      // Without the snapshot directory the whole log is shown, conf change included.
      mkdirSync(join(dir, "empty"));
      const cfg = await run([
        "wal",
        "dump",
        join(dir, "wal"),
        "--snap-dir",
        join(dir, "empty"),
        "--type",
        "confchange",
      ]);
      assert.equal(cfg.code, 0, cfg.err);
      assert.match(cfg.out, /Snapshot:\nempty/);
      assert.match(cfg.out, /\tconfchange {8}\tv1/);
      assert.match(cfg.out, /Entries shown: 1/);
    } finally {
      cleanup();
    }
  });

  test("bad arguments and a directory without a WAL fail with a message", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const bad = await run(["wal", "dump", dir, "--type", "bogus"]);
      assert.notEqual(bad.code, 0);
      assert.match(bad.err, /unknown entry type "bogus"/);
      const neg = await run(["wal", "dump", dir, "--start-index", "-3"]);
      assert.notEqual(neg.code, 0);
      const none = await run(["wal", "dump", dir]);
      assert.equal(none.code, 1);
      assert.match(none.err, /wal: file not found/);
    } finally {
      cleanup();
    }
  });
});
