// Folding a Ready's messages to one peer (src/host/coalesce.ts): which
// messages fold and into what, that the order to each peer is kept, and that
// raft groups whose every Ready is folded still replicate everything, under
// loss, reordering and leader changes, with fewer messages.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { COALESCE_MAX_BYTES, coalesceMessages } from "../../src/host/coalesce.ts";
import { Entry, EntryType, Message, MessageType, StateType } from "../../src/index.ts";
import { Network } from "../../src/rafttest/index.ts";

const ent = (index: number, term: number, size = 1) =>
  new Entry(term, index, EntryType.EntryNormal, new Uint8Array(size));
const app = (to: bigint, index: number, logTerm: number, entries: Entry[], commit: number, term = 2) =>
  Message.create({ type: MessageType.MsgApp, from: 1n, to, term, index, logTerm, entries, commit });
const resp = (to: bigint, index: number, reject = false, term = 2) =>
  Message.create({ type: MessageType.MsgAppResp, from: 2n, to, term, index, reject });
const hb = (to: bigint) => Message.create({ type: MessageType.MsgHeartbeat, from: 1n, to, term: 2 });
const brief = (m: Message) =>
  `${m.type === MessageType.MsgApp ? "app" : m.type === MessageType.MsgAppResp ? "resp" : "hb"}>${m.to}` +
  (m.type === MessageType.MsgApp
    ? ` ${m.index}/${m.logTerm} [${m.entries.map((e) => e.index).join(",")}] c${m.commit}`
    : m.type === MessageType.MsgAppResp
      ? ` ${m.index}${m.reject ? " reject" : ""}`
      : "");

describe("coalesceMessages", () => {
  test("MsgApps continuing each other, with commit broadcasts between them, fold into one per peer", () => {
    const msgs = [
      app(2n, 10, 2, [ent(11, 2)], 9),
      app(3n, 10, 2, [ent(11, 2)], 9),
      app(2n, 11, 2, [], 10), // commit broadcast after entry 11... of an earlier round
      app(3n, 11, 2, [], 10),
      app(2n, 11, 2, [ent(12, 2), ent(13, 2)], 10),
      app(3n, 11, 2, [ent(12, 2), ent(13, 2)], 10),
      app(2n, 13, 2, [], 11),
      app(3n, 13, 2, [], 11),
    ];
    const before = msgs.map(brief);
    assert.deepEqual(coalesceMessages(msgs).map(brief), [
      "app>2 10/2 [11,12,13] c11",
      "app>3 10/2 [11,12,13] c11",
    ]);
    assert.deepEqual(msgs.map(brief), before, "the input messages are not modified");
  });

  test("an empty MsgApp first takes the entries of the MsgApp after it at its index", () => {
    const out = coalesceMessages([app(2n, 11, 2, [], 10), app(2n, 11, 2, [ent(12, 2)], 10)]);
    assert.deepEqual(out.map(brief), ["app>2 11/2 [12] c10"]);
  });

  test("MsgApps that do not continue each other stay apart", () => {
    const cases: Array<[Message, Message]> = [
      [app(2n, 10, 2, [ent(11, 2)], 9), app(2n, 12, 2, [ent(13, 2)], 9)], // a gap
      [app(2n, 10, 2, [ent(11, 2)], 9), app(2n, 11, 1, [ent(12, 2)], 9)], // another term at the joint
      [app(2n, 10, 2, [ent(11, 2)], 9), app(2n, 10, 2, [ent(11, 2)], 9)], // a resend
      [app(2n, 10, 2, [ent(11, 2)], 9), app(2n, 11, 2, [ent(12, 3)], 9, 3)], // another leader term
    ];
    for (const [a, b] of cases)
      assert.deepEqual(coalesceMessages([a, b]), [a, b], `${brief(a)}, ${brief(b)}`);
  });

  test("a message of another kind between two MsgApps to a peer keeps them apart and in order", () => {
    const msgs = [
      app(2n, 10, 2, [ent(11, 2)], 9),
      hb(2n),
      app(2n, 11, 2, [ent(12, 2)], 9),
      app(3n, 10, 2, [], 9),
    ];
    assert.deepEqual(coalesceMessages(msgs), msgs);
  });

  test("folded MsgApps stop at the size limit", () => {
    const half = COALESCE_MAX_BYTES / 2;
    const msgs = [
      app(2n, 10, 2, [ent(11, 2, half)], 9),
      app(2n, 11, 2, [ent(12, 2, half)], 9),
      app(2n, 12, 2, [ent(13, 2, 1)], 9),
      app(2n, 13, 2, [], 12),
    ];
    assert.deepEqual(coalesceMessages(msgs).map(brief), ["app>2 10/2 [11,12] c9", "app>2 12/2 [13] c12"]);
  });

  test("of consecutive acknowledgements to a peer only the highest is sent; rejections are kept", () => {
    assert.deepEqual(coalesceMessages([resp(1n, 11), resp(1n, 13), resp(1n, 12)]).map(brief), ["resp>1 13"]);
    const rejecting = [resp(1n, 11), resp(1n, 12, true), resp(1n, 13)];
    assert.deepEqual(coalesceMessages(rejecting), rejecting);
    const terms = [resp(1n, 11, false, 2), resp(1n, 12, false, 3)];
    assert.deepEqual(coalesceMessages(terms), terms);
  });
});

// A three-member group driven through the test network with every Ready's
// messages folded (or not): proposals arrive at the leader in bursts, links
// lose 10% and reorder, and the leader is partitioned away twice.
function runGroup(seed: number, fold: boolean) {
  const net = new Network({ seed, outbox: fold ? coalesceMessages : undefined });
  net.reorder = true;
  net.elect(1n);
  const proposed: string[] = [];
  let n = 0;
  for (let round = 0; round < 300; round++) {
    const lead = net.leader();
    if (round === 100 || round === 200) net.isolate(lead);
    if (round === 140 || round === 240) net.heal();
    for (const a of net.ids())
      for (const b of net.ids()) if (a !== b && round % 50 === 0) net.drop(a, b, 0.1);
    if (lead !== 0n && net.raft(lead).state === StateType.StateLeader) {
      for (let i = 0; i < 1 + (round % 4); i++) {
        const v = `v${n++}`;
        net.propose(lead, v);
        proposed.push(v);
      }
    }
    net.tick();
    for (const id of net.ids()) net.processReady(id);
    net.deliver();
  }
  net.heal();
  for (const a of net.ids()) for (const b of net.ids()) if (a !== b) net.drop(a, b, 0);
  for (let i = 0; i < 40; i++) net.tickAndStabilize();
  return { net, proposed };
}

describe("a raft group with folded messages", () => {
  for (const seed of [1, 2, 3, 4]) {
    test(`replicates the same log to every member, with fewer messages (seed ${seed})`, () => {
      const { net, proposed } = runGroup(seed, true);
      const logs = net.ids().map((id) => net.appliedData(id));
      for (const l of logs.slice(1)) assert.deepEqual(l, logs[0]);
      const applied = logs[0]!.filter((d) => d !== "");
      // Each applied payload was proposed, once, in proposal order; what a
      // deposed leader held uncommitted may be lost, no more than that.
      const at = applied.map((d) => proposed.indexOf(d));
      assert.ok(
        at.every((i, k) => i >= 0 && (k === 0 || i > at[k - 1]!)),
        "applied in proposal order, no duplicates",
      );
      assert.ok(applied.length > proposed.length * 0.6, `${applied.length} of ${proposed.length} applied`);
      const unfolded = runGroup(seed, false);
      const apps = (x: Network) =>
        x.delivered.filter((m) => m.type === MessageType.MsgApp || m.type === MessageType.MsgAppResp).length;
      assert.ok(
        apps(net) < apps(unfolded.net) * 0.7,
        `MsgApp+MsgAppResp delivered: ${apps(net)} folded, ${apps(unfolded.net)} not`,
      );
    });
  }
});
