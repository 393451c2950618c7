// The host's ReadIndex rounds (src/host/reads.ts): reads of one microtask
// turn share a round, each round has its own 8-byte context (a counter from
// a random start), and raft's answer reaches only the round that asked.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ReadBatcher } from "../../src/host/reads.ts";
import { ReadState } from "../../src/raft/index.ts";

class Source {
  ctxs: Uint8Array[] = [];
  readIndex(ctx: Uint8Array): Promise<void> {
    this.ctxs.push(ctx.slice());
    return Promise.resolve();
  }
}

const le64 = (n: bigint) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n, true);
  return b;
};
const turn = () => new Promise((r) => setImmediate(r));

test("reads of one turn share a round; rounds count up from the random start, wrapping at 2^64", async () => {
  const src = new Source();
  const rb = new ReadBatcher(
    src,
    (e) => e as Error,
    () => 2n ** 64n - 2n,
  );
  const a = rb.readIndex();
  const b = rb.readIndex();
  await turn();
  const c = rb.readIndex();
  await turn();
  const d = rb.readIndex();
  await turn();
  assert.deepEqual(src.ctxs, [le64(2n ** 64n - 2n), le64(2n ** 64n - 1n), le64(0n)]);
  rb.onReadStates([new ReadState(7, le64(2n ** 64n - 2n)), new ReadState(9, le64(0n))]);
  assert.deepEqual(await Promise.all([a, b, d]), [7, 7, 9]);
  rb.onReadStates([new ReadState(8, le64(2n ** 64n - 1n))]);
  assert.equal(await c, 8);
});

test("an answer for a context not pending, or not 8 bytes, settles nothing", async () => {
  const src = new Source();
  const rb = new ReadBatcher(
    src,
    (e) => e as Error,
    () => 100n,
  );
  let settled = false;
  const r = rb.readIndex().then((i) => {
    settled = true;
    return i;
  });
  await turn();
  rb.onReadStates([
    new ReadState(5, le64(99n)), // an earlier incarnation's round
    new ReadState(5, le64(101n)),
    new ReadState(5, new Uint8Array(7)),
    new ReadState(5, new Uint8Array([100, 0, 0, 0, 0, 0, 0, 0, 0])),
  ]);
  await turn();
  assert.equal(settled, false);
  rb.onReadStates([new ReadState(6, le64(100n))]);
  assert.equal(await r, 6);
  // Answered once: the same answer again is ignored.
  rb.onReadStates([new ReadState(7, le64(100n))]);
});

test("two batchers with the default start draw different contexts (random per incarnation)", async () => {
  const s1 = new Source();
  const s2 = new Source();
  const r1 = new ReadBatcher(s1, (e) => e as Error);
  const r2 = new ReadBatcher(s2, (e) => e as Error);
  void r1.readIndex();
  void r2.readIndex();
  await turn();
  assert.notDeepEqual(s1.ctxs[0], s2.ctxs[0]);
});

test("idle: no read collected, in flight or waiting to be applied (the leader syncs a lone write inline only then)", async () => {
  const src = new Source();
  const rb = new ReadBatcher(
    src,
    (e) => e as Error,
    () => 1n,
  );
  assert.equal(rb.idle, true);
  const r = rb.readIndex();
  assert.equal(rb.idle, false, "collected");
  await turn();
  assert.equal(rb.idle, false, "in flight");
  rb.onReadStates([new ReadState(10, le64(1n))]);
  const index = await r;
  const applied = rb.waitApplied(index, 9);
  assert.equal(rb.idle, false, "waiting to be applied");
  rb.onApplied(10);
  await applied;
  assert.equal(rb.idle, true);
});
