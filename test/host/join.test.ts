// A member added at run time joins with initial cluster state "existing": it
// reads the membership from the others' peer /members endpoint, and the
// leader keeps running while the newcomer is still starting (a newcomer that
// refused the leader's messages with 403 made it believe it was removed).
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { Host, type HostError, HostErrorCode } from "../../src/host/index.ts";
import { freePort, waitFor } from "../kv/support/cluster.ts";
import { Counter, delta, fastTiming, startCluster } from "./support.ts";

test("host: a member added at run time joins through the peers' /members and catches up; the leader keeps running", async () => {
  const c = await startCluster(1);
  try {
    const a = c.hosts[0]!;
    await c.leader();
    for (let i = 0; i < 10; i++) await a.propose(delta(1));
    const url = `http://127.0.0.1:${await freePort()}`;
    const added = await a.addMember([url], { learner: true });
    const sm = new Counter();
    const b = new Host<number, "get", number>({
      name: "m2",
      dataDir: join(c.dir, "m2"),
      stateMachine: sm,
      initialCluster: [...c.configs[0]!.initialCluster, { name: "m2", peerURLs: [url] }],
      initialClusterState: "existing",
      listenPeerURL: url,
      unsafeNoFsync: true,
      ...fastTiming,
    });
    c.hosts.push(b);
    await b.start();
    assert.equal(b.id, added.id, "it found itself in the membership");
    assert.equal(b.clusterId, a.clusterId);
    await waitFor("the learner caught up", async () => sm.value === 10);
    let aDone = false;
    void a.done.then(
      () => (aDone = true),
      () => (aDone = true),
    );
    // The learner applied everything, but the leader counts it as caught up
    // only once its append responses arrived: a promotion before that is
    // refused (etcd's "not in sync with leader"), and the caller retries.
    await waitFor("the promotion", async () => {
      try {
        await a.promoteMember(b.id);
        return true;
      } catch (err) {
        if ((err as HostError).code === HostErrorCode.LearnerNotReady) return false;
        throw err;
      }
    });
    assert.equal(await b.propose(delta(5)), 15, "writes through the new voter");
    assert.equal(aDone, false, "the leader is still running");
    assert.equal(a.leader(), a.id);
  } finally {
    await c.close();
  }
});
