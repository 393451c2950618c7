// The hard state's vote is a member ID (a 64-bit bigint, usually above 2^63
// for etcd's hashed IDs), not an index: the WAL must store any such value and
// refuse anything else with a typed error. (It was checked as a safe-integer
// index, so every hard state with a bigint vote, 0n included, was refused.)
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { discardLogger } from "../../src/index.ts";
import { Entry, HardState } from "../../src/raftpb/index.ts";
import { DiskStorage } from "../../src/storage/index.ts";
import { WAL, WalErrorCode, WalSnapshot } from "../../src/wal/index.ts";

const quiet = { logger: discardLogger };
const ETCD_ID = 0xbd9563d4be65ef5bn;

test("a hard state voting for a 64-bit member ID is saved and read back exactly", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tsraft-vote-"));
  try {
    const w = await WAL.create(join(dir, "wal"), new Uint8Array([1]), quiet);
    await w.save(new HardState(1, 0n, 0), [new Entry(1, 1, 0, new Uint8Array([7]))]);
    await w.save(new HardState(2, ETCD_ID, 1), []);
    await w.save(new HardState(3, 0xffffffffffffffffn, 1), []);
    await w.close();
    const r = await WAL.openForRead(join(dir, "wal"), new WalSnapshot(), quiet);
    const { hardState } = await r.readAll();
    assert.deepEqual([hardState.term, hardState.vote, hardState.commit], [3, 0xffffffffffffffffn, 1]);

    // The same through DiskStorage, the way a raft loop uses it.
    const s = await DiskStorage.open(join(dir, "ds"), quiet);
    await s.save({ hardState: new HardState(5, ETCD_ID, 0), entries: [], mustSync: true });
    await s.close();
    const again = await DiskStorage.open(join(dir, "ds"), quiet);
    assert.equal(again.initialState().hardState.vote, ETCD_ID);
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a vote that is not a 64-bit bigint is refused with ERR_WAL_INVALID_ARGUMENT", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tsraft-vote-"));
  try {
    const w = await WAL.create(join(dir, "wal"), new Uint8Array([1]), quiet);
    for (const vote of [1, -1n, 1n << 64n] as unknown as bigint[]) {
      await assert.rejects(w.save(new HardState(1, vote, 0), []), { code: WalErrorCode.InvalidArgument });
    }
    await w.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
