import assert from "node:assert/strict";
import { test } from "node:test";
import { Host, HostError, HostErrorCode } from "../../src/host/index.ts";
import { ReadOnlyOption } from "../../src/raft/index.ts";
import { waitFor } from "../kv/support/cluster.ts";
import { Counter, delta, startCluster } from "./support.ts";

test("host: proposals on leader and followers apply everywhere, in order, answered with the result", async () => {
  const c = await startCluster(3);
  try {
    const leader = await c.leader();
    const follower = c.hosts.find((h) => h !== leader)!;
    assert.equal(await leader.propose(delta(5)), 5);
    assert.equal(await follower.propose(delta(2)), 7);
    const results = await Promise.all(Array.from({ length: 50 }, () => follower.propose(delta(1))));
    assert.deepEqual(
      [...results].sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, i) => 8 + i),
    );
    for (const h of c.hosts) assert.equal(await h.read("get"), 57);
    await waitFor("every member applied", async () => c.sms.every((s) => s.value === 57));
  } finally {
    await c.close();
  }
});

test("host: a restarted member resumes from its WAL and snapshots", async () => {
  const c = await startCluster(3, { snapshot: { count: 20, catchUpEntries: 5 } });
  try {
    const leader = await c.leader();
    for (let i = 0; i < 60; i++) await leader.propose(delta(1));
    const victim = c.hosts.findIndex((h) => h !== leader);
    await c.hosts[victim]!.stop();
    for (let i = 0; i < 30; i++) await leader.propose(delta(1));
    const sm = new Counter();
    c.sms[victim] = sm;
    c.hosts[victim] = new Host({ ...c.configs[victim]!, stateMachine: sm });
    await c.hosts[victim]!.start();
    await waitFor("the restarted member catches up", async () => sm.value === 90);
    assert.equal(await c.hosts[victim]!.read("get"), 90);
    assert.ok(c.hosts[victim]!.status().snapshotIndex > 0, "it took or received a snapshot");
  } finally {
    await c.close();
  }
});

test("host: fails fast without a leader, and refuses removing the last voter", async () => {
  const c = await startCluster(1);
  try {
    const h = c.hosts[0]!;
    await c.leader();
    await assert.rejects(
      h.removeMember(h.id),
      (e: unknown) => e instanceof HostError && e.code === HostErrorCode.LastVoter,
    );
  } finally {
    await c.close();
  }
});

test("host: a restart takes its identity from the data dir; another cluster's or another initial member's dir is refused", async () => {
  const c = await startCluster(2);
  try {
    await c.leader();
    await Promise.all(c.hosts.map((h) => h.stop(0)));
    const [a, b] = c.configs as [(typeof c.configs)[0], (typeof c.configs)[0]];
    // b's directory started under a's name: an initial member's identity is not ours.
    await assert.rejects(
      new Host({ ...a, dataDir: b.dataDir, stateMachine: new Counter() }).start(),
      (e: unknown) => e instanceof HostError && e.code === HostErrorCode.DataDir,
    );
    // Another cluster (another token) is refused.
    await assert.rejects(
      new Host({ ...a, initialClusterToken: "another", stateMachine: new Counter() }).start(),
      (e: unknown) => e instanceof HostError && e.code === HostErrorCode.DataDir,
    );
    // A member whose name is not derivable (it joined later) restarts as itself.
    const h = new Host({ ...a, name: "renamed", stateMachine: new Counter() });
    await h.start();
    assert.equal(h.id, c.hosts[0]!.id);
    await h.stop(0);
  } finally {
    await c.close();
  }
});

test("host: lease-based reads (strict leases, the host's default) answer current values on every member", async () => {
  const c = await startCluster(3, { readOnlyOption: ReadOnlyOption.ReadOnlyLeaseBased });
  try {
    const leader = await c.leader();
    const follower = c.hosts.find((h) => h !== leader)!;
    await waitFor("the follower knows the leader", async () => follower.leader() === leader.id);
    for (let i = 1; i <= 20; i++) {
      await (i % 2 === 0 ? leader : follower).propose(delta(1));
      // A read started after the write was acknowledged must see it, on the
      // leader (from its lease or a quorum round) and on a follower (through
      // the leader).
      assert.equal(await leader.read("get"), i);
      assert.equal(await follower.read("get"), i);
    }
  } finally {
    await c.close();
  }
});
