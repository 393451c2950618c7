// etcdctl 3.4 against a three-member tsraft-kv (real processes, raft between
// them) and a three-member etcd 3.4 side by side: the same commands, sent to
// the same roles (leader, first follower, second follower), must print the
// same thing once IDs, endpoints and raft indexes are normalised. KV reads and
// writes through every member, del, txn -i, watch on a follower of writes
// made through the leader (live and replayed from a revision), compaction
// and snapshot save through a follower.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  both,
  type Cluster,
  CtlProc,
  ctl,
  EtcdCluster,
  errLines,
  norm,
  TsCluster,
  waitFor,
} from "./support.ts";

let ts: TsCluster;
let etcd: EtcdCluster;
let dir: string;
/** Endpoints by role, per cluster: [leader, follower 1, follower 2]. */
let tsRoles: string[];
let etcdRoles: string[];

async function roles(c: Cluster & { followerEps(): Promise<string[]> }): Promise<string[]> {
  return [await c.leaderEp(), ...(await c.followerEps())];
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "v3c-kv-"));
  [ts, etcd] = await Promise.all([TsCluster.start(3), EtcdCluster.start(3)]);
  [tsRoles, etcdRoles] = await Promise.all([roles(ts), roles(etcd)]);
});
after(async () => {
  await Promise.all([ts?.close(), etcd?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

/**
 * The same etcdctl command on the member in the same role of each cluster;
 * outputs must match. It must also succeed, unless `error` is given: then
 * both must fail with that message (so that two identical failures of the
 * test's own making never pass for agreement).
 */
async function same(role: number, args: string[], input?: string, error?: RegExp): Promise<string> {
  const r = await both(tsRoles[role]!, etcdRoles[role]!, args, input);
  r.same();
  if (error === undefined) assert.equal(r.ts.code, 0, `etcdctl ${args.join(" ")}: ${r.ts.err}`);
  else assert.match(errLines(r.ts), error);
  return r.ts.out;
}

test("put through every member, get in all its forms from every member", async () => {
  await same(1, ["put", "k/a", "1"]);
  await same(0, ["put", "k/b", "2"]);
  await same(2, ["put", "k/c", "3"]);
  await same(2, ["put", "k/a", "4"]);
  await same(1, ["put", "k/a", "5", "--prev-kv"]);
  // The three roles in parallel (each its own sequence), to keep the file short.
  const reads = async (role: number) => {
    await same(role, ["get", "k/a"]);
    await same(role, ["get", "k/", "--prefix", "-w", "json"]);
    await same(role, ["get", "k/a", "--rev=2"]);
    await same(role, ["get", "k/a", "--rev=2", "-w", "json"]);
    await same(role, ["get", "k/", "--prefix", "--limit=2", "-w", "json"]);
    await same(role, ["get", "k/", "--prefix", "--keys-only"]);
    await same(role, ["get", "k/", "--prefix", "--order=DESCEND", "--sort-by=MODIFY"]);
    await same(role, ["get", "k/a", "k/c"]);
    await same(role, ["get", "--from-key", "k/b", "--print-value-only"]);
    await same(role, ["get", "k/", "--prefix", "--consistency=s", "-w", "json"]);
    await same(role, ["get", "k/a", "--rev=99"], undefined, /required revision is a future revision/);
  };
  await Promise.all([0, 1, 2].map(reads));
  const out = await same(1, ["get", "k/a", "-w", "json"]);
  assert.match(norm(out), /"mod_revision":6,"version":3/, "five writes happened: revisions 2..6");
});

test("del (single, --prev-kv, --prefix) through followers, read back from the leader", async () => {
  await same(1, ["put", "d/1", "x"]);
  await same(2, ["put", "d/2", "y"]);
  await same(2, ["put", "d/3", "z"]);
  await same(1, ["del", "d/1", "--prev-kv"]);
  await same(2, ["del", "d/nothing"]);
  await same(0, ["get", "d/", "--prefix"]);
  await same(1, ["del", "d/", "--prefix"]);
  await same(0, ["get", "d/", "--prefix", "-w", "json"]);
});

test("txn -i through a follower: both branches, nested ops' output, -w json", async () => {
  await same(1, ["put", "t/x", "1"]);
  const txn = (v: string) => `value("t/x") = "${v}"\n\nput t/x 2\nget t/x\n\nput t/failed yes\ndel t/x\n\n`;
  await same(1, ["txn", "-i"], txn("1"));
  await same(2, ["txn", "-i"], txn("1"));
  await same(0, ["get", "t/", "--prefix"]);
  await same(2, ["txn", "-i", "-w", "json"], `mod("t/failed") > "0"\n\nget t/ --prefix\n\n\n`);
  await same(1, ["txn", "-i"], `ver("t/none") = "0"\ncreate("t/failed") != "0"\n\nput t/new n\n\n\n`);
});

test("watch on a follower sees writes made through the leader; --rev replays; --prev-kv", async () => {
  await same(0, ["put", "w/0", "before"]);
  const rev = Number(/"revision":(\d+)/.exec(await same(0, ["get", "w/0", "-w", "json"]))![1]);
  const start = (c: string[], args: string[]) => new CtlProc(c[1]!, ["watch", ...args]);
  const live = [start(tsRoles, ["--prefix", "w/"]), start(etcdRoles, ["--prefix", "w/"])];
  const prev = [
    start(tsRoles, ["--prefix", "w/", "--prev-kv"]),
    start(etcdRoles, ["--prefix", "w/", "--prev-kv"]),
  ];
  const replay = [
    new CtlProc(tsRoles[2]!, ["watch", "w/0", `--rev=${rev}`]),
    new CtlProc(etcdRoles[2]!, ["watch", "w/0", `--rev=${rev}`]),
  ];
  try {
    // Watches report nothing when created: give them a moment to be registered before writing.
    await new Promise((r) => setTimeout(r, 1000));
    await same(0, ["put", "w/1", "one"]);
    await same(0, ["put", "w/1", "uno"]);
    await same(0, ["del", "w/1"]);
    await same(0, ["put", "w/0", "after"]);
    // Every watch ends with the last write (PUT w/0 after); then the outputs must match.
    for (const [a, b] of [live, prev, replay] as CtlProc[][]) {
      await waitFor(
        "both watches saw the last write",
        async () => /after\n$/.test(a!.out) && /after\n$/.test(b!.out),
        15_000,
      );
      assert.equal(norm(a!.out), norm(b!.out), `watch ${a!.proc.spawnargs.slice(2).join(" ")}`);
    }
    assert.equal(
      live[0]!.out,
      "PUT\nw/1\none\nPUT\nw/1\nuno\nDELETE\nw/1\n\nPUT\nw/0\nafter\n",
      "the follower's watch saw every write, in order",
    );
  } finally {
    await Promise.all([...live, ...prev, ...replay].map((p) => p.stop()));
  }
});

test("compaction through a follower; reads below it fail as etcd's; snapshot save through a follower", async () => {
  const rev = Number(/"revision":(\d+)/.exec(await same(0, ["get", "k/a", "-w", "json"]))![1]);
  await same(1, ["compaction", String(rev - 2)]);
  for (const role of [0, 1, 2]) {
    await same(role, ["get", "k/a", "--rev=2"], undefined, /required revision has been compacted/);
    await same(role, ["get", "k/a", `--rev=${rev - 2}`]);
  }
  await same(2, ["compaction", String(rev - 3)], undefined, /required revision has been compacted/);
  await same(2, ["compaction", String(rev + 100)], undefined, /required revision is a future revision/);
  await same(0, ["compaction", "--physical", String(rev - 1)]);
  const [fa, fb] = [join(dir, "etcd.db"), join(dir, "ts.db")];
  const [a, b] = await Promise.all([
    ctl(etcdRoles[1]!, ["snapshot", "save", fa]),
    ctl(tsRoles[1]!, ["snapshot", "save", fb]),
  ]);
  assert.equal(b.code, 0, b.err);
  assert.equal(a.code, 0, a.err);
  assert.equal(b.out.replace(fb, "F"), a.out.replace(fa, "F"));
  assert.equal((readFileSync(fb).length - 32) % 512, 0, "etcdctl's length rule: image mod 512, then SHA-256");
});
