// etcdctl 3.4 cluster and maintenance commands against our server and a real
// etcd 3.4: member list, endpoint status/health, alarm list, defrag,
// snapshot save, move-leader; member add/update/remove/promote on ours only
// (adding a member to a real single-member etcd would cost it its quorum).
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { EtcdStateMachine, imageHash } from "../../src/mvcc/index.ts";
import { unwrapSnapshotFile } from "../../src/v3rpc/index.ts";
import {
  ctl,
  type EtcdEndpoint,
  errLines,
  normRaft,
  startEtcd,
  startTs,
  type TsEndpoint,
} from "./support.ts";

let etcd: EtcdEndpoint;
let ts: TsEndpoint;
let dir: string;

before(async () => {
  etcd = await startEtcd();
  ts = await startTs(etcd.peerUrl, { raftTerm: 2n });
  dir = mkdtempSync(join(tmpdir(), "v3-snap-"));
});
after(async () => {
  await ts?.close();
  await etcd?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Endpoints, client URLs and ports differ; so do sizes and raft indexes (no raft, no bbolt here). */
function norm(s: string): string {
  return normRaft(s)
    .replace(/127\.0\.0\.1:\d+/g, "EP")
    .replace(/took = [0-9.]+[µmn]?s/g, "took = D")
    .replace(/"dbSize(InUse)?":\d+/g, '"dbSize$1":N');
}

async function same(args: string[], n: (s: string) => string = norm): Promise<[string, string]> {
  const [a, b] = await Promise.all([ctl(etcd.ep, args), ctl(ts.ep, args)]);
  const label = `etcdctl ${args.join(" ")}`;
  assert.equal(n(b.out), n(a.out), `${label}: stdout`);
  assert.equal(n(errLines(b)), n(errLines(a)), `${label}: stderr`);
  assert.equal(b.code, a.code, `${label}: exit code`);
  return [a.out, b.out];
}

test("member list (simple, json, table), endpoint health, alarm list, defrag", async () => {
  await same(["member", "list"]);
  await same(["member", "list", "-w", "json"]);
  await same(["member", "list", "-w", "table"]);
  await same(["endpoint", "health"]);
  await same(["endpoint", "health", "--cluster"]);
  await same(["alarm", "list"]);
  await same(["alarm", "disarm"]);
  await same(["defrag"]);
});

test("endpoint status: same fields; db size and raft indexes are the server's own", async () => {
  const statusNorm = (s: string) =>
    norm(s)
      .replace(/, \d+(\.\d+)? [kMG]?B, /, ", SIZE, ")
      .replace(/, (\d+), (\d+), (\d+), $/m, ", T, I, I, ");
  await same(["endpoint", "status"], statusNorm);
  // Not compared: `endpoint status --cluster`. etcdctl 3.4 dials the members' client URLs with
  // grpc-go's passthrough resolver, so the HTTP/2 :authority is "http://127.0.0.1:N"; Node's
  // HTTP/2 layer (nghttp2) refuses that authority with PROTOCOL_ERROR before gRPC sees it.
  // JSON: etcd's bbolt file size and raft indexes have no counterpart here; everything else matches.
  const [a, b] = await Promise.all([
    ctl(etcd.ep, ["endpoint", "status", "-w", "json"]),
    ctl(ts.ep, ["endpoint", "status", "-w", "json"]),
  ]);
  const strip = (out: string) => {
    const j = JSON.parse(out.replace(/127\.0\.0\.1:\d+/g, "EP"));
    for (const k of ["dbSize", "dbSizeInUse", "raftIndex", "raftAppliedIndex"]) delete j[0].Status[k];
    return j;
  };
  assert.deepEqual(strip(b.out), strip(a.out));
  const st = JSON.parse(b.out.replace(/:(\d{16,})/g, ':"$1"'))[0].Status;
  assert.equal(st.leader, st.header.member_id, "the leader is this member");
});

test("snapshot save: the file passes etcdctl's checks; its image restores our state", async () => {
  await Promise.all([ctl(etcd.ep, ["put", "s/k", "v"]), ctl(ts.ep, ["put", "s/k", "v"])]);
  const fa = join(dir, "etcd.db");
  const fb = join(dir, "ts.db");
  const [a, b] = await Promise.all([
    ctl(etcd.ep, ["snapshot", "save", fa]),
    ctl(ts.ep, ["snapshot", "save", fb]),
  ]);
  assert.equal(b.code, 0, b.err);
  assert.equal(b.out.replace(fb, "F"), a.out.replace(fa, "F"));
  const file = readFileSync(fb);
  assert.equal((file.length - 32) % 512, 0);
  const sm = new EtcdStateMachine();
  await sm.restore([unwrapSnapshotFile(file)]);
  assert.equal(sm.rev, ts.backend.sm.rev);
  assert.equal(sm.hashKV(0).hash, ts.backend.sm.hashKV(0).hash);
});

test("move-leader: an unknown member is a bad transferee, on both", async () => {
  await same(["move-leader", "1234"]);
});

test("member add/update/promote/remove against our server: etcd's output and errors", async () => {
  const add = await ctl(ts.ep, ["member", "add", "m2", "--peer-urls=http://127.0.0.1:1", "--learner"]);
  assert.equal(add.code, 0, add.err);
  // etcd prints both IDs with %16x (space-padded)
  const m = /^Member +([0-9a-f]+) added to cluster +([0-9a-f]+)\n/.exec(add.out);
  assert.ok(m, add.out);
  assert.match(
    add.out,
    /ETCD_NAME="m2"\nETCD_INITIAL_CLUSTER="default=http:\/\/127\.0\.0\.1:\d+,m2=http:\/\/127\.0\.0\.1:1"/,
  );
  assert.match(add.out, /ETCD_INITIAL_CLUSTER_STATE="existing"/);
  const id = m[1]!;
  const list = await ctl(ts.ep, ["member", "list"]);
  assert.match(list.out, new RegExp(`^${id}, unstarted, , http://127\\.0\\.0\\.1:1, , true$`, "m"));
  const again = await ctl(ts.ep, ["member", "add", "m3", "--peer-urls=http://127.0.0.1:1"]);
  assert.equal(errLines(again), "Error: etcdserver: Peer URLs already exists");
  const two = await ctl(ts.ep, ["member", "add", "m3", "--peer-urls=http://127.0.0.1:2", "--learner"]);
  assert.equal(errLines(two), "Error: etcdserver: too many learner members in cluster");
  const upd = await ctl(ts.ep, ["member", "update", id, "--peer-urls=http://127.0.0.1:3"]);
  assert.match(upd.out, new RegExp(`^Member +${id} updated in cluster +[0-9a-f]+\\n$`));
  const pro = await ctl(ts.ep, ["member", "promote", id]);
  assert.equal(
    errLines(pro),
    "Error: etcdserver: can only promote a learner member which is in sync with leader",
  );
  const rm = await ctl(ts.ep, ["member", "remove", id]);
  assert.match(rm.out, new RegExp(`^Member +${id} removed from cluster +[0-9a-f]+\\n$`));
  const rm2 = await ctl(ts.ep, ["member", "remove", id]);
  assert.equal(errLines(rm2), "Error: etcdserver: member not found");
});

test("auth: not supported, with etcd's answers where auth is simply off", async () => {
  await same(["auth", "disable"]);
  await same(["get", "x", "--user=root:pw"]);
  const en = await ctl(ts.ep, ["auth", "enable"]);
  assert.equal(en.code, 1);
  assert.match(errLines(en), /authentication is not supported/);
});

test("peer URL validation as etcd's (etcdctl checks most of it client-side already)", async () => {
  const { validatePeerUrls } = await import("../../src/v3rpc/index.ts");
  assert.deepEqual(validatePeerUrls([" http://b:2 ", "https://a:1"]), ["http://b:2", "https://a:1"].sort());
  for (const bad of [[], ["ftp://x:1"], ["http://x"], ["http://x:1/path"], ["nonsense"]])
    assert.throws(
      () => validatePeerUrls(bad),
      { message: "etcdserver: given member URLs are invalid" },
      String(bad),
    );
});

test("Maintenance.Hash changes with the state and is the hash of the image etcdctl snapshot save writes", async () => {
  const hash = async () =>
    (
      (await (await fetch(`${ts.url}/v3/maintenance/hash`, { method: "POST", body: "{}" })).json()) as {
        hash: number;
      }
    ).hash;
  const h1 = await hash();
  assert.equal(await hash(), h1, "the same state, the same hash");
  const f = join(dir, "hash.db");
  const saved = await ctl(ts.ep, ["snapshot", "save", f]);
  assert.equal(saved.code, 0, saved.err);
  assert.equal(await imageHash([unwrapSnapshotFile(readFileSync(f))]), h1);
  await ctl(ts.ep, ["put", "hash/k", "v"]);
  assert.notEqual(await hash(), h1, "a write changes the hash");
});
