// etcdctl 3.4's cluster and maintenance commands against a three-member
// tsraft-kv and a three-member etcd 3.4: member list, endpoint
// status/health/hashkv with --cluster (etcdctl dials every member's client
// URL from MemberList: the HTTP/2 :authority repair), alarm list, defrag,
// move-leader (to a follower by ID; from a follower-only endpoint list;
// MoveLeader sent to a follower), and a learner added with `member add
// --learner`, started as etcd's printed instructions say (--initial-cluster
// ... --initial-cluster-state existing), refused linearizable reads,
// promoted, and a member removed.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { create, Maintenance } from "../../src/etcdpb/index.ts";
import { etcdServiceDefinition } from "../../src/v3rpc/index.ts";
import {
  assertSame,
  both,
  ctl,
  EtcdCluster,
  errLines,
  freePort,
  norm,
  TsCluster,
  v3Status,
  waitFor,
} from "./support.ts";

let ts: TsCluster;
let etcd: EtcdCluster;

before(async () => {
  [ts, etcd] = await Promise.all([TsCluster.start(3), EtcdCluster.start(3)]);
});
after(async () => {
  await Promise.all([ts?.close(), etcd?.close()]);
});

/** Tables: column widths follow the longest cell (IDs differ in length): collapse padding and rules. */
const normTable = (s: string) =>
  norm(s)
    .replace(/[-+]{3,}\n/g, "RULE\n")
    .replace(/ +/g, " ");
/**
 * Endpoint status lines: db sizes and raft terms/indexes are each system's
 * own, and which member (in ID order) leads is chance: the IS LEADER column
 * goes too (tests count the leaders themselves).
 */
const normStatus = (s: string) =>
  normTable(
    s
      .replace(
        /, \d+(\.\d+)? [kMG]?B, (true|false), (true|false), \d+, \d+, \d+, /g,
        ", SIZE, L, $3, T, I, I, ",
      )
      .replace(
        /\|\s+\d+(\.\d+)? [kMG]?B\s+\|\s+(true|false)\s+\|\s+(true|false)\s+\|\s+\d+\s+\|\s+\d+\s+\|\s+\d+\s+\|/g,
        "| SIZE | L | $3 | T | I | I |",
      ),
  );
/**
 * Lists of members come in ID order (random IDs; checked on its own below), and
 * `endpoint health` in the order members answer: such outputs are compared
 * as sets of lines, every ID just "ID".
 */
const sortLines = (s: string) => norm(s).replace(/ID\d+/g, "ID").split("\n").sort().join("\n");
const anyOrder = (n: (s: string) => string) => (s: string) => sortLines(n(s));

async function same(tsEp: string | string[], etcdEp: string | string[], args: string[], n = norm) {
  const r = await both(tsEp, etcdEp, args);
  assertSame(args, r.etcd, r.ts, n);
  assert.equal(r.ts.code, 0, `etcdctl ${args.join(" ")}: ${r.ts.err}`);
  return r;
}

test("member list, endpoint status/health/hashkv with --cluster, alarm list, defrag: as etcd's", async () => {
  const [t, e] = [ts.eps(), etcd.eps()];
  // An empty in-memory store reports dbSize 0 (etcd's bbolt file is never empty), which
  // -w json then omits as Go omits zero fields: write something first.
  await same(t[0]!, e[0]!, ["put", "some", "thing"]);
  // Members are listed in ID order (unsigned), as etcd's MemberList sorts them.
  const ids = (await ctl(t[1]!, ["member", "list"])).out
    .trim()
    .split("\n")
    .map((l) => BigInt(`0x${l.split(",")[0]}`));
  assert.deepEqual(
    ids,
    [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  for (let i = 0; i < 3; i++) {
    await same(t[i]!, e[i]!, ["member", "list"], sortLines);
    await same(t[i]!, e[i]!, ["member", "list", "-w", "json"], sortLines);
  }
  await same(t[0]!, e[0]!, ["member", "list", "-w", "table"], anyOrder(normTable));
  // --cluster: etcdctl takes the client URLs from MemberList ("http://127.0.0.1:N") and dials
  // them as they are, so the :authority of those connections is a URL (the repair in src/v3rpc).
  const st = await same(t[1]!, e[1]!, ["endpoint", "status", "--cluster"], anyOrder(normStatus));
  assert.equal(st.ts.out.trim().split("\n").length, 3);
  assert.equal(st.ts.out.match(/, true, false, /g)?.length, 1, `one leader: ${st.ts.out}`);
  await same(t[1]!, e[1]!, ["endpoint", "status", "--cluster", "-w", "table"], anyOrder(normStatus));
  await same(t, e, ["endpoint", "status", "-w", "table"], anyOrder(normStatus));
  const js = await both(t[2]!, e[2]!, ["endpoint", "status", "--cluster", "-w", "json"]);
  const shape = (out: string) =>
    (JSON.parse(out.replace(/:(\d{16,})/g, ':"$1"')) as { Status: Record<string, unknown> }[]).map((x) =>
      Object.keys(x.Status).sort().join(","),
    );
  assert.deepEqual(shape(js.ts.out), shape(js.etcd.out));
  await same(t[0]!, e[0]!, ["endpoint", "health", "--cluster"], sortLines);
  await same(t, e, ["endpoint", "health"], sortLines);
  // Every member of a cluster holds the same history: one hash (each system its own function).
  const hk = await ctl(t[0]!, ["endpoint", "hashkv", "--cluster"]);
  assert.equal(hk.code, 0, hk.err);
  const hashes = new Set(
    hk.out
      .trim()
      .split("\n")
      .map((l) => l.split(", ")[1]),
  );
  assert.equal(hashes.size, 1, hk.out);
  await same(t[0]!, e[0]!, ["alarm", "list"]);
  await same(t[1]!, e[1]!, ["defrag", "--cluster"]);
});

test("move-leader: to a follower by ID through all endpoints; not from a follower's endpoint; MoveLeader on a follower is 'not leader'", async () => {
  const [t, e] = [ts.eps(), etcd.eps()];
  const [tf, ef] = [await ts.followerEps(), await etcd.followerEps()];
  const [tl, el] = [await ts.leaderEp(), await etcd.leaderEp()];
  // Only a follower's endpoint: etcdctl itself finds no leader to ask (the same on etcd).
  const none = await both(tf[0]!, ef[0]!, ["move-leader", await ts.idOf(tf[1]!)]);
  none.same();
  assert.match(errLines(none.ts), /no leader endpoint given/);
  // The MoveLeader RPC sent to a follower: FAILED_PRECONDITION "etcdserver: not leader" from both.
  const moveOn = async (ep: string, target: string) => {
    const c = new (grpc.makeGenericClientConstructor(etcdServiceDefinition(Maintenance), "Maintenance"))(
      ep,
      grpc.credentials.createInsecure(),
    );
    try {
      return await new Promise<{ code: number; details: string }>((res) =>
        c.MoveLeader(
          create(Maintenance.method.moveLeader.input, { targetID: BigInt(`0x${target}`) }),
          { deadline: Date.now() + 10_000 },
          (err: grpc.ServiceError | null) => res(err === null ? { code: 0, details: "" } : err),
        ),
      );
    } finally {
      c.close();
    }
  };
  const [mt, me] = await Promise.all([
    moveOn(tf[0]!, await ts.idOf(tf[1]!)),
    moveOn(ef[0]!, await etcd.idOf(ef[1]!)),
  ]);
  assert.deepEqual(
    { code: mt.code, details: mt.details },
    { code: me.code, details: me.details },
    "MoveLeader on a follower",
  );
  assert.equal(mt.details, "etcdserver: not leader");
  // To an unknown member: a bad transferee on both.
  const bad = await both(t, e, ["move-leader", "1234"]);
  bad.same();
  assert.match(errLines(bad.ts), /bad leader transferee/);
  // To a follower by ID: the leader found among the endpoints moves leadership to it.
  const [tTarget, eTarget] = [tf[1]!, ef[1]!];
  const r = await both(t, e, ["move-leader", await ts.idOf(tTarget)]);
  // Each cluster's own target ID (the tsraft one was passed to both above: redo etcd's with its own).
  const re = await ctl(e.join(","), ["move-leader", await etcd.idOf(eTarget)]);
  assertSame(["move-leader", "ID"], re, r.ts);
  assert.match(r.ts.out, /^Leadership transferred from [0-9a-f]+ to [0-9a-f]+\n$/);
  assert.equal(await ts.leaderEp(), tTarget);
  assert.equal(await etcd.leaderEp(), eTarget);
  assert.notEqual(tTarget, tl);
  assert.notEqual(eTarget, el);
});

test("member add --learner, start it with --initial-cluster-state existing, learner limits, promote, remove", async () => {
  const t = ts.eps();
  const e = etcd.eps();
  // The new members' addresses.
  const slot = await ts.addSlot("m4");
  const ePeer = `http://127.0.0.1:${await freePort()}`;
  const eClient = `http://127.0.0.1:${await freePort()}`;
  // Right after the move-leader above, etcd's new leader has not yet seen
  // every member connected for long enough and refuses with "unhealthy
  // cluster" (its strict reconfiguration check); clients retry, so do we.
  const addRetrying = async (ep: string, peer: string) => {
    for (let i = 0; ; i++) {
      const r = await ctl(ep, ["member", "add", "n4", "--learner", `--peer-urls=${peer}`]);
      if (r.code === 0 || i >= 20 || !/unhealthy cluster/.test(r.err)) return r;
      await new Promise((res) => setTimeout(res, 500));
    }
  };
  const [addT, addE] = await Promise.all([addRetrying(t[1]!, slot.peer), addRetrying(e[1]!, ePeer)]);
  assert.equal(addT.code, 0, addT.err);
  assert.equal(addE.code, 0, addE.err);
  assertSame(["member", "add", "--learner"], addE, addT);
  const add = { ts: addT };
  // etcd's printed instructions, used as they are.
  const envOf = (out: string) =>
    Object.fromEntries([...out.matchAll(/^(ETCD_[A-Z_]+)="(.*)"$/gm)].map((m) => [m[1]!, m[2]!]));
  const envT = envOf(add.ts.out);
  const envE = envOf(addE.out);
  assert.equal(envT.ETCD_INITIAL_CLUSTER_STATE, "existing");
  assert.equal(envT.ETCD_INITIAL_ADVERTISE_PEER_URLS, slot.peer);
  const idT = /Member +([0-9a-f]+) added/.exec(add.ts.out)![1]!;
  const idE = /Member +([0-9a-f]+) added/.exec(addE.out)![1]!;
  // Unstarted: listed without name and client URLs, as etcd lists it.
  await same(t[0]!, e[0]!, ["member", "list"], sortLines);
  // A second learner is refused while the first exists (etcd's limit of one).
  const two = await both(t[0]!, e[0]!, [
    "member",
    "add",
    "n5",
    "--learner",
    "--peer-urls=http://127.0.0.1:1",
  ]);
  two.same();
  assert.match(errLines(two.ts), /too many learner members/);
  // A learner that never started is not in sync: promote refused, with etcd's words.
  const early = await Promise.all([
    ctl(t[0]!, ["member", "promote", idT]),
    ctl(e[0]!, ["member", "promote", idE]),
  ]);
  assertSame(["member", "promote"], early[1], early[0]);
  assert.match(errLines(early[0]), /learner member which is in sync with leader/);

  await ts.startMember(slot, [
    "--name",
    envT.ETCD_NAME!,
    "--initial-cluster",
    envT.ETCD_INITIAL_CLUSTER!,
    "--initial-cluster-state",
    envT.ETCD_INITIAL_CLUSTER_STATE!,
  ]);
  const e4 = etcd.clients.push(eClient) - 1;
  etcd.peers.push(ePeer);
  etcd.procs.push(etcd.spawnMember(e4, envE.ETCD_INITIAL_CLUSTER!, "existing", envE.ETCD_NAME!));
  const learnerT = slot.client.replace("http://", "");
  const learnerE = eClient.replace("http://", "");
  await waitFor("etcd's learner serving", async () => (await v3Status(learnerE)).id === idE, 30_000, 200);
  await waitFor(
    "both learners listed as started",
    async () => {
      const [a, b] = await Promise.all([ctl(t[0]!, ["member", "list"]), ctl(e[0]!, ["member", "list"])]);
      return !/unstarted/.test(a.out) && !/unstarted/.test(b.out);
    },
    30_000,
    250,
  );
  await same(t[2]!, e[2]!, ["member", "list"], sortLines);
  await same(learnerT, learnerE, ["endpoint", "status"], normStatus);
  // A learner serves serializable reads only.
  await same(t[0]!, e[0]!, ["put", "lr/k", "v"]);
  const lin = await both(learnerT, learnerE, ["get", "lr/k"]);
  lin.same();
  assert.match(errLines(lin.ts), /rpc not supported for learner/);
  await waitFor(
    "the learner has the write",
    async () => (await ctl(learnerT, ["get", "lr/k", "--consistency=s", "--print-value-only"])).out === "v\n",
  );
  await same(learnerT, learnerE, ["get", "lr/k", "--consistency=s", "--print-value-only"]);

  // Caught up: promote (retried while the leader still sees it behind, as an operator would).
  const promote = async (ep: string, id: string) =>
    waitFor(
      `promote ${id}`,
      async () => {
        const r = await ctl(ep, ["member", "promote", id]);
        return r.code === 0 ? r : undefined;
      },
      30_000,
      500,
    );
  const [pt, pe] = await Promise.all([promote(t[1]!, idT), promote(e[1]!, idE)]);
  assertSame(["member", "promote"], pe, pt);
  assert.match(pt.out, new RegExp(`^Member +${idT} promoted in cluster +[0-9a-f]+\\n$`));
  await same(t[0]!, e[0]!, ["member", "list", "-w", "table"], anyOrder(normTable));
  const again = await Promise.all([
    ctl(t[0]!, ["member", "promote", idT]),
    ctl(e[0]!, ["member", "promote", idE]),
  ]);
  assertSame(["member", "promote"], again[1], again[0]);
  assert.match(errLines(again[0]), /can only promote a learner member$/m);

  // Remove a follower (not the member asked): it stops; three members remain.
  const [tf, ef] = [
    (await ts.followerEps()).find((x) => x !== t[0]),
    (await etcd.followerEps()).find((x) => x !== e[0]),
  ];
  const [rt, re] = await Promise.all([
    ctl(t[0]!, ["member", "remove", await ts.idOf(tf!)]),
    ctl(e[0]!, ["member", "remove", await etcd.idOf(ef!)]),
  ]);
  assertSame(["member", "remove"], re, rt);
  assert.match(rt.out, /^Member +[0-9a-f]+ removed from cluster +[0-9a-f]+\n$/);
  assert.equal(await ts.pc.exited(ts.member(tf!)), 7, "a removed tsraft-kv member stops with exit status 7");
  ts.running.delete(ts.member(tf!));
  await etcd.kill9(ef!);
  await same(t[0]!, e[0]!, ["member", "list"], sortLines);
  const gone = await both(t[0]!, e[0]!, ["member", "remove", "1234"]);
  gone.same();
  assert.match(errLines(gone.ts), /member not found/);
  await same(ts.eps(), etcd.eps(), ["put", "after/removal", "ok"]);
});
