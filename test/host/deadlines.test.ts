// Waits bounded by `timeoutMs` (the host's swept deadlines, src/host/deadlines.ts):
// proposals and reads that cannot complete fail with ERR_HOST_TIMEOUT, not
// before their deadline and within a tick or so after it, and leave nothing behind.
import assert from "node:assert/strict";
import { test } from "node:test";
import { DeadlineList } from "../../src/host/deadlines.ts";
import { HostError, HostErrorCode } from "../../src/host/index.ts";
import { waitFor } from "../kv/support/cluster.ts";
import { delta, startCluster } from "./support.ts";

test("DeadlineList fires an entry at the first sweep after its deadline, never a done one", () => {
  const l = new DeadlineList();
  const fired: string[] = [];
  l.add(100, () => fired.push("a"));
  const b = l.add(150, () => fired.push("b"));
  l.add(200, () => {
    fired.push("c");
    // A callback may register more waits: they are kept for later sweeps.
    l.add(250, () => fired.push("d"));
  });
  l.sweep(99);
  l.sweep(100); // a whole-millisecond clock at 100 may be 0.1 ms past the start of ms 100
  assert.deepEqual(fired, []);
  b.done = true; // settled before its deadline
  l.sweep(101);
  assert.deepEqual(fired, ["a"]);
  l.sweep(240);
  assert.deepEqual(fired, ["a", "c"]);
  assert.equal(l.size, 1);
  l.sweep(250);
  assert.deepEqual(fired, ["a", "c"]);
  l.sweep(251);
  assert.deepEqual(fired, ["a", "c", "d"]);
  assert.equal(l.size, 0);
  l.sweep(1000);
  assert.deepEqual(fired, ["a", "c", "d"]);
});

const isTimeout = (e: unknown) => e instanceof HostError && e.code === HostErrorCode.Timeout;

async function pending(h: {
  metrics: { proposalsPending: { get(): Promise<{ values: { value: number }[] }> } };
}) {
  return (await h.metrics.proposalsPending.get()).values[0]?.value ?? 0;
}

test("host: proposals and reads with timeoutMs fail with ERR_HOST_TIMEOUT once a quorum is gone, with or without a leader", async () => {
  const c = await startCluster(3);
  try {
    const lead = await c.leader();
    assert.equal(await lead.propose(delta(1), { timeoutMs: 5000 }), 1);
    await lead.barrier({ timeoutMs: 5000 });
    for (const h of c.hosts) if (h !== lead) await h.stop(0);

    // Still the leader (check-quorum has not deposed it yet): the entry cannot commit.
    let t0 = performance.now();
    await assert.rejects(lead.propose(delta(1), { timeoutMs: 100 }), isTimeout);
    let took = performance.now() - t0;
    assert.ok(took >= 100 && took < 1000, `timed out after ${took.toFixed(0)} ms`);
    t0 = performance.now();
    await assert.rejects(lead.barrier({ timeoutMs: 100 }), isTimeout);
    took = performance.now() - t0;
    assert.ok(took >= 100 && took < 1000, `read timed out after ${took.toFixed(0)} ms`);

    // Deposed (check-quorum): a proposal waiting for a leader times out too.
    await waitFor("the leader to step down", async () => lead.leader() === 0n || undefined);
    t0 = performance.now();
    await assert.rejects(lead.propose(delta(1), { timeoutMs: 150, waitForLeader: true }), isTimeout);
    took = performance.now() - t0;
    assert.ok(took >= 150 && took < 1000, `timed out after ${took.toFixed(0)} ms`);
    assert.equal(await pending(lead), 0, "timed-out proposals leave no waiter");
  } finally {
    await c.close();
  }
});

test("host: a proposal held for a leader is answered by the host's clock, not by a Node timer that may fire early", async () => {
  // The host's clock is injected: once frozen it stands still however long
  // the event loop runs, so the wait has not reached its timeout until the
  // test moves the clock past it. (A Node timer counts from the loop's cached
  // time and fired this answer before timeoutMs had passed.)
  let frozen: number | undefined;
  const c = await startCluster(3, { now: () => frozen ?? Date.now() });
  try {
    const lead = await c.leader();
    for (const h of c.hosts) if (h !== lead) await h.stop(0);
    await waitFor("the leader to step down", async () => lead.leader() === 0n || undefined);
    frozen = Date.now();
    let settled: unknown = "pending";
    const p = lead.propose(delta(1), { timeoutMs: 50, waitForLeader: true }).then(
      () => (settled = "applied"),
      (e: unknown) => (settled = e),
    );
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(settled, "pending", "no answer before the host's clock passes the deadline");
    frozen += 51;
    await p;
    assert.ok(isTimeout(settled), `answered ${String(settled)}`);
    assert.equal(await pending(lead), 0, "the timed-out proposal leaves no waiter");
  } finally {
    await c.close();
  }
});

test("host: a timeoutMs that is not a finite number >= 0 is refused with ERR_HOST_INVALID_ARGUMENT", async () => {
  const c = await startCluster(1);
  try {
    const h = await c.leader();
    const invalid = (e: unknown) => e instanceof HostError && e.code === HostErrorCode.InvalidArgument;
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, "5" as unknown as number]) {
      await assert.rejects(h.propose(delta(1), { timeoutMs: bad }), invalid);
      await assert.rejects(h.barrier({ timeoutMs: bad }), invalid);
    }
    assert.equal(await h.propose(delta(2), { timeoutMs: 5000 }), 2, "a refused call proposed nothing");
  } finally {
    await c.close();
  }
});
