// Several Nodes in one process over an in-memory network, each running the
// example's Ready loop (examples/node-cluster.ts) under a manual clock: they
// elect a leader, replicate, grow the cluster, and survive an isolated leader.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { flush, InProcessCluster, main, tickUntil } from "../../examples/node-cluster.ts";
import { ConfChange, ConfChangeType, None, StateType } from "../../src/index.ts";
import { watchUnhandled } from "./helpers.ts";

const unhandled = watchUnhandled();
after(() => assert.deepEqual(unhandled, [], "no unhandled rejections"));

const enc = (s: string) => new TextEncoder().encode(s);

function appliedEverywhere(c: InProcessCluster, n: number, ids = [...c.members.keys()]): boolean {
  return ids.every((id) => c.members.get(id)!.applied.length >= n);
}

describe("Node cluster", () => {
  test("the example runs to completion", async () => {
    const log = console.log;
    const lines: string[] = [];
    console.log = (s: string) => lines.push(s);
    try {
      await main();
    } finally {
      console.log = log;
    }
    assert.equal(
      lines.filter((l) => l.includes("applied [alpha, bravo, charlie, delta], voters 1,2,3,4")).length,
      4,
    );
  });

  test("elects a leader and replicates to every member", async () => {
    const c = new InProcessCluster([1n, 2n, 3n]);
    assert.ok(await tickUntil(c, () => c.leader() !== None));
    const lead = c.leader();
    const leader = c.members.get(lead)!.node;
    assert.equal(leader.status().softState.raftState, StateType.StateLeader);
    for (let i = 0; i < 50; i++) await leader.propose(enc(`v${i}`));
    assert.ok(await tickUntil(c, () => appliedEverywhere(c, 50)));
    for (const m of c.members.values()) assert.deepEqual(m.applied, c.members.get(lead)!.applied);
    // A follower forwards proposals to the leader.
    const follower = [...c.members.keys()].find((id) => id !== lead)!;
    await c.members.get(follower)!.node.propose(enc("forwarded"));
    assert.ok(await tickUntil(c, () => appliedEverywhere(c, 51)));
    assert.equal(c.members.get(lead)!.applied.at(-1), "forwarded");
    await c.stop();
  });

  for (const opts of [{}, { checkQuorum: true, preVote: true }]) {
    const name = Object.keys(opts).length === 0 ? "default" : "checkQuorum+preVote";
    test(`survives an isolated leader (${name})`, async () => {
      const c = new InProcessCluster([1n, 2n, 3n], opts);
      assert.ok(await tickUntil(c, () => c.leader() !== None));
      const old = c.leader();
      const oldNode = c.members.get(old)!.node;
      await oldNode.propose(enc("before"));
      assert.ok(await tickUntil(c, () => appliedEverywhere(c, 1)));

      c.isolated.add(old);
      // The isolated leader still accepts a proposal, which can never commit.
      await oldNode.propose(enc("lost"));
      const rest = [...c.members.keys()].filter((id) => id !== old);
      assert.ok(await tickUntil(c, () => c.leader() !== None && c.leader() !== old));
      const lead = c.leader();
      const term = c.members.get(lead)!.node.status().hardState.term;
      assert.ok(term > oldNode.status().hardState.term || name !== "default");
      await c.members.get(lead)!.node.propose(enc("after"));
      assert.ok(await tickUntil(c, () => appliedEverywhere(c, 2, rest)));
      if (name !== "default") {
        // With CheckQuorum the old leader notices it lost its quorum and steps down.
        assert.ok(await tickUntil(c, () => oldNode.status().softState.raftState !== StateType.StateLeader));
      }

      c.isolated.delete(old);
      assert.ok(await tickUntil(c, () => appliedEverywhere(c, 2) && c.leader() === lead));
      for (const m of c.members.values()) assert.deepEqual(m.applied, ["before", "after"]);
      assert.equal(oldNode.status().softState.raftState, StateType.StateFollower);
      await c.stop();
    });
  }

  test("transferLeadership hands over to the transferee", async () => {
    const c = new InProcessCluster([1n, 2n, 3n]);
    assert.ok(await tickUntil(c, () => c.leader() !== None));
    const lead = c.leader();
    const to = lead === 3n ? 2n : 3n;
    c.members.get(lead)!.node.transferLeadership(lead, to);
    assert.ok(await tickUntil(c, () => c.leader() === to));
    await c.stop();
  });

  test("a removed member stops taking proposals", async () => {
    const c = new InProcessCluster([1n, 2n, 3n]);
    assert.ok(await tickUntil(c, () => c.leader() !== None));
    const lead = c.leader();
    const victim = lead === 3n ? 2n : 3n;
    await c.members
      .get(lead)!
      .node.proposeConfChange(new ConfChange(ConfChangeType.ConfChangeRemoveNode, victim));
    assert.ok(
      await tickUntil(c, () =>
        [...c.members.values()].every((m) => m.confState !== null && !m.confState.voters.includes(victim)),
      ),
    );
    // The removed member's proposals wait (no leader will take them from it).
    const p = c.members.get(victim)!.node.propose(enc("from removed"));
    let settled = false;
    p.then(
      () => (settled = true),
      () => (settled = true),
    );
    await flush();
    assert.equal(settled, false);
    await c.stop();
    await assert.rejects(p);
  });
});
