// etcdctl 3.4 against our single-member v3 server and a real etcd 3.4, the
// same commands in the same order: KV, txn, compaction, hashkv. Outputs must
// be identical except raft terms/indexes (no raft in the single-member server).
import assert from "node:assert/strict";
import { test } from "node:test";
import { ctl, type EtcdEndpoint, errLines, etcdAndTsForFile, normRaft, type TsEndpoint } from "./support.ts";

let etcd: EtcdEndpoint;
let ts: TsEndpoint;

etcdAndTsForFile((e, t) => {
  etcd = e;
  ts = t;
});

/** Runs one etcdctl command on both and asserts the same exit code, stdout and (filtered) stderr. */
async function same(args: string[], input?: string, norm: (s: string) => string = normRaft): Promise<string> {
  const [a, b] = await Promise.all([ctl(etcd.ep, args, input), ctl(ts.ep, args, input)]);
  const label = `etcdctl ${args.join(" ")}`;
  assert.equal(norm(b.out), norm(a.out), `${label}: stdout`);
  assert.equal(errLines(b), errLines(a), `${label}: stderr`);
  assert.equal(b.code, a.code, `${label}: exit code`);
  return a.out;
}

test("put/get: plain, prefix, range, from-key, rev, limit, keys-only, value-only, sort, json", async () => {
  for (const [k, v] of [
    ["foo", "bar"],
    ["foo1", "v1"],
    ["foo2", "v2"],
    ["fop", "x"],
    ["zzz", "last"],
    ["foo1", "v1b"],
  ])
    assert.equal(await same(["put", k!, v!]), "OK\n");
  assert.equal(await same(["get", "foo"]), "foo\nbar\n");
  await same(["get", "foo", "--prefix"]);
  await same(["get", "foo", "fop"]);
  await same(["get", "foo1", "--from-key"]);
  await same(["get", "", "--prefix", "--keys-only"]);
  await same(["get", "foo1", "--rev=3"]);
  await same(["get", "foo1", "--rev=99"]);
  await same(["get", "foo", "--prefix", "--limit=2", "-w", "json"]);
  await same(["get", "foo", "--prefix", "--count-only", "-w", "json"]);
  await same(["get", "foo", "--prefix", "--print-value-only"]);
  await same(["get", "f", "--prefix", "--order=DESCEND", "--sort-by=MODIFY"]);
  await same(["get", "f", "--prefix", "--order=ASCEND", "--sort-by=VERSION", "--limit=1"]);
  await same(["get", "f", "--prefix", "--sort-by=CREATE", "-w", "json"]);
  await same(["get", "f", "--prefix", "--order=DESCEND", "--sort-by=VALUE"]);
  await same(["get", "foo", "--prefix", "--consistency=s", "-w", "json"]);
  await same(["get", "nothing-here", "-w", "json"]);
  await same(["get", "foo", "-w", "fields"]);
  await same(["get", "foo", "-w", "protobuf"]);
  await same(["get", "foo", "--prefix", "--min-mod-revision=4", "--max-create-revision=5", "-w", "json"]);
});

test("put flags and del: prev-kv, ignore-value, ignore-lease, errors; del prefix/from-key/range", async () => {
  await same(["put", "pk", "one"]);
  await same(["put", "pk", "two", "--prev-kv"]);
  await same(["put", "pk", "--ignore-value"]);
  await same(["get", "pk", "-w", "json"]);
  await same(["put", "missing", "--ignore-value"]);
  await same(["put", "pk", "v", "--ignore-value"]);
  await same(["put", "pk", "v", "--lease=1234abcd"]);
  await same(["del", "pk", "--prev-kv"]);
  await same(["del", "pk"]);
  for (const k of ["d/a", "d/b", "d/c", "e"]) await same(["put", k, k]);
  await same(["del", "d/", "--prefix", "--prev-kv", "-w", "json"]);
  await same(["put", "d/x", "1"]);
  await same(["del", "d/x", "e0"]);
  await same(["del", "zz", "--from-key"]);
});

test("txn from stdin: success and failure branches, every compare target, nested gets", async () => {
  await same(["put", "t1", "a"]);
  await same(["put", "t2", "b"]);
  const txn1 = [
    'value("t1") = "a"',
    'version("t2") > "0"',
    "",
    "put t1 aa",
    "get t2",
    "del t3",
    "",
    "put t1 bad",
    "",
  ].join("\n");
  await same(["txn"], txn1);
  const txn2 = ['mod("t1") < "3"', "", "put t9 never", "", "put t2 bb", "get t1 --prefix", ""].join("\n");
  await same(["txn"], txn2);
  await same(["txn", "-w", "json"], ['create("t1") = "2"', "", "get t1", "", ""].join("\n"));
  await same(["txn", "-i"], ['c("zz") = "0"', "", "put zz 1", "", ""].join("\n"));
  await same(["txn"], ['val("nope") != "x"', "", "put a b", "", "put a c", ""].join("\n"));
  await same(["txn"], ["", "put dup 1", "put dup 2", "", ""].join("\n"));
  await same(["get", "", "--prefix"]);
});

test("compaction, reads at compacted revisions, endpoint hashkv (etcd's own hash)", async () => {
  await same(["endpoint", "hashkv"], undefined, (s) => s.replace(/127\.0\.0\.1:\d+/g, "EP"));
  await same(["compaction", "5"]);
  await same(["compaction", "5"]);
  await same(["compaction", "9999"]);
  await same(["get", "foo1", "--rev=4"]);
  await same(["get", "foo1", "--rev=5"]);
  await same(["endpoint", "hashkv", "-w", "json"], undefined, (s) =>
    normRaft(s).replace(/127\.0\.0\.1:\d+/g, "EP"),
  );
  await same(["endpoint", "hashkv", "--rev=7"], undefined, (s) => s.replace(/127\.0\.0\.1:\d+/g, "EP"));
  await same(["compaction", "8", "--physical"]);
  await same(["endpoint", "hashkv"], undefined, (s) => s.replace(/127\.0\.0\.1:\d+/g, "EP"));
});
