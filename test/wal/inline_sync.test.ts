// WAL.save with inlineSync: the fdatasync runs on the calling thread
// (FileSystem.fdatasyncSync) and is as durable and as checked as the pooled one.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { WAL, WalError, WalErrorCode, WalSnapshot } from "../../src/wal/index.ts";
import { ascii, ents, FaultFS, hs, quiet, tempDir } from "./helpers.ts";

test("inlineSync syncs on the calling thread; what it saved reads back", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const fs = new FaultFS();
    const wdir = join(dir, "wal");
    const w = await WAL.create(wdir, ascii("meta"), { ...quiet, fs });
    const pooled = fs.calls.fdatasync ?? 0;
    await w.save(hs(1, 1n, 1), ents(1, 2), false, { inlineSync: true });
    assert.equal(fs.calls.fdatasyncSync, 1);
    assert.equal(fs.calls.fdatasync ?? 0, pooled, "no pooled sync for an inline save");
    await w.save(hs(1, 1n, 2), ents(2, 3));
    assert.equal(fs.calls.fdatasync, pooled + 1, "without the option: the pool");
    await w.close();
    const r = await WAL.open(wdir, new WalSnapshot(), quiet);
    const got = await r.readAll();
    assert.deepEqual(
      got.entries.map((e) => e.index),
      [1, 2],
    );
    assert.equal(got.hardState.commit, 2);
    await r.close();
  } finally {
    cleanup();
  }
});

test("EIO from an inline fdatasync: the same typed error, and the WAL refuses further writes", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const fs = new FaultFS();
    const w = await WAL.create(join(dir, "wal"), ascii("meta"), { ...quiet, fs });
    await w.save(hs(1, 1n, 1), ents(1, 2), false, { inlineSync: true });
    fs.inject("fdatasync", "EIO");
    const err = await w.save(hs(1, 1n, 1), ents(2, 3), false, { inlineSync: true }).then(
      () => assert.fail("save must fail"),
      (e: unknown) => e as WalError,
    );
    assert.ok(err instanceof WalError);
    assert.equal(err.code, WalErrorCode.IO);
    assert.equal((err.cause as { code: string }).code, "EIO");
    const again = await w.save(hs(1, 1n, 1), ents(3, 4)).catch((e: WalError) => e);
    assert.equal((again as WalError).code, WalErrorCode.Failed);
    await w.close();
  } finally {
    cleanup();
  }
});

test("a file system without fdatasyncSync: inlineSync falls back to the pooled sync", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const fs = new FaultFS();
    (fs as { fdatasyncSync?: unknown }).fdatasyncSync = undefined;
    const w = await WAL.create(join(dir, "wal"), ascii("meta"), { ...quiet, fs });
    const pooled = fs.calls.fdatasync ?? 0;
    await w.save(hs(1, 1n, 1), ents(1, 2), false, { inlineSync: true });
    assert.equal(fs.calls.fdatasync, pooled + 1);
    await w.close();
  } finally {
    cleanup();
  }
});
