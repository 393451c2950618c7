// The in-process test network itself: deterministic for a seed, and its
// faults (loss, cuts, isolation, filters, rewrites) do what they say.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { describeMessage, MessageType, StateType } from "../../src/index.ts";
import { decodeState, decodeUtf8, encodeState, Network, ofType } from "../../src/rafttest/index.ts";

function run(seed: number): string[] {
  const net = new Network({ voters: [1n, 2n, 3n, 4n, 5n], seed });
  net.reorder = true;
  for (const a of [1n, 2n, 3n, 4n, 5n])
    for (const b of [1n, 2n, 3n, 4n, 5n]) if (a !== b) net.drop(a, b, 0.3);
  for (let i = 0; i < 60; i++) {
    net.tick();
    for (const id of net.ids()) net.processReady(id);
    net.deliver();
  }
  return net.delivered.map((m) => describeMessage(m));
}

describe("Network", () => {
  test("runs are deterministic for a seed (loss, reordering and election timeouts included)", () => {
    assert.deepEqual(run(3), run(3));
    assert.notDeepEqual(run(3), run(4));
  });

  test("loss drops about the configured fraction of messages on a link", () => {
    const net = new Network({ seed: 9 });
    net.elect(1n);
    net.drop(1n, 2n, 0.5);
    for (let i = 0; i < 400; i++) net.tickAndStabilize(1, [1n]);
    const hb = (to: bigint) =>
      net.delivered.filter((m) => m.type === MessageType.MsgHeartbeat && m.to === to).length;
    const lost = net.dropped.filter((d) => d.reason === "loss").length;
    assert.ok(lost > 120 && lost < 280, `lost ${lost}`);
    assert.equal(hb(3n), 400);
    assert.equal(hb(2n) + lost, 400);
  });

  test("cut, isolate and partition stop traffic in both directions; heal restores it", () => {
    const net = new Network({ voters: [1n, 2n, 3n, 4n] });
    net.elect(1n);
    net.partition([1n, 2n], [3n, 4n]);
    const n = net.delivered.length;
    net.tickAndStabilize(2, [1n]);
    assert.ok(net.delivered.slice(n).every((m) => [1n, 2n].includes(m.to) && [1n, 2n].includes(m.from)));
    net.heal();
    net.isolate(4n);
    const m = net.delivered.length;
    net.tickAndStabilize(2, [1n]);
    assert.ok(net.delivered.length > m);
    assert.ok(net.delivered.slice(m).every((x) => x.to !== 4n && x.from !== 4n));
    net.heal();
    net.propose(1n, "x");
    net.tickAndStabilize(2, [1n]);
    assert.deepEqual(net.appliedData(4n), ["x"]);
  });

  test("filters drop matching messages and rewrites replace them until heal", () => {
    const net = new Network();
    net.filter(ofType(MessageType.MsgVote));
    net.campaign(1n);
    assert.equal(net.raft(1n).state, StateType.StateCandidate);
    assert.ok(net.dropped.every((d) => d.reason === "filter"));
    net.heal();
    net.rewrite((m) => (m.type === MessageType.MsgVoteResp ? null : m));
    net.campaign(1n);
    assert.equal(net.raft(1n).state, StateType.StateCandidate);
    net.heal();
    net.campaign(1n);
    assert.equal(net.raft(1n).state, StateType.StateLeader);
  });

  test("restart keeps durable state and forgets volatile state", () => {
    const net = new Network();
    net.elect(1n);
    net.propose(1n, "a");
    net.stabilize();
    const n = net.restart(1n);
    assert.equal(n.raft.term, 1);
    assert.equal(n.raft.vote, 1n);
    assert.equal(n.raft.state, StateType.StateFollower);
    assert.equal(n.raft.raftLog.lastIndex(), 2);
    net.stabilize();
    assert.deepEqual(net.appliedData(1n), ["a"]);
  });

  test("the toy state machine's snapshot encoding round-trips", () => {
    const parts = [new Uint8Array([1, 2]), new Uint8Array(0), new Uint8Array(300).fill(7)];
    const back = decodeState(encodeState(parts));
    assert.deepEqual(
      back.map((p) => [...p]),
      parts.map((p) => [...p]),
    );
    assert.equal(decodeUtf8(new Uint8Array([0x68, 0xc3, 0xa9, 0xe2, 0x82, 0xac])), "hé€");
  });
});
