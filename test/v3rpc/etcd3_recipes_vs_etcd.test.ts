// The requests the `etcd3` npm client's lock and election recipes make
// (node_modules/etcd3/lib/lock.js, election.js), sent by that client to a real
// etcd 3.4 and to our single-member server in the same order; the answers
// must be the same field for field, header included, once the IDs are
// replaced by placeholders: a campaign's compare-and-put on create_revision 0
// with a range in its else branch, the range of the first candidate (sorted
// by create_revision, limit 1: `more` and `count` included), the range of the
// candidate created just before (max_create_revision, sorted descending), a
// proclamation guarded by create_revision, count-only and keys-only ranges,
// min_mod_revision, a watch of a key's deletion from a past revision (only
// deletes), a watch of puts from a future revision, and the lock's
// compare-and-put of an empty value with a lease.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Etcd3 } from "etcd3";
import { type EtcdEndpoint, etcdAndTsForFile, type TsEndpoint, waitFor } from "./support.ts";

let etcd: EtcdEndpoint;
let ts: TsEndpoint;

etcdAndTsForFile((e, t) => {
  etcd = e;
  ts = t;
});

/**
 * Buffers as strings; member/cluster IDs and raft terms as X (the single
 * member has no raft); lease IDs, in keys too, as L1, L2 in order of grant.
 */
function normalise(o: unknown, leases: string[]): unknown {
  const lease = (s: string) => leases.reduce((acc, id, i) => acc.split(id).join(`L${i + 1}`), s);
  return JSON.parse(
    JSON.stringify(o, (k, v) => {
      if (k === "cluster_id" || k === "member_id" || k === "raft_term") return "X";
      if (v !== null && typeof v === "object" && v.type === "Buffer")
        return lease(Buffer.from(v.data).toString());
      return typeof v === "string" ? lease(v) : v;
    }),
  );
}

/** The recipes' requests through the etcd3 client; every answer, normalised. */
async function recipeRequests(url: string): Promise<Record<string, unknown>> {
  const c = new Etcd3({ hosts: url });
  try {
    const out: Record<string, unknown> = {};
    const ns = c.namespace("election/el/");
    // One grant after the other (a Lease sends its grant when constructed): IDs in grant order.
    const l1 = c.lease(30, { autoKeepAlive: false });
    const id1 = await l1.grant();
    const l2 = c.lease(30, { autoKeepAlive: false });
    const id2 = await l2.grant();
    const campaign = (id: string, value: string) =>
      ns.if(id, "Create", "==", 0).then(ns.put(id).value(value).lease(id)).else(ns.get(id)).commit();
    out.campaign1 = await campaign(id1, "a");
    out.campaign2 = await campaign(id2, "b");
    out.campaignAgain = await campaign(id1, "a");
    const rev2 = Number((out.campaign2 as { header: { revision: string } }).header.revision);
    out.firstCandidate = await ns.getAll().sort("Create", "Ascend").limit(1).exec();
    out.createdBefore = await ns
      .getAll()
      .maxCreateRevision(String(rev2 - 1))
      .sort("Create", "Descend")
      .limit(1)
      .exec();
    out.noneBefore = await ns
      .getAll()
      .maxCreateRevision(String(rev2 - 2))
      .sort("Create", "Descend")
      .limit(1)
      .exec();
    out.proclaim = await ns
      .if(id1, "Create", "==", String(rev2 - 1))
      .then(ns.put(id1).value("a2").lease(id1))
      .commit();
    out.proclaimWrongRevision = await ns
      .if(id1, "Create", "==", String(rev2))
      .then(ns.put(id1).value("a3").lease(id1))
      .commit();
    out.count = await ns.getAll().count();
    out.keysDescending = await ns.getAll().sort("Key", "Descend").keys();
    out.modifiedSince = await ns.getAll().minModRevision(String(rev2)).exec();
    // The election's waitForDelete: a get, then a watch of deletes only from the get's revision.
    const got = await ns.get(id1).exec();
    const deletes: unknown[] = [];
    const wd = await ns.watch().key(id1).startRevision(got.header.revision).only("delete").create();
    wd.on("data", (d) => deletes.push(d));
    // The observer's watch of puts from the revision after its range.
    const puts: unknown[] = [];
    const wp = await ns
      .watch()
      .startRevision(String(rev2 + 1))
      .prefix("")
      .only("put")
      .create();
    wp.on("data", (d) => puts.push(d));
    // The replayed proclamation first: a catch-up response's header carries the store's revision
    // when it is sent, and etcd sends catch-ups from a loop every 100 ms, so a revoke landing
    // before that would show in etcd's header and not in ours, which replays at once.
    await waitFor("the replayed put", async () => puts.length === 1);
    await l1.revoke();
    await waitFor("the delete", async () => deletes.length === 1);
    await wd.cancel();
    await wp.cancel();
    out.deletes = deletes;
    out.puts = puts;
    // The lock: compare create_revision 0, put "" with a fresh lease.
    const lock = await c.lock("locks/x").ttl(5).acquire();
    const lockId = await lock.leaseId();
    out.lockKey = await c.get("locks/x").exec();
    await lock.release();
    out.lockReleased = await c.get("locks/x").exec();
    await l2.revoke();
    return normalise(out, [id1, id2, String(lockId)]) as Record<string, unknown>;
  } finally {
    c.close();
  }
}

test("the lock and election recipes' requests get etcd 3.4's answers, field for field", async () => {
  const fromEtcd = await recipeRequests(etcd.url);
  const fromTs = await recipeRequests(ts.url);
  for (const k of Object.keys(fromEtcd)) assert.deepEqual(fromTs[k], fromEtcd[k], k);
  assert.deepEqual(Object.keys(fromTs), Object.keys(fromEtcd));
});
