// The host's raft clock under strict leases (src/host/ticker.ts, host.ts):
// every elapsed tick is delivered after a stall, and the election clock is
// not fast-forwarded at start, so a restarted member keeps its promise.
import assert from "node:assert/strict";
import { test } from "node:test";
import { TickClock } from "../../src/host/ticker.ts";
import { ReadOnlyOption } from "../../src/index.ts";
import { fastTiming, startCluster } from "./support.ts";

test("TickClock: none before the first period, one per period, and every tick missed in a stall", () => {
  const c = new TickClock(100, 1000);
  assert.equal(c.due(1050), 0, "early timer");
  assert.equal(c.due(1100), 1);
  assert.equal(c.due(1199), 0);
  assert.equal(c.due(1250), 1);
  assert.equal(c.due(1849), 6, "after a stall: the 6 ticks due at 1300, 1400, ..., 1800");
  assert.equal(c.due(1900), 1);
  // Over any sequence of calls, the ticks delivered are the periods elapsed.
  const d = new TickClock(7, 0);
  let total = 0;
  let now = 0;
  for (let i = 0; i < 1000; i++) {
    now += (i * 37) % 23;
    total += d.due(now);
  }
  assert.equal(total, Math.floor(now / 7));
});

test("host with strict leases: a (re)started member does not fast-forward its election clock", async () => {
  // Three single-member clusters: each must wait out its promise (an election
  // timeout of ticks) before it may elect itself. With the fast-forward the
  // promise was ticked away at start and each elected itself after 1 to 10
  // ticks: all three waiting 9 or more would happen by chance once in ~125.
  const t0 = performance.now();
  const cs = await Promise.all(
    [0, 1, 2].map(() => startCluster(1, { readOnlyOption: ReadOnlyOption.ReadOnlyLeaseBased })),
  );
  try {
    const took = await Promise.all(
      cs.map(async (c) => {
        await c.leader();
        return performance.now() - t0;
      }),
    );
    const floor = (fastTiming.electionTicks - 1) * fastTiming.tickMs;
    for (const ms of took) assert.ok(ms >= floor, `elected after ${ms.toFixed(0)} ms, before ${floor} ms`);
  } finally {
    await Promise.all(cs.map((c) => c.close()));
  }
});
