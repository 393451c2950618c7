// Txn semantics (spec §3.6): compares, branches, nested txns, one revision,
// read-your-writes, pre-checks that abort everything, etcd's duplicate-key rule.
import assert from "node:assert/strict";
import { test } from "node:test";
import { create, type MessageInitShape, TxnRequestSchema } from "../../src/etcdpb/index.ts";
import { MvccErrorCode, validateTxn } from "../../src/mvcc/index.ts";
import { b, Harness, s } from "./support.ts";

type Op = MessageInitShape<typeof TxnRequestSchema>["success"] extends (infer T)[] | undefined ? T : never;
const put = (k: string, v: string, extra = {}): Op => ({
  request: { case: "requestPut", value: { key: b(k), value: b(v), ...extra } },
});
const get = (k: string, extra = {}): Op => ({
  request: { case: "requestRange", value: { key: b(k), ...extra } },
});
const del = (k: string, end?: string): Op => ({
  request: {
    case: "requestDeleteRange",
    value: { key: b(k), rangeEnd: end === undefined ? undefined : b(end) },
  },
});
const txnOp = (t: MessageInitShape<typeof TxnRequestSchema>): Op => ({
  request: { case: "requestTxn", value: t },
});
// result: 0 EQUAL 1 GREATER 2 LESS 3 NOT_EQUAL; target: 0 VERSION 1 CREATE 2 MOD 3 VALUE 4 LEASE
const cmp = (
  k: string,
  target: number,
  result: number,
  u: { case: string; value: unknown },
  rangeEnd?: string,
) =>
  ({
    key: b(k),
    target,
    result,
    targetUnion: u,
    rangeEnd: rangeEnd === undefined ? undefined : b(rangeEnd),
    // biome-ignore lint/suspicious/noExplicitAny: oneof literal
  }) as any;

test("txn: success branch, one revision for all writes, read-your-writes, per-op headers", () => {
  const h = new Harness();
  h.put("k", "v0"); // 2
  h.put("m", "z"); // 3
  const r = h.txn({
    compare: [cmp("k", 3, 0, { case: "value", value: b("v0") })],
    success: [get("k"), put("k", "v1"), get("k"), put("j", "x"), del("nope"), del("m")],
    failure: [put("k", "bad")],
  });
  assert.equal(r.succeeded, true);
  assert.equal(r.header.revision, 4n);
  const rs = r.responses.map((x: { response: { case: string; value: { header: { revision: bigint } } } }) => [
    x.response.case,
    x.response.value.header.revision,
  ]);
  assert.deepEqual(rs, [
    ["responseRange", 3n],
    ["responsePut", 4n],
    ["responseRange", 4n],
    ["responsePut", 4n],
    ["responseDeleteRange", 4n],
    ["responseDeleteRange", 4n],
  ]);
  assert.equal(s(r.responses[2].response.value.kvs[0].value), "v1");
  assert.equal(h.sm.rev, 4);
  assert.equal(h.get("m").count, 0n);
  // sub-revisions: k, j, then m's tombstone, in one revision
  const changes: [string, number, boolean][] = [];
  h.sm.store.changesBetween(4, 4, (_r, cs) => {
    for (const c of cs) changes.push([c.key, c.sub, c.tombstone]);
  });
  assert.deepEqual(changes, [
    ["k", 0, false],
    ["j", 1, false],
    ["m", 2, true],
  ]);
});

test("txn: compares on version/create/mod/value/lease, missing keys, ranges, every operator", () => {
  const h = new Harness();
  h.ok({ leaseGrant: { ID: 9n, TTL: 60n } });
  h.put("a", "5", { lease: 9n }); // 2
  h.put("a", "6", { lease: 9n }); // 3
  h.put("b", "7"); // 4
  const t = (c: ReturnType<typeof cmp>) => h.txn({ compare: [c] }).succeeded as boolean;
  assert.equal(t(cmp("a", 0, 0, { case: "version", value: 2n })), true);
  assert.equal(t(cmp("a", 0, 1, { case: "version", value: 1n })), true);
  assert.equal(t(cmp("a", 1, 0, { case: "createRevision", value: 2n })), true);
  assert.equal(t(cmp("a", 2, 2, { case: "modRevision", value: 4n })), true);
  assert.equal(t(cmp("a", 3, 3, { case: "value", value: b("5") })), true);
  assert.equal(t(cmp("a", 4, 0, { case: "lease", value: 9n })), true);
  // missing key: VALUE is always false, even NOT_EQUAL; others compare against 0
  assert.equal(t(cmp("zz", 3, 3, { case: "value", value: b("x") })), false);
  assert.equal(t(cmp("zz", 1, 0, { case: "createRevision", value: 0n })), true);
  assert.equal(t(cmp("zz", 0, 0, { case: "version", value: 0n })), true);
  // operand from another oneof member than the target counts as 0
  assert.equal(t(cmp("a", 0, 1, { case: "createRevision", value: 100n })), true);
  // range compare: must hold for every key in [a, c)
  assert.equal(t(cmp("a", 2, 1, { case: "modRevision", value: 2n }, "c")), true);
  assert.equal(t(cmp("a", 2, 1, { case: "modRevision", value: 3n }, "c")), false);
  // empty compare list is true; all compares must hold
  assert.equal(h.txn({}).succeeded, true);
  assert.equal(
    h.txn({
      compare: [
        cmp("a", 0, 0, { case: "version", value: 2n }),
        cmp("b", 0, 0, { case: "version", value: 9n }),
      ],
    }).succeeded,
    false,
  );
  // read-only txns do not change the revision
  assert.equal(h.sm.rev, 4);
});

test("txn: failure branch; nested txns evaluate against the pre-txn state; nested response headers are empty", () => {
  const h = new Harness();
  h.put("x", "1"); // 2
  const r = h.txn({
    compare: [cmp("x", 3, 0, { case: "value", value: b("nope") })],
    success: [put("x", "s")],
    failure: [
      put("x", "f"),
      txnOp({
        // sees x = "1" (pre-txn), not "f"
        compare: [cmp("x", 3, 0, { case: "value", value: b("1") })],
        success: [put("y", "nested-s"), get("x")],
        failure: [put("y", "nested-f")],
      }),
    ],
  });
  assert.equal(r.succeeded, false);
  assert.equal(s(h.get("x").kvs[0]!.value), "f");
  assert.equal(s(h.get("y").kvs[0]!.value), "nested-s");
  const nested = r.responses[1].response;
  assert.equal(nested.case, "responseTxn");
  assert.equal(nested.value.succeeded, true);
  assert.equal(nested.value.header.revision, 0n);
  assert.equal(s(nested.value.responses[1].response.value.kvs[0].value), "f", "ops see earlier writes");
  assert.equal(h.sm.rev, 3);
});

test("txn pre-checks abort the whole txn: ignore_value on a missing key, unknown lease, bad Range revision", () => {
  const h = new Harness();
  h.put("a", "1");
  const before = h.sm.rev;
  const e1 = h.cmd({ txn: { success: [put("b", "x"), put("zz", "", { ignoreValue: true })] } });
  assert.equal(e1.error?.etcdMessage, "etcdserver: key not found");
  const e2 = h.cmd({ txn: { success: [put("b", "x"), put("c", "y", { lease: 5n })] } });
  assert.equal(e2.error?.etcdMessage, "etcdserver: requested lease not found");
  const e3 = h.cmd({ txn: { success: [put("b", "x"), get("a", { revision: 99n })] } });
  assert.equal(e3.error?.code, MvccErrorCode.FutureRev);
  assert.equal(h.sm.rev, before);
  assert.equal(h.get("b").count, 0n);
  // only the chosen branch is checked
  const ok = h.txn({
    compare: [cmp("a", 3, 0, { case: "value", value: b("1") })],
    success: [put("b", "x")],
    failure: [put("c", "y", { lease: 5n })],
  });
  assert.equal(ok.succeeded, true);
});

test("txn validation: op limit is the longest list, nested budget, empty keys and ops, duplicate keys", () => {
  const v = (t: MessageInitShape<typeof TxnRequestSchema>, max = 128) => {
    try {
      validateTxn(create(TxnRequestSchema, t), max);
      return "ok";
    } catch (e) {
      return (e as { etcdMessage: string }).etcdMessage;
    }
  };
  const many = (n: number) => Array.from({ length: n }, (_, i) => put(`k${i}`, "v"));
  assert.equal(v({ success: many(3), failure: many(3) }, 3), "ok");
  assert.equal(v({ success: many(4) }, 3), "etcdserver: too many operations in txn request");
  assert.equal(
    v({ success: [txnOp({ success: many(2) })] }, 2),
    "etcdserver: too many operations in txn request",
  );
  assert.equal(
    v({ compare: [cmp("", 0, 0, { case: "version", value: 0n })] }),
    "etcdserver: key is not provided",
  );
  assert.equal(v({ success: [{}] }), "etcdserver: key not found");
  assert.equal(v({ success: [put("", "x")] }), "etcdserver: key is not provided");
  const dup = "etcdserver: duplicate key given in txn request";
  assert.equal(v({ success: [put("a", "1"), put("a", "2")] }), dup);
  assert.equal(v({ success: [put("a", "1")], failure: [put("a", "2")] }), "ok");
  assert.equal(v({ success: [del("a", "c"), put("b", "1")] }), dup);
  assert.equal(v({ success: [put("b", "1"), del("a", "c")] }), dup);
  assert.equal(v({ success: [del("a", "c"), del("b", "d")] }), "ok");
  assert.equal(v({ success: [put("a", "1"), get("a")] }), "ok");
  assert.equal(v({ success: [put("a", "1"), txnOp({ success: [put("a", "2")] })] }), dup);
  assert.equal(v({ success: [txnOp({ success: [put("a", "1")], failure: [put("a", "2")] })] }), "ok");
  assert.equal(v({ success: [del("a"), txnOp({ failure: [put("a", "2")] })] }), dup);
  assert.equal(
    v({ success: [txnOp({ success: [put("a", "1")] }), txnOp({ failure: [put("a", "2")] })] }),
    dup,
  );
});
