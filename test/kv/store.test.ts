// The key-value state machine: revisions, compare-and-swap, deletes, ranges,
// command encoding and snapshots.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Command, decodeCommand, encodeCommand, Op } from "../../src/kv/command.ts";
import { KvStore, serializeSnapshot, serializeSnapshotAsync } from "../../src/kv/store.ts";
import { DecodeError } from "../../src/raftpb/index.ts";

const enc = new TextEncoder();
const put = (key: string, value: string, expected = -1) =>
  new Command(Op.Put, enc.encode(key), enc.encode(value), expected);
const del = (key: string, expected = -1) =>
  new Command(Op.Delete, enc.encode(key), new Uint8Array(), expected);

test("every successful write bumps the revision; versions count writes per key", () => {
  const s = new KvStore();
  assert.deepEqual(s.apply(put("a", "1")), { revision: 1, ok: true, prevRevision: 0 });
  assert.deepEqual(s.apply(put("b", "2")), { revision: 2, ok: true, prevRevision: 0 });
  assert.deepEqual(s.apply(put("a", "3")), { revision: 3, ok: true, prevRevision: 1 });
  const a = s.get("a")!;
  assert.equal(new TextDecoder().decode(a.value), "3");
  assert.equal(a.createRevision, 1);
  assert.equal(a.modRevision, 3);
  assert.equal(a.version, 2);
});

test("compare-and-swap succeeds only on the current mod revision (0 = absent)", () => {
  const s = new KvStore();
  assert.equal(s.apply(put("k", "x", 5)).error, "REVISION_MISMATCH");
  assert.equal(s.revision, 0, "a failed CAS does not advance the revision");
  assert.equal(s.apply(put("k", "x", 0)).ok, true);
  assert.equal(s.apply(put("k", "y", 0)).error, "REVISION_MISMATCH");
  assert.equal(s.apply(put("k", "y", 1)).ok, true);
  assert.equal(s.apply(del("k", 1)).error, "REVISION_MISMATCH");
  assert.equal(s.apply(del("k", 2)).ok, true);
  assert.equal(s.get("k"), undefined);
});

test("deleting a missing key fails without a revision bump", () => {
  const s = new KvStore();
  assert.deepEqual(s.apply(del("nope")), { revision: 0, ok: false, error: "KEY_NOT_FOUND", prevRevision: 0 });
});

test("range returns keys with the prefix in byte order, limited", () => {
  const s = new KvStore();
  for (const k of ["b/2", "a/1", "b/1", "b/10", "c"]) s.apply(put(k, k));
  assert.deepEqual(
    s.range("b/").map((kv) => kv.key),
    ["b/1", "b/10", "b/2"],
  );
  assert.deepEqual(
    s.range("", 2).map((kv) => kv.key),
    ["a/1", "b/1"],
  );
});

test("commands round-trip through their binary form and garbage is a DecodeError", () => {
  const c = new Command(Op.Put, enc.encode("key"), enc.encode("value"), 42);
  const d = decodeCommand(encodeCommand(c));
  assert.deepEqual(
    { ...d, key: [...d.key], value: [...d.value] },
    { ...c, key: [...c.key], value: [...c.value] },
  );
  const x = decodeCommand(encodeCommand(del("z")));
  assert.equal(x.op, Op.Delete);
  assert.equal(x.expectedRevision, -1);
  for (const bad of [[], [9], [1, 1, 1, 5, 0x61]])
    assert.throws(() => decodeCommand(Uint8Array.from(bad)), DecodeError);
});

test("a snapshot restores keys, revisions and the application blob exactly", () => {
  const s = new KvStore();
  s.apply(put("a", "1"));
  s.apply(put("b", "2"));
  s.apply(put("a", "3"));
  s.apply(del("b"));
  const snap = s.snapshot(enc.encode("members"));
  const t = new KvStore();
  t.apply(put("junk", "x"));
  const extra = t.restore(snap);
  assert.equal(new TextDecoder().decode(extra), "members");
  assert.equal(t.revision, 4);
  assert.equal(t.get("junk"), undefined);
  assert.deepEqual(t.get("a"), s.get("a"));
  assert.throws(() => t.restore(Uint8Array.from([1, 2, 3, 4, 5])), DecodeError);
  assert.throws(() => t.restore(snap.subarray(0, snap.length - 1)), DecodeError);
});

test("the sliced asynchronous snapshot equals the one-shot snapshot, multi-byte keys included", async () => {
  const s = new KvStore();
  for (let i = 0; i < 50; i++) s.apply(put(`k${i}-é漢😀`, `v${i}`));
  s.apply(del("k3-é漢😀"));
  const cap = s.capture();
  // Writes after the capture do not leak into it: records are immutable.
  s.apply(put("k1-é漢😀", "changed"));
  const extra = enc.encode("x");
  const sync = serializeSnapshot(cap, extra);
  const sliced = await serializeSnapshotAsync(cap, extra, 7);
  assert.deepEqual(sliced, sync);
  const t = new KvStore();
  t.restore(sliced);
  assert.equal(t.size, 49);
  assert.equal(new TextDecoder().decode(t.get("k1-é漢😀")!.value), "v1");
  assert.equal(t.revision, 51);
});
