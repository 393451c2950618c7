// The MVCC store's KV semantics against etcd 3.4's (spec §3.2-3.7).
import assert from "node:assert/strict";
import { test } from "node:test";
import { MvccErrorCode, prefixEnd } from "../../src/mvcc/index.ts";
import { b, Harness, s } from "./support.ts";

const code = (c: string) => (e: unknown) => (e as { code?: string }).code === c;

test("revisions: a fresh store is at 1; each put bumps by one; create/mod/version per key", () => {
  const h = new Harness();
  assert.equal(h.sm.rev, 1);
  assert.equal(h.put("a", "1").header.revision, 2n);
  assert.equal(h.put("a", "2").header.revision, 3n);
  h.put("b", "x");
  const kv = h.get("a").kvs[0]!;
  assert.deepEqual([kv.createRevision, kv.modRevision, kv.version, s(kv.value)], [2n, 3n, 2n, "2"]);
  // delete ends the incarnation; a new put starts over at version 1
  assert.equal(h.del("a").header.revision, 5n);
  h.put("a", "3");
  const kv2 = h.get("a").kvs[0]!;
  assert.deepEqual([kv2.createRevision, kv2.modRevision, kv2.version], [6n, 6n, 1n]);
  // deleting nothing does not bump the revision
  const r = h.del("zzz");
  assert.equal(r.deleted, 0n);
  assert.equal(r.header.revision, 6n);
  assert.equal(h.sm.rev, 6);
});

test("range: single key, [key,end), from-key (\\0), all keys, prefix; header is the current revision", () => {
  const h = new Harness();
  for (const k of ["a", "ab", "abc", "b", "c\xff", "d"]) h.put(k, k);
  assert.deepEqual(h.keys("a"), ["a"]);
  assert.deepEqual(h.keys("a", { rangeEnd: b("b") }), ["a", "ab", "abc"]);
  assert.deepEqual(h.keys("b", { rangeEnd: new Uint8Array([0]) }), ["b", "c\xff", "d"]);
  assert.equal(h.get("\0", { rangeEnd: new Uint8Array([0]) }).count, 6n);
  assert.deepEqual(h.keys("ab", { rangeEnd: prefixEnd(b("ab")) }), ["ab", "abc"]);
  // end <= key: empty, not an error
  assert.deepEqual(h.keys("d", { rangeEnd: b("a") }), []);
  // missing key is not an error
  const miss = h.get("nope");
  assert.equal(miss.count, 0n);
  assert.equal(miss.header?.revision, 7n);
  assert.deepEqual(prefixEnd(new Uint8Array([0x61, 0xff])), new Uint8Array([0x62]));
  assert.deepEqual(prefixEnd(new Uint8Array([0xff, 0xff])), new Uint8Array([0]));
});

test("range: keys order byte-wise unsigned, not by UTF-16", () => {
  const h = new Harness();
  h.ok({ put: { key: new Uint8Array([0x80]), value: b("hi") } });
  h.ok({ put: { key: new Uint8Array([0x7f]), value: b("lo") } });
  h.ok({ put: { key: new Uint8Array([0xff, 0x01]), value: b("top") } });
  const r = h.get("\0", { rangeEnd: new Uint8Array([0]) });
  assert.deepEqual(
    r.kvs.map((kv) => [...kv.key]),
    [[0x7f], [0x80], [0xff, 0x01]],
  );
});

test("range: limit/more/count, count_only, keys_only, count ignores limit and filters", () => {
  const h = new Harness();
  for (const k of ["k1", "k2", "k3", "k4"]) h.put(k, `v${k}`);
  const all = { rangeEnd: b("l") };
  const r = h.get("k", { ...all, limit: 2n });
  assert.deepEqual([r.kvs.length, r.more, r.count], [2, true, 4n]);
  const r2 = h.get("k", { ...all, limit: 4n });
  assert.deepEqual([r2.kvs.length, r2.more], [4, false]);
  const c = h.get("k", { ...all, countOnly: true, limit: 1n });
  assert.deepEqual([c.kvs.length, c.more, c.count], [0, false, 4n]);
  const ko = h.get("k", { ...all, keysOnly: true });
  assert.deepEqual(
    ko.kvs.map((kv) => kv.value.length),
    [0, 0, 0, 0],
  );
  const f = h.get("k", { ...all, minModRevision: 3n, maxModRevision: 4n });
  assert.deepEqual(
    f.kvs.map((kv) => s(kv.key)),
    ["k2", "k3"],
  );
  assert.equal(f.count, 4n);
  const fc = h.get("k", { ...all, minCreateRevision: 4n });
  assert.deepEqual(
    fc.kvs.map((kv) => s(kv.key)),
    ["k3", "k4"],
  );
  assert.deepEqual(
    h.get("k", { ...all, maxCreateRevision: 2n }).kvs.map((kv) => s(kv.key)),
    ["k1"],
  );
});

test("range: sort by every target, both orders; target != KEY with NONE sorts ascending; limit after sort", () => {
  const h = new Harness();
  h.put("a", "3");
  h.put("b", "1");
  h.put("c", "2");
  h.put("b", "1b");
  h.put("b", "1c");
  h.put("c", "2b");
  const all = { rangeEnd: b("z") };
  assert.deepEqual(h.keys("a", { ...all, sortOrder: 2 }), ["c", "b", "a"]);
  assert.deepEqual(h.keys("a", { ...all, sortTarget: 1 }), ["a", "c", "b"]); // VERSION, NONE → ASCEND
  assert.deepEqual(h.keys("a", { ...all, sortTarget: 1, sortOrder: 2 }), ["b", "c", "a"]);
  assert.deepEqual(h.keys("a", { ...all, sortTarget: 2, sortOrder: 2 }), ["c", "b", "a"]); // CREATE
  assert.deepEqual(h.keys("a", { ...all, sortTarget: 3, sortOrder: 1 }), ["a", "b", "c"]); // MOD
  assert.deepEqual(h.keys("a", { ...all, sortTarget: 4, sortOrder: 1 }), ["b", "c", "a"]); // VALUE
  const r = h.get("a", { ...all, sortTarget: 3, sortOrder: 2, limit: 1n });
  assert.deepEqual([s(r.kvs[0]!.key), r.more, r.count], ["c", true, 3n]);
});

test("range at a past revision; future and compacted revisions are OUT_OF_RANGE errors", () => {
  const h = new Harness();
  h.put("k", "v1"); // 2
  h.put("k", "v2"); // 3
  h.del("k"); // 4
  h.put("k", "v3"); // 5
  assert.equal(s(h.get("k", { revision: 2n }).kvs[0]!.value), "v1");
  assert.equal(h.get("k", { revision: 2n }).header?.revision, 5n);
  assert.equal(s(h.get("k", { revision: 3n }).kvs[0]!.value), "v2");
  assert.equal(h.get("k", { revision: 4n }).count, 0n);
  assert.equal(h.get("k", { revision: 1n }).count, 0n);
  assert.throws(() => h.get("k", { revision: 6n }), code(MvccErrorCode.FutureRev));
  h.ok({ compaction: { revision: 3n } });
  assert.throws(() => h.get("k", { revision: 2n }), code(MvccErrorCode.Compacted));
  assert.equal(s(h.get("k", { revision: 3n }).kvs[0]!.value), "v2"); // at exactly C still works
  assert.equal(s(h.get("k").kvs[0]!.value), "v3");
});

test("compaction: errors exactly as etcd; keeps the newest version <= C unless deleted; revision unchanged", () => {
  const h = new Harness();
  h.put("a", "1"); // 2
  h.put("b", "1"); // 3
  h.del("b"); // 4
  h.put("a", "2"); // 5
  const e1 = h.cmd({ compaction: { revision: 6n } });
  assert.equal(e1.error?.code, MvccErrorCode.FutureRev);
  assert.equal(e1.error?.etcdMessage, "etcdserver: mvcc: required revision is a future revision");
  assert.equal(h.ok({ compaction: { revision: 4n } }).header.revision, 5n);
  const e2 = h.cmd({ compaction: { revision: 4n } });
  assert.equal(e2.error?.etcdMessage, "etcdserver: mvcc: required revision has been compacted");
  assert.equal(h.cmd({ compaction: { revision: 3n } }).error?.code, MvccErrorCode.Compacted);
  // a at rev 4 = "1" (kept), b at rev 4 = deleted (its tombstone is gone)
  assert.equal(s(h.get("a", { revision: 4n }).kvs[0]!.value), "1");
  assert.equal(h.get("b", { revision: 4n }).count, 0n);
  assert.equal(h.sm.store.keyCount, 1);
  assert.equal(h.ok({ compaction: { revision: 5n } }).header.revision, 5n); // compacting at current is allowed
  assert.equal(h.sm.rev, 5);
});

test("put: prev_kv, ignore_value, ignore_lease, lease attach/detach and etcd's errors", () => {
  const h = new Harness();
  assert.equal(h.put("k", "v1", { prevKv: true }).prevKv, undefined);
  const r = h.put("k", "v2", { prevKv: true });
  assert.equal(s(r.prevKv.value), "v1");
  assert.equal(h.cmd({ put: { key: b("") } }).error?.etcdMessage, "etcdserver: key is not provided");
  assert.equal(
    h.cmd({ put: { key: b("k"), value: b("x"), ignoreValue: true } }).error?.etcdMessage,
    "etcdserver: value is provided",
  );
  assert.equal(
    h.cmd({ put: { key: b("k"), lease: 5n, ignoreLease: true } }).error?.etcdMessage,
    "etcdserver: lease is provided",
  );
  assert.equal(
    h.cmd({ put: { key: b("nope"), ignoreValue: true } }).error?.etcdMessage,
    "etcdserver: key not found",
  );
  assert.equal(
    h.cmd({ put: { key: b("k"), value: b("x"), lease: 77n } }).error?.etcdMessage,
    "etcdserver: requested lease not found",
  );
  const rev = h.sm.rev;
  h.ok({ leaseGrant: { ID: 77n, TTL: 10n } });
  assert.equal(h.sm.rev, rev, "lease grant does not write a revision");
  h.put("k", "v3", { lease: 77n });
  assert.deepEqual([...h.sm.lessor.lookup(77n)!.keys], ["k"]);
  // ignore_value keeps the value, changes the lease (detaches)
  h.ok({ put: { key: b("k"), ignoreValue: true } });
  let kv = h.get("k").kvs[0]!;
  assert.deepEqual([s(kv.value), kv.lease, kv.version], ["v3", 0n, 4n]);
  assert.equal(h.sm.lessor.lookup(77n)!.keys.size, 0);
  h.put("k", "v4", { lease: 77n });
  h.ok({ put: { key: b("k"), value: b("v5"), ignoreLease: true } });
  kv = h.get("k").kvs[0]!;
  assert.deepEqual([s(kv.value), kv.lease], ["v5", 77n]);
  assert.deepEqual([...h.sm.lessor.lookup(77n)!.keys], ["k"]);
});

test("delete range: prev_kvs in key order, one revision, detaches leases", () => {
  const h = new Harness();
  h.ok({ leaseGrant: { ID: 1n, TTL: 100n } });
  h.put("p/a", "1", { lease: 1n });
  h.put("p/b", "2");
  h.put("q", "3");
  const r = h.del("p/", "p0", true);
  assert.equal(r.deleted, 2n);
  assert.deepEqual(
    r.prevKvs.map((kv: { key: Uint8Array; value: Uint8Array }) => [s(kv.key), s(kv.value)]),
    [
      ["p/a", "1"],
      ["p/b", "2"],
    ],
  );
  assert.equal(r.header.revision, 5n);
  assert.equal(h.sm.lessor.lookup(1n)!.keys.size, 0);
  assert.equal(h.get("q").count, 1n);
});

test("invalid sort options and unsafe integers are typed errors", () => {
  const h = new Harness();
  assert.equal(
    h.cmd({ range: { key: b("a"), sortTarget: 9 as 0 } }).error?.code,
    MvccErrorCode.InvalidSortOption,
  );
  assert.equal(
    h.cmd({ range: { key: b("a"), revision: 1n << 60n } }).error?.code,
    MvccErrorCode.UnsafeInteger,
  );
  assert.equal(h.cmd({ range: { key: b("") } }).error?.code, MvccErrorCode.EmptyKey);
});

test("apply: garbage payloads are a BadCommand result; empty payloads are no-ops; replayed indexes are skipped", () => {
  const h = new Harness();
  const [r1, r2] = h.sm.apply([
    { index: 1, data: new Uint8Array([0xff, 0xff, 0xff]) },
    { index: 2, data: new Uint8Array(0) },
  ]);
  assert.equal(r1!.error?.code, MvccErrorCode.BadCommand);
  assert.equal(r2!.error, undefined);
  const [r3] = h.sm.apply([{ index: 2, data: new Uint8Array([1]) }]);
  assert.equal(r3!.skipped, true);
  assert.equal(h.sm.appliedIndex, 2);
});

test("request IDs from the envelope come back with the result", () => {
  const h = new Harness();
  assert.equal(h.cmd({ header: { ID: 42n }, put: { key: b("a"), value: b("b") } }).id, 42n);
  assert.equal(h.cmd({ ID: 7n, put: { key: b("a"), value: b("b") } }).id, 7n);
});

test("alarms: activate/get/deactivate as etcd; NOSPACE blocks puts, txns with puts, lease grants; CORRUPT blocks all", () => {
  const h = new Harness();
  h.put("a", "1");
  const act = h.ok({ alarm: { action: 1, memberID: 0x8e9e05c52164694dn, alarm: 1 } });
  assert.deepEqual(
    act.alarms.map((a: { memberID: bigint; alarm: number }) => [a.memberID, a.alarm]),
    [[0x8e9e05c52164694dn, 1]],
  );
  assert.equal(h.ok({ alarm: { action: 1, memberID: 0x8e9e05c52164694dn, alarm: 1 } }).alarms.length, 1);
  assert.equal(
    h.cmd({ put: { key: b("a") } }).error?.etcdMessage,
    "etcdserver: mvcc: database space exceeded",
  );
  assert.equal(h.cmd({ leaseGrant: { ID: 1n, TTL: 5n } }).error?.code, MvccErrorCode.NoSpace);
  assert.equal(
    h.cmd({ txn: { success: [{ request: { case: "requestPut", value: { key: b("x") } } }] } }).error?.code,
    MvccErrorCode.NoSpace,
  );
  assert.equal(h.del("a").deleted, 1n, "deletes are allowed while NOSPACE");
  assert.equal(h.ok({ alarm: { action: 0 } }).alarms.length, 1);
  assert.equal(h.ok({ alarm: { action: 2, memberID: 1n, alarm: 1 } }).alarms.length, 0, "not active: empty");
  assert.equal(h.ok({ alarm: { action: 2, memberID: 0x8e9e05c52164694dn, alarm: 1 } }).alarms.length, 1);
  h.put("a", "2");
  h.ok({ alarm: { action: 1, memberID: 1n, alarm: 2 } });
  assert.equal(h.cmd({ deleteRange: { key: b("a") } }).error?.etcdMessage, "etcdserver: corrupt cluster");
});

test("hashKV: equal histories hash equal; compaction keeps the hash of revisions after it; errors", () => {
  const h1 = new Harness();
  const h2 = new Harness();
  for (const h of [h1, h2]) {
    h.put("a", "1");
    h.put("b", "2");
    h.del("a");
  }
  assert.equal(h1.sm.hashKV(0).hash, h2.sm.hashKV(0).hash);
  assert.equal(h1.sm.hashKV(0).compactRevision, -1);
  assert.notEqual(h1.sm.hashKV(3).hash, h1.sm.hashKV(4).hash);
  h2.put("c", "3");
  assert.equal(h1.sm.hashKV(4).hash, h2.sm.hashKV(4).hash);
  h1.ok({ compaction: { revision: 3n } });
  assert.equal(h1.sm.hashKV(0).compactRevision, 3);
  assert.throws(() => h1.sm.hashKV(3), code(MvccErrorCode.Compacted));
  assert.throws(() => h1.sm.hashKV(9), code(MvccErrorCode.FutureRev));
});

test("apply never throws on hostile commands: deep txn nesting is a TooManyOps (or BadCommand) result", () => {
  const h = new Harness();
  const varint = (n: number) => {
    const out: number[] = [];
    while (n >= 0x80) {
      out.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    out.push(n);
    return out;
  };
  const field = (tag: number, body: number[]) => [tag, ...varint(body.length), ...body];
  // TxnRequest{success: [RequestOp{request_txn: ...}]} 5000 levels deep, built as bytes.
  let txn = field(0x12, field(0x12, field(0x0a, [0x61]))); // innermost: success [put {key "a"}]
  for (let i = 0; i < 5000; i++) txn = field(0x12, field(0x22, txn));
  const data = Uint8Array.from(field(0x32, txn)); // InternalRaftRequest.txn
  const [r] = h.sm.apply([{ index: 1, data }]);
  assert.ok(
    r!.error?.code === MvccErrorCode.TooManyOps || r!.error?.code === MvccErrorCode.BadCommand,
    String(r!.error?.code),
  );
});
