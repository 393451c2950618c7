// The leader's per-follower bookkeeping: the in-flight window (by count and
// by bytes, as a ring buffer) and the Progress state machine.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ConfChangeSingle,
  ConfChangeType,
  ConfState,
  ProgressStateType,
  TrackerInvariantError,
} from "../../src/index.ts";
import { Changer, Inflights, MapAckIndexer, Progress, ProgressTracker, restore } from "../../src/internal.ts";

const { StateProbe, StateReplicate, StateSnapshot } = ProgressStateType;

describe("Inflights", () => {
  test("add fills the window up to its message count; full() then refuses more", () => {
    const f = new Inflights(10);
    for (let i = 0; i < 5; i++) f.add(i, 100 + i);
    assert.equal(f.count(), 5);
    assert.equal(f.bytes(), 510);
    assert.equal(f.full(), false);
    for (let i = 5; i < 10; i++) f.add(i, 100 + i);
    assert.equal(f.full(), true);
    assert.throws(() => f.add(10, 1), { name: "TrackerInvariantError", code: "ERR_TRACKER_INVARIANT" });
    assert.equal(f.count(), 10, "the refused add left the window as it was");
  });

  test("freeLE releases every message up to the index, with its bytes", () => {
    const f = new Inflights(10);
    for (let i = 0; i < 10; i++) f.add(i, 100 + i);
    f.freeLE(0);
    assert.deepEqual([f.count(), f.bytes()], [9, 1045 - 100]);
    f.freeLE(5);
    assert.equal(f.count(), 4);
    assert.equal(f.bytes(), 106 + 107 + 108 + 109);
    // Freeing below the window is a no-op.
    f.freeLE(3);
    assert.equal(f.count(), 4);
    f.freeLE(8);
    assert.equal(f.count(), 1);
    f.freeLE(9);
    assert.deepEqual([f.count(), f.bytes(), f.full()], [0, 0, false]);
  });

  test("the ring buffer wraps around when the window slides", () => {
    const f = new Inflights(10);
    for (let i = 0; i < 5; i++) f.add(i, 1);
    f.freeLE(4);
    // 10 more: the buffer wraps after 5 of them.
    for (let i = 5; i < 15; i++) f.add(i, 1);
    assert.equal(f.full(), true);
    f.freeLE(9);
    assert.equal(f.count(), 5);
    for (let i = 15; i < 20; i++) f.add(i, 1);
    assert.equal(f.full(), true);
    f.freeLE(19);
    assert.equal(f.count(), 0);
    for (let i = 20; i < 30; i++) f.add(i, 1);
    assert.equal(f.count(), 10);
  });

  test("with a byte limit, the window is full once the in-flight bytes reach it", () => {
    const f = new Inflights(10, 1000);
    f.add(1, 400);
    f.add(2, 500);
    assert.equal(f.full(), false);
    f.add(3, 100);
    assert.equal(f.full(), true);
    f.freeLE(1);
    assert.equal(f.full(), false);
    assert.equal(f.bytes(), 600);
    // A single message may exceed the limit on its own.
    const g = new Inflights(10, 1000);
    g.add(1, 5000);
    assert.equal(g.full(), true);
    g.freeLE(1);
    assert.equal(g.full(), false);
  });

  test("reset empties the window; clone shares nothing", () => {
    const f = new Inflights(4, 100);
    f.add(1, 10);
    f.add(2, 20);
    const c = f.clone();
    f.reset();
    assert.deepEqual([f.count(), f.bytes()], [0, 0]);
    assert.deepEqual([c.count(), c.bytes()], [2, 30]);
    c.freeLE(1);
    assert.equal(c.count(), 1);
  });

  test("model check: count and bytes always equal those of the unacknowledged messages", () => {
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const f = new Inflights(8, 5000);
    const model: Array<[number, number]> = [];
    let next = 1;
    let freed = 0;
    for (let step = 0; step < 5000; step++) {
      if (rnd(2) === 0 && !f.full()) {
        const b = rnd(1200);
        f.add(next, b);
        model.push([next, b]);
        next++;
      } else if (next > 1) {
        const to = freed + rnd(next - freed);
        f.freeLE(to);
        while (model.length > 0 && model[0]![0] <= to) model.shift();
        freed = Math.max(freed, to);
      }
      assert.equal(f.count(), model.length);
      assert.equal(
        f.bytes(),
        model.reduce((a, [, b]) => a + b, 0),
      );
      assert.equal(f.full(), model.length === 8 || f.bytes() >= 5000);
    }
  });
});

describe("Progress", () => {
  const pr = (state: ProgressStateType, match: number, next: number, maxInflight = 256): Progress => {
    const p = new Progress(next, new Inflights(maxInflight));
    p.state = state;
    p.match = match;
    return p;
  };

  test("becomeProbe probes from match+1, or from just past a pending snapshot", () => {
    const cases: Array<[Progress, number]> = [
      [pr(StateReplicate, 1, 5), 2],
      [
        (() => {
          const p = pr(StateSnapshot, 1, 5);
          p.pendingSnapshot = 10;
          return p;
        })(),
        11,
      ],
      [
        (() => {
          const p = pr(StateSnapshot, 1, 5);
          p.pendingSnapshot = 0;
          return p;
        })(),
        2,
      ],
    ];
    for (const [p, wnext] of cases) {
      p.becomeProbe();
      assert.equal(p.state, StateProbe);
      assert.equal(p.match, 1);
      assert.equal(p.next, wnext);
      assert.equal(p.pendingSnapshot, 0);
    }
  });

  test("becomeReplicate sends from match+1; becomeSnapshot records the snapshot index", () => {
    const p = pr(StateProbe, 1, 5);
    p.becomeReplicate();
    assert.deepEqual([p.state, p.match, p.next], [StateReplicate, 1, 2]);
    const s = pr(StateProbe, 1, 5);
    s.becomeSnapshot(10);
    assert.deepEqual([s.state, s.match, s.next, s.pendingSnapshot], [StateSnapshot, 1, 11, 10]);
  });

  test("maybeUpdate raises match and next on a newer acknowledgement only, and unpauses", () => {
    const prevM = 3;
    const prevN = 5;
    const cases: Array<[number, number, number, boolean]> = [
      [prevM - 1, prevM, prevN, false],
      [prevM, prevM, prevN, false],
      [prevM + 1, prevM + 1, prevN, true],
      [prevM + 2, prevM + 2, prevN + 1, true],
    ];
    for (const [update, wm, wn, wok] of cases) {
      const p = pr(StateProbe, prevM, prevN);
      p.msgAppFlowPaused = true;
      assert.equal(p.maybeUpdate(update), wok);
      assert.deepEqual([p.match, p.next], [wm, wn]);
      assert.equal(p.msgAppFlowPaused, !wok);
    }
  });

  test("maybeDecrTo: replicate falls back to match+1 unless the rejection is stale; probe honours the hint only for the probe in flight", () => {
    // state, match, next, rejected, hint, ok, next after
    const cases: Array<[ProgressStateType, number, number, number, number, boolean, number]> = [
      [StateReplicate, 5, 10, 5, 5, false, 10],
      [StateReplicate, 5, 10, 4, 4, false, 10],
      [StateReplicate, 5, 10, 9, 9, true, 6],
      [StateProbe, 0, 0, 0, 0, false, 0],
      [StateProbe, 0, 10, 5, 5, false, 10],
      [StateProbe, 0, 10, 9, 9, true, 9],
      [StateProbe, 0, 2, 1, 1, true, 1],
      [StateProbe, 0, 1, 0, 0, true, 1],
      [StateProbe, 0, 10, 9, 2, true, 3],
      [StateProbe, 0, 10, 9, 0, true, 1],
    ];
    for (const [state, m, n, rejected, hint, wok, wn] of cases) {
      const p = pr(state, m, n);
      assert.equal(p.maybeDecrTo(rejected, hint), wok, `${[state, m, n, rejected, hint]}`);
      assert.equal(p.match, m);
      assert.equal(p.next, wn, `${[state, m, n, rejected, hint]}`);
    }
  });

  test("isPaused: probe and replicate follow the flow flag (replicate also a full window), snapshot is always paused", () => {
    for (const [state, paused, want] of [
      [StateProbe, false, false],
      [StateProbe, true, true],
      [StateReplicate, false, false],
      [StateReplicate, true, true],
      [StateSnapshot, false, true],
      [StateSnapshot, true, true],
    ] as const) {
      const p = pr(state, 0, 1);
      p.msgAppFlowPaused = paused;
      assert.equal(p.isPaused(), want);
    }
    const r = pr(StateReplicate, 0, 1, 2);
    r.sentEntries(1, 10);
    assert.equal(r.isPaused(), false);
    r.sentEntries(1, 10);
    assert.equal(r.isPaused(), true);
    assert.equal(r.next, 3);
  });

  test("sentEntries in probe pauses after a non-empty append; an empty one does not", () => {
    const p = pr(StateProbe, 0, 1);
    p.sentEntries(0, 0);
    assert.equal(p.msgAppFlowPaused, false);
    p.sentEntries(2, 10);
    assert.equal(p.msgAppFlowPaused, true);
    assert.equal(p.next, 1);
    assert.throws(
      () => pr(StateSnapshot, 0, 1).sentEntries(1, 1),
      (e) => e instanceof TrackerInvariantError,
    );
    assert.equal(new TrackerInvariantError("x").code, "ERR_TRACKER_INVARIANT");
  });

  test("a state change clears the flow pause, the pending snapshot and the window", () => {
    const p = pr(StateReplicate, 1, 5);
    p.inflights.add(5, 10);
    p.msgAppFlowPaused = true;
    p.becomeProbe();
    assert.equal(p.msgAppFlowPaused, false);
    assert.equal(p.inflights.count(), 0);
  });

  test("canBumpCommit: only a newer commit index for a follower with unacknowledged room", () => {
    const p = pr(StateReplicate, 5, 10);
    p.sentCommitIndex(4);
    assert.equal(p.canBumpCommit(6), true);
    assert.equal(p.canBumpCommit(4), false);
    p.sentCommitIndex(9);
    assert.equal(p.canBumpCommit(12), false);
  });
});

describe("ProgressTracker", () => {
  test("quorumActive counts recently active voters only", () => {
    const t = new ProgressTracker(10);
    restore(new Changer(t, 1), new ConfState([1n, 2n, 3n], [4n]));
    for (const id of [1n, 2n, 3n, 4n]) t.progress.get(id)!.recentActive = false;
    t.progress.get(4n)!.recentActive = true;
    t.progress.get(1n)!.recentActive = true;
    assert.equal(t.quorumActive(), false);
    t.progress.get(2n)!.recentActive = true;
    assert.equal(t.quorumActive(), true);
    assert.deepEqual(t.voterNodes(), [1n, 2n, 3n]);
    assert.deepEqual(t.learnerNodes(), [4n]);
  });

  test("votes: only the first vote of each voter counts; learners' votes are ignored", () => {
    const t = new ProgressTracker(10);
    restore(new Changer(t, 1), new ConfState([1n, 2n, 3n], [4n]));
    t.recordVote(1n, true);
    t.recordVote(1n, false);
    t.recordVote(4n, true);
    assert.deepEqual(t.tallyVotes(), { granted: 1, rejected: 0, result: 1 });
    t.recordVote(2n, false);
    t.recordVote(3n, false);
    assert.deepEqual(t.tallyVotes(), { granted: 1, rejected: 2, result: 2 });
    t.resetVotes();
    assert.deepEqual(t.tallyVotes().granted, 0);
  });

  test("committed is the highest index acknowledged by a majority of voters", () => {
    const t = new ProgressTracker(10);
    restore(new Changer(t, 1), new ConfState([1n, 2n, 3n, 4n, 5n], [6n]));
    const matches = [10, 8, 6, 4, 2, 100];
    matches.forEach((m, i) => {
      t.progress.get(BigInt(i + 1))!.match = m;
    });
    assert.equal(t.committed(), 6);
    assert.equal(t.isSingleton(), false);
  });

  // committed() reads the voters' Progress through arrays cached per
  // (configuration, progress map); every change must be seen at once.
  test("committed follows a replaced Progress, a conf change and a joint config (no stale cache)", () => {
    const A = 0x8e9e05c52164694dn;
    const B = 0xfd422379fda50e48n;
    const C = 0xc3bd5dc21f5b6ef1n;
    const D = 2n ** 63n;
    const t = new ProgressTracker(10);
    restore(new Changer(t, 1), new ConfState([A, B, C]));
    const set = (id: bigint, match: number) => {
      t.progress.get(id)!.match = match;
    };
    set(A, 10);
    set(B, 7);
    set(C, 3);
    assert.equal(t.committed(), 7);
    // Match read afresh each time.
    set(C, 9);
    assert.equal(t.committed(), 9);
    // A Progress replaced in the map.
    const fresh = new Progress(1, t.newInflights());
    fresh.match = 2;
    t.progress.set(B, fresh);
    assert.equal(t.committed(), 9);
    set(C, 1);
    assert.equal(t.committed(), 2);
    // Add a voter D (match 0) through the Changer: 4 voters need 3 acks.
    const r = new Changer(t, 10).simple([new ConfChangeSingle(ConfChangeType.ConfChangeAddNode, D)]);
    t.setConfig(r.config, r.progress);
    assert.equal(t.committed(), 1);
    set(D, 20);
    assert.equal(t.committed(), 2);
    // Joint: incoming {A, C, D} and outgoing {A, B, C, D}; both must agree.
    const j = new Changer(t, 10).enterJoint(false, [
      new ConfChangeSingle(ConfChangeType.ConfChangeRemoveNode, B),
    ]);
    t.setConfig(j.config, j.progress);
    set(A, 30);
    set(C, 25);
    set(D, 25);
    // incoming (30, 25, 25) -> 25; outgoing (30, 2, 25, 25) -> 25.
    assert.equal(t.committed(), 25);
    set(C, 2);
    // incoming (30, 2, 25) -> 25; outgoing (30, 2, 2, 25) -> 2.
    assert.equal(t.committed(), 2);
    // The same answer as the quorum code's own computation.
    const acks = new MapAckIndexer(new Map([...t.progress].map(([id, pr]) => [id, pr.match])));
    assert.equal(t.committed(), t.config.voters.committedIndex(acks));
    // A removed entry is seen too (a voter without progress counts as 0):
    // incoming (0, 2, 25) -> 2; outgoing (0, 2, 2, 25) -> 2.
    t.progress.delete(A);
    assert.equal(t.committed(), 2);
    set(C, 0);
    assert.equal(t.committed(), 0);
    set(C, 26);
    // incoming (0, 26, 25) -> 25; outgoing (0, 2, 26, 25) -> 2.
    assert.equal(t.committed(), 2);
    set(B, 30);
    // outgoing (0, 30, 26, 25) -> 25.
    assert.equal(t.committed(), 25);
  });

  test("ProgressMap.get remembers its last answer but never a stale one", () => {
    const t = new ProgressTracker(10);
    restore(new Changer(t, 1), new ConfState([1n, 2n]));
    const m = t.progress;
    const p1 = m.get(1n)!;
    assert.equal(m.get(1n), p1);
    assert.equal(m.has(1n), true);
    m.delete(1n);
    assert.equal(m.get(1n), undefined);
    assert.equal(m.has(1n), false);
    const p = new Progress(1, t.newInflights());
    m.set(1n, p);
    assert.equal(m.get(1n), p);
    assert.deepEqual(m.sortedIds(), [1n, 2n]);
    assert.deepEqual(m.sortedProgress(), [p, m.get(2n)]);
    assert.equal(m.get(3n), undefined);
    m.clear();
    assert.equal(m.get(2n), undefined);
    assert.deepEqual(m.sortedProgress(), []);
  });
});
