import assert from "node:assert/strict";
import { test } from "node:test";
import { Host, HostError, HostErrorCode } from "../../src/host/index.ts";
import { freePort, waitFor } from "../kv/support/cluster.ts";
import { Counter, delta, startCluster } from "./support.ts";

const code = (c: string) => (e: unknown) => e instanceof HostError && e.code === c;

test("host: strict reconfiguration refuses changes that would leave no live quorum", async () => {
  const c = await startCluster(3);
  try {
    const leader = await c.leader();
    const [b, down] = c.hosts.filter((h) => h !== leader) as [
      Host<number, "get", number>,
      Host<number, "get", number>,
    ];
    await waitFor(
      "everyone connected",
      async () => leader.status().progress?.every((p) => p.recentActive) === true,
    );
    await down.stop(0);
    await waitFor(
      "the stopped member is seen as inactive",
      async () => leader.transportStats().peers[down.id.toString(16)]?.active === false,
    );
    const port = await freePort();
    // 4 voters with 2 live is not a quorum of 3: an unreachable new voter would take the quorum away.
    await assert.rejects(
      leader.addMember([`http://127.0.0.1:${port}`]),
      code(HostErrorCode.UnsafeReconfiguration),
    );
    // Removing a healthy member while another is down leaves {leader, down}: 1 live of 2.
    await assert.rejects(leader.removeMember(b.id), code(HostErrorCode.UnsafeReconfiguration));
    // A learner does not count towards the quorum: allowed.
    const learner = await leader.addMember([`http://127.0.0.1:${port}`], { learner: true });
    assert.equal(learner.isLearner, true);
    // Removing the dead member leaves {leader, b}, both live: allowed, and writes go on.
    await leader.removeMember(down.id);
    assert.equal(leader.members().filter((m) => !m.isLearner).length, 2, "two voters left");
    assert.equal(await leader.propose(delta(1)), 1);
    // A member of the current membership that is unknown: 404.
    await assert.rejects(leader.removeMember(0x1234n), code(HostErrorCode.MemberNotFound));
  } finally {
    await c.close();
  }
});

test("host: force-new-cluster restarts a surviving member alone with every committed entry", async () => {
  const c = await startCluster(3);
  try {
    const leader = await c.leader();
    for (let i = 0; i < 20; i++) await leader.propose(delta(1));
    await waitFor("replicated", async () => c.sms.every((s) => s.value === 20));
    const survivor = c.hosts.findIndex((h) => h !== leader);
    await Promise.all(c.hosts.map((h) => h.stop(0)));
    // Alone, the survivor cannot elect a leader...
    const sm = new Counter();
    const cfg = { ...c.configs[survivor]!, stateMachine: sm };
    // ...unless forced into a new one-member cluster.
    c.hosts = [new Host({ ...cfg, forceNewCluster: true })];
    c.sms = [sm];
    const h = c.hosts[0]!;
    await h.start();
    await waitFor("it leads alone", async () => h.leader() === h.id);
    assert.equal(sm.value, 20, "every committed entry kept");
    assert.deepEqual(
      h.members().map((m) => m.id),
      [h.id],
    );
    assert.equal(await h.propose(delta(1)), 21);
    // And it stays a one-member cluster across a normal restart.
    await h.stop();
    const sm2 = new Counter();
    c.hosts = [new Host({ ...cfg, stateMachine: sm2 })];
    c.sms = [sm2];
    await c.hosts[0]!.start();
    await waitFor("it leads alone again", async () => c.hosts[0]!.leader() === c.hosts[0]!.id);
    await waitFor("state restored", async () => sm2.value === 21);
  } finally {
    await c.close();
  }
});

test("host: a removed member lingers (removalLingerMs) before it stops, then resolves done", async () => {
  const linger = 1500;
  const c = await startCluster(3, { removalLingerMs: linger });
  try {
    const leader = await c.leader();
    const victim = c.hosts.find((h) => h !== leader)!;
    let removedAt = 0;
    victim.on("removed", () => {
      removedAt = Date.now();
    });
    let stoppedAt = 0;
    void victim.done.then(
      () => (stoppedAt = Date.now()),
      () => (stoppedAt = Date.now()),
    );
    await leader.removeMember(victim.id);
    await waitFor("the victim applied its removal", async () => removedAt > 0);
    await waitFor("the victim stopped", async () => stoppedAt > 0);
    // Without the linger it stopped on the next turn of the event loop: a
    // remaining voter that missed the commit of the removal could then wait
    // forever for its vote.
    assert.ok(stoppedAt - removedAt >= linger - 50, `stopped ${stoppedAt - removedAt} ms after its removal`);
  } finally {
    await c.close();
  }
});

test("host: a removed member's ID is never given again, even to its URLs re-added within the same second", async () => {
  // Member-add IDs are sha1(peer URLs + unix seconds): with the clock frozen every add happens in the
  // same second. A reused ID would be refused as removed by every peer that applied the removal.
  const c = await startCluster(3, { now: () => 1_796_600_000_000 });
  try {
    const leader = await c.leader();
    const url = `http://127.0.0.1:${await freePort()}`;
    const first = await leader.addMember([url], { learner: true });
    await leader.removeMember(first.id);
    const again = await leader.addMember([url], { learner: true });
    assert.notEqual(again.id, first.id, "the removed ID was given again");
    assert.deepEqual(
      leader
        .members()
        .map((m) => m.id)
        .filter((id) => id === first.id),
      [],
      "the removed member is not back",
    );
    assert.ok(leader.members().some((m) => m.id === again.id));
  } finally {
    await c.close();
  }
});
