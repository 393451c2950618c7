// Quorum arithmetic checked against brute-force definitions: the committed
// index of a majority (and joint) configuration, and election outcomes.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { JointConfig, MajorityConfig, MapAckIndexer, VoteResult } from "../../src/internal.ts";

// Voter IDs come from a pool spanning the whole unsigned 64-bit range (small
// test IDs, the 2^53 boundary where numbers stop being exact, values needing
// 9 and 10 varint bytes): quorum arithmetic must not depend on their size.
const ID_POOL: readonly bigint[] = [
  1n,
  2n,
  3n,
  4n,
  5n,
  6n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 53n + 1n,
  2n ** 63n - 1n,
  2n ** 63n,
  2n ** 64n - 1n,
];
const poolId = fc.integer({ min: 0, max: ID_POOL.length - 1 });
const voterSet = fc
  .uniqueArray(poolId, { minLength: 0, maxLength: 7 })
  .map((xs) => xs.map((i) => ID_POOL[i]!));
const acks = fc.dictionary(poolId.map(String), fc.integer({ min: 0, max: 20 }), {
  maxKeys: 12,
});
const votes = fc.dictionary(poolId.map(String), fc.boolean(), { maxKeys: 12 });

function toMap<T>(d: Record<string, T>): Map<bigint, T> {
  return new Map(Object.entries(d).map(([k, v]) => [ID_POOL[Number(k)]!, v]));
}

/** The largest index i such that a majority of voters acked >= i (missing acks count as 0). */
function bruteCommitted(ids: bigint[], m: Map<bigint, number>): number {
  if (ids.length === 0) return Number.POSITIVE_INFINITY;
  let best = 0;
  for (let i = 0; i <= 20; i++) {
    const n = ids.filter((id) => (m.get(id) ?? 0) >= i).length;
    if (n > ids.length / 2) best = i;
  }
  return best;
}

function bruteVote(ids: bigint[], v: Map<bigint, boolean>): VoteResult {
  if (ids.length === 0) return VoteResult.VoteWon;
  const yes = ids.filter((id) => v.get(id) === true).length;
  const missing = ids.filter((id) => !v.has(id)).length;
  if (yes > ids.length / 2) return VoteResult.VoteWon;
  if (yes + missing > ids.length / 2) return VoteResult.VotePending;
  return VoteResult.VoteLost;
}

describe("quorum properties", () => {
  test("majority committed index equals the brute-force definition (a majority acked at least it)", () => {
    fc.assert(
      fc.property(voterSet, acks, (ids, a) => {
        const m = toMap(a);
        assert.equal(new MajorityConfig(ids).committedIndex(new MapAckIndexer(m)), bruteCommitted(ids, m));
      }),
      { numRuns: 500, seed: 42 },
    );
  });

  test("joint committed index is the minimum of both halves; an empty half does not constrain", () => {
    fc.assert(
      fc.property(voterSet, voterSet, acks, (a, b, ack) => {
        const m = toMap(ack);
        const j = new JointConfig(new MajorityConfig(a), new MajorityConfig(b));
        const want = Math.min(bruteCommitted(a, m), bruteCommitted(b, m));
        assert.equal(j.committedIndex(new MapAckIndexer(m)), want);
        // A joint config with an empty outgoing half behaves like its incoming half.
        const simple = new JointConfig(new MajorityConfig(a), new MajorityConfig());
        assert.equal(
          simple.committedIndex(new MapAckIndexer(m)),
          new MajorityConfig(a).committedIndex(new MapAckIndexer(m)),
        );
      }),
      { numRuns: 500, seed: 43 },
    );
  });

  test("the committed index never decreases when any voter's ack increases", () => {
    fc.assert(
      fc.property(
        voterSet,
        acks,
        poolId.map((i) => ID_POOL[i]!),
        fc.integer({ min: 0, max: 5 }),
        (ids, a, id, d) => {
          const m = toMap(a);
          const cfg = new MajorityConfig(ids);
          const before = cfg.committedIndex(new MapAckIndexer(m));
          m.set(id, (m.get(id) ?? 0) + d);
          assert.ok(cfg.committedIndex(new MapAckIndexer(m)) >= before);
        },
      ),
      { numRuns: 300, seed: 44 },
    );
  });

  test("majority vote result equals the brute-force definition", () => {
    fc.assert(
      fc.property(voterSet, votes, (ids, v) => {
        const m = toMap(v);
        assert.equal(new MajorityConfig(ids).voteResult(m), bruteVote(ids, m));
      }),
      { numRuns: 500, seed: 45 },
    );
  });

  test("a joint election is won only if both halves win, lost if either loses", () => {
    fc.assert(
      fc.property(voterSet, voterSet, votes, (a, b, v) => {
        const m = toMap(v);
        const ra = bruteVote(a, m);
        const rb = bruteVote(b, m);
        let want: VoteResult = VoteResult.VotePending;
        if (ra === VoteResult.VoteWon && rb === VoteResult.VoteWon) want = VoteResult.VoteWon;
        else if (ra === VoteResult.VoteLost || rb === VoteResult.VoteLost) want = VoteResult.VoteLost;
        assert.equal(new JointConfig(new MajorityConfig(a), new MajorityConfig(b)).voteResult(m), want);
      }),
      { numRuns: 500, seed: 46 },
    );
  });

  test("examples: committed index of common configurations", () => {
    const ack = (o: Record<number, number>) =>
      new MapAckIndexer(new Map(Object.entries(o).map(([k, v]) => [BigInt(k), v])));
    assert.equal(new MajorityConfig([1n, 2n, 3n]).committedIndex(ack({ 1: 5, 2: 3, 3: 1 })), 3);
    assert.equal(new MajorityConfig([1n, 2n, 3n, 4n]).committedIndex(ack({ 1: 5, 2: 3, 3: 1, 4: 1 })), 1);
    assert.equal(new MajorityConfig([1n, 2n, 3n]).committedIndex(ack({ 1: 5 })), 0);
    assert.equal(new MajorityConfig([]).committedIndex(ack({})), Number.POSITIVE_INFINITY);
  });
});
