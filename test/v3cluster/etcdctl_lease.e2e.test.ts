// etcdctl 3.4's lease commands against a three-member tsraft-kv and a
// three-member etcd 3.4, sent to FOLLOWERS (so tsraft-kv forwards keep-alive
// and TimeToLive to the leader), then the same lease story on both through
// a kill -9 of the leader: a lease is not expired early (a new leader gives
// every lease a fresh TTL, as etcd's promote does), a lease kept alive through
// a follower stays alive across the change, and expiry deletes the keys on
// every member.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  assertSame,
  type Cluster,
  CtlProc,
  ctl,
  EtcdCluster,
  errLines,
  norm,
  sleep,
  TsCluster,
  waitFor,
} from "./support.ts";

let ts: TsCluster;
let etcd: EtcdCluster;
type C = Cluster & { followerEps(): Promise<string[]>; kill9(ep: string): Promise<void> };

before(async () => {
  [ts, etcd] = await Promise.all([TsCluster.start(3), EtcdCluster.start(3)]);
});
after(async () => {
  await Promise.all([ts?.close(), etcd?.close()]);
});

const leaseId = (out: string) => {
  const m = /lease ([0-9a-f]+) granted/.exec(out);
  if (m === null) throw new Error(`no lease in ${JSON.stringify(out)}`);
  return m[1]!;
};

/** Attached keys come from a map in etcd (order unspecified): sort them; remaining seconds tick. */
const normTtl = (s: string) =>
  norm(s)
    .replace(/remaining\(\d+s\)/g, "remaining(Ns)")
    .replace(
      /attached keys\(\[([^\]]*)\]\)/g,
      (_, ks: string) => `attached keys([${ks.split(" ").sort().join(" ")}])`,
    );

test("grant, put --lease, timetolive, keep-alive --once, list, revoke: all through followers, as etcd prints them", async () => {
  const [tf, ef] = await Promise.all([ts.followerEps(), etcd.followerEps()]);
  const [gt, ge] = await Promise.all([
    ctl(tf[0]!, ["lease", "grant", "30"]),
    ctl(ef[0]!, ["lease", "grant", "30"]),
  ]);
  assertSame(["lease", "grant", "30"], ge, gt);
  const ids = { ts: leaseId(gt.out), etcd: leaseId(ge.out) };
  /** One command per cluster with that cluster's lease ID, on follower `f`. */
  const each = async (f: number, args: (id: string) => string[], n = norm, error?: RegExp) => {
    const [b, a] = await Promise.all([ctl(tf[f]!, args(ids.ts)), ctl(ef[f]!, args(ids.etcd))]);
    assertSame(args("ID"), a, b, n);
    if (error === undefined) assert.equal(b.code, 0, b.err);
    else assert.match(errLines(b), error);
    return b.out;
  };
  await each(0, (id) => ["put", "l/a", "1", `--lease=${id}`]);
  await each(1, (id) => ["put", "l/b", "2", `--lease=${id}`]);
  await each(1, (id) => ["lease", "timetolive", id, "--keys"], normTtl);
  await each(0, (id) => ["lease", "timetolive", id], normTtl);
  assert.equal(
    await each(1, (id) => ["lease", "keep-alive", "--once", id]),
    `lease ${ids.ts} keepalived with TTL(30)\n`,
  );
  for (const f of [0, 1]) await each(f, () => ["lease", "list"]);
  await each(0, () => ["get", "l/", "--prefix", "-w", "json"]);
  await each(1, (id) => ["lease", "revoke", id]);
  await each(0, () => ["get", "l/", "--prefix"]);
  await each(0, (id) => ["lease", "timetolive", id]);
  await each(1, (id) => ["lease", "revoke", id], norm, /requested lease not found/);
  await each(0, (id) => ["lease", "keep-alive", "--once", id], norm, /requested lease not found/);
  await each(0, (id) => ["put", "l/c", "3", `--lease=${id}`], norm, /requested lease not found/);
  await each(1, () => ["lease", "list"]);
});

/**
 * The lease story on one cluster: a lease nobody keeps alive (TTL 6) and one
 * kept alive by `etcdctl lease keep-alive` through a follower (TTL 4), both
 * granted through that follower, then kill -9 of the leader 3 s later.
 */
async function leaderKillStory(c: C): Promise<string[]> {
  const notes: string[] = [];
  const [f, other] = await c.followerEps();
  const leader = await c.leaderEp();
  const watch = new CtlProc(other!, ["watch", "--prefix", "x/"]);
  await sleep(500); // a watch prints nothing when created: let it register
  const idA = leaseId((await ctl(f!, ["lease", "grant", "6"])).out);
  const granted = Date.now();
  const idB = leaseId((await ctl(f!, ["lease", "grant", "4"])).out);
  assert.equal((await ctl(f!, ["put", "x/unkept", "a", `--lease=${idA}`])).code, 0);
  assert.equal((await ctl(other!, ["put", "x/kept", "b", `--lease=${idB}`])).code, 0);
  const ka = new CtlProc(f!, ["lease", "keep-alive", idB]);
  try {
    await ka.lines(1);
    await sleep(3000 - (Date.now() - granted));
    await c.kill9(leader);
    const killed = Date.now();
    const kaBefore = ka.out.split("\n").filter((l) => l.includes("keepalived")).length;
    // Past the unkept lease's original deadline (granted + 6 s): a new leader restarted its clock.
    await sleep(Math.max(0, granted + 7500 - Date.now()));
    for (const ep of [f!, other!]) {
      const r = await ctl(ep, ["get", "x/unkept", "--consistency=s", "--print-value-only"]);
      assert.equal(
        r.out,
        "a\n",
        `${c.kind}: the unkept lease expired early (on ${ep}, ${Date.now() - granted} ms after grant)`,
      );
    }
    const ttl = await ctl(f!, ["lease", "timetolive", idA]);
    assert.match(ttl.out, /granted with TTL\(6s\), remaining\([1-6]s\)/, `${c.kind}: ${ttl.out}${ttl.err}`);
    // Then it expires (new leader's TTL plus at most a few seconds of election and checks),
    // and its key goes on every surviving member.
    await waitFor(
      `${c.kind}: the unkept lease's key deleted on every member`,
      async () => {
        for (const ep of [f!, other!]) {
          const r = await ctl(ep, ["get", "x/unkept", "--consistency=s", "--keys-only"]);
          if (r.out !== "") return false;
        }
        return true;
      },
      20_000,
      250,
    );
    const goneAfterKill = Date.now() - killed;
    notes.push(
      `${c.kind}: unkept lease gone ${Date.now() - granted} ms after grant, ${goneAfterKill} ms after the kill`,
    );
    // The new leader counted a full TTL (6 s) from its election, which came after the kill.
    assert.ok(
      goneAfterKill >= 6000,
      `${c.kind}: expired ${goneAfterKill} ms after the kill, before a full TTL`,
    );
    // The kept lease outlived four of its TTLs... and the keep-alive went on through the new leader.
    await waitFor(
      `${c.kind}: keep-alive answered by the new leader`,
      async () => ka.out.split("\n").filter((l) => l.includes("keepalived")).length > kaBefore + 1,
      // Generous for both systems: at load 7 etcd's own new leader took longer than 15 s.
      30_000,
      100,
    );
    assert.equal(
      (await ctl(other!, ["get", "x/kept", "--print-value-only"])).out,
      "b\n",
      `${c.kind}: kept lease lost`,
    );
    assert.doesNotMatch(ka.out, /expired or revoked/);
    assert.equal((await ctl(other!, ["lease", "revoke", idB])).code, 0);
    await ka.exited;
    assert.match(ka.out, new RegExp(`lease ${idB} expired or revoked\\.`));
    // The watch on a follower saw each key created once and deleted once.
    await waitFor(
      `${c.kind}: watch saw both deletes`,
      async () => (watch.out.match(/DELETE/g) ?? []).length >= 2,
    );
    await sleep(300);
    assert.equal(
      watch.out,
      "PUT\nx/unkept\na\nPUT\nx/kept\nb\nDELETE\nx/unkept\n\nDELETE\nx/kept\n\n",
      `${c.kind}: the follower's watch`,
    );
    return notes;
  } finally {
    await Promise.all([ka.stop(), watch.stop()]);
  }
}

test("kill -9 of the leader: no early expiry, keep-alive through a follower survives, expiry deletes everywhere (tsraft-kv and etcd)", async (t) => {
  const notes = await Promise.all([leaderKillStory(ts), leaderKillStory(etcd)]);
  for (const n of notes.flat()) t.diagnostic(n);
});

test("a short lease expires on its own: its keys are deleted on every member", async () => {
  const eps = ts.eps();
  const id = leaseId((await ctl(eps[0]!, ["lease", "grant", "2"])).out);
  assert.equal((await ctl(eps[1]!, ["put", "s/k", "v", `--lease=${id}`])).code, 0);
  await waitFor(
    "expiry applied on every member",
    async () => {
      for (const ep of eps)
        if ((await ctl(ep, ["get", "s/k", "--consistency=s", "--keys-only"])).out !== "") return false;
      return true;
    },
    15_000,
    200,
  );
  assert.match((await ctl(eps[0]!, ["lease", "timetolive", id])).out, /already expired/);
  assert.equal((await ctl(eps[1]!, ["lease", "list"])).out, "found 0 leases\n");
});
