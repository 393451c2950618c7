// The `etcd3` npm client (microsoft/etcd3 1.1.2), written by people who never
// saw this server, against a three-member tsraft-kv: a watch that reconnects
// through a kill -9 of the leader it was connected to and loses or repeats no
// event, leases kept alive by the client across a leader change, STM and
// compare-and-swap transactions under contention through different members,
// and its lock and election recipes.
//
// The members run with etcd's default timing (100 ms heartbeat, 1 s election
// timeout), as the client's users would: this file shares a loaded machine,
// where 20 ms ticks elect a new leader whenever a member is descheduled for
// 200 ms, and each new leader extends every lease (see the lease case).
//
// Every case leaves the cluster as it found it (three members, no watcher,
// campaign or observer left running) even when it fails: etcd3 reconnects a
// watch forever, so one left behind keeps this process from exiting, and a
// member left down would fail the following cases for the wrong reason. The
// lease case, which kills a member too, runs last and leaves it down (a
// member's start costs 5-15 s of this file's time on the loaded machine).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  type Campaign,
  type ElectionObserver,
  Etcd3,
  EtcdLockFailedError,
  type IKeyValue,
  type Watcher,
} from "etcd3";
import { ConnectionPool } from "etcd3/lib/connection-pool.js";
import { sleep, TsCluster, waitFor } from "./support.ts";

let ts: TsCluster;
const clients: Etcd3[] = [];

/**
 * A client on these endpoints. etcd3 picks a host at random for each call
 * and each (re)connection; `viaFirstHost` makes calls go to eps[0]: with
 * deterministicOrder set it walks its hosts from the last to the first (and
 * then always starts there, so it is unset again: a watch would otherwise
 * reconnect to a dead first host forever).
 */
function client(eps: string[]): Etcd3 {
  const c = new Etcd3({ hosts: [...eps].reverse().map((e) => `http://${e}`) });
  clients.push(c);
  return c;
}

async function viaFirstHost<T>(fn: () => Promise<T>): Promise<T> {
  ConnectionPool.deterministicOrder = true;
  try {
    return await fn();
  } finally {
    ConnectionPool.deterministicOrder = false;
  }
}

/** Runs `fn` on `n` lanes at once over the indexes [from, to). */
async function lanes(n: number, from: number, to: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = from;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < to) await fn(next++);
    }),
  );
}

before(async () => {
  ts = await TsCluster.start(3, [], { fastTiming: false });
});
after(async () => {
  for (const c of clients) c.close();
  await ts?.close();
});

test("watch through a kill -9 of the leader it is connected to: it reconnects and every event arrives exactly once", {
  timeout: 60_000,
}, async (t) => {
  const leader = await ts.leaderEp();
  const followers = await ts.followerEps();
  const watcher = client([leader, ...followers]); // the watch stream goes to the leader (first)
  const writer = client(followers);
  const auditor = client([followers[0]!]);
  const w = await viaFirstHost(() => watcher.watch().prefix("wk/").create());
  let replay: Watcher | undefined;
  let back: Promise<void> | undefined;
  try {
    const seen: Array<{ rev: number; key: string; type: string }> = [];
    let reconnects = 0;
    w.on("data", (res) => {
      for (const e of res.events)
        seen.push({ rev: Number(e.kv.mod_revision), key: e.kv.key.toString(), type: e.type });
    });
    w.on("disconnected", () => reconnects++);
    const acked: number[] = [];
    let failed = 0;
    const failures = new Map<string, number>();
    let next = 0;
    /**
     * Four writers at once through the followers until `n` more writes are
     * acknowledged. A write may fail around the kill: one forwarded to the
     * dead leader times out after the request timeout (5 s + 2 election
     * timeouts, as etcd's does), and etcd3's circuit breaker, open for 5 s
     * after three such failures on a member, then fails every call at once;
     * its outcome is unknown and the history comparison below covers it.
     * Counting acknowledged writes, not attempts, keeps the case about the
     * watch: a fixed number of attempts spent itself in that window.
     */
    const writeUntil = async (n: number) => {
      const target = acked.length + n;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (acked.length < target) {
            const i = next++;
            try {
              const r = await writer.put(`wk/${i % 7}`).value(String(i));
              acked.push(Number(r.header.revision));
            } catch (err) {
              failed++;
              failures.set(String(err), (failures.get(String(err)) ?? 0) + 1);
              await sleep(100);
            }
          }
        }),
      );
    };
    const first = Number((await writer.put("wk/start").value("0")).header.revision);
    acked.push(first);
    await writeUntil(40);
    await ts.kill9(leader);
    await writeUntil(80);
    // The killed member starts again while the events are checked (it takes no part in that).
    back = ts.restartKilled();
    back.catch(() => {}); // awaited below
    const last = Math.max(...acked);
    await waitFor(
      "the watcher caught up",
      async () => seen.length > 0 && seen[seen.length - 1]!.rev >= last,
      20_000,
    );
    await sleep(300); // anything duplicated late would show up here
    assert.ok(reconnects >= 1, "the watch stream was cut and reconnected");

    // The store's own history of the prefix, replayed by a fresh watch on a surviving member.
    const history: Array<{ rev: number; key: string; type: string }> = [];
    replay = await auditor.watch().prefix("wk/").startRevision(String(first)).create();
    replay.on("data", (res) => {
      for (const e of res.events)
        history.push({ rev: Number(e.kv.mod_revision), key: e.kv.key.toString(), type: e.type });
    });
    await waitFor(
      "the replay",
      async () => history.length > 0 && history[history.length - 1]!.rev >= last,
      20_000,
    );
    const revs = seen.map((e) => e.rev);
    assert.deepEqual(
      revs,
      [...new Set(revs)].sort((a, b) => a - b),
      "revisions strictly increasing: no duplicate",
    );
    assert.deepEqual(
      seen,
      history.filter((e) => e.rev <= seen[seen.length - 1]!.rev),
      "no event lost",
    );
    for (const r of acked) assert.ok(revs.includes(r), `acknowledged revision ${r} was delivered`);
    t.diagnostic(`${acked.length} writes acknowledged, ${failed} failed: ${JSON.stringify([...failures])}`);
  } finally {
    await replay?.cancel();
    await w.cancel();
    await (back ?? ts.restartKilled()); // back to three members for the next cases
  }
});

test("STM and compare-and-swap transactions under contention through every member", {
  timeout: 60_000,
}, async () => {
  const eps = ts.eps();
  assert.equal(eps.length, 3);
  const cs = eps.map((e) => client([e]));
  await cs[0]!.put("stm/counter").value("0");
  const incr = (c: Etcd3) =>
    c.stm({ retries: 100 }).transact(async (tx) => {
      const v = Number(await tx.get("stm/counter").string());
      await tx.put("stm/counter").value(String(v + 1));
    });
  // Six at a time (two per member): contention enough for conflicts and retries, without the
  // all-against-all retry storm of 24 at once (each commit costs every other contender a
  // retry) that took this case from 3 s to 25 s on the loaded machine.
  await lanes(6, 0, 24, (i) => incr(cs[i % cs.length]!));
  assert.equal(await cs[1]!.get("stm/counter").string(), "24");
  // Raw CAS on the mod revision: each success is one increment, failures retry.
  await cs[0]!.put("cas/n").value("0");
  let conflicts = 0;
  const casIncr = async (c: Etcd3) => {
    for (;;) {
      const cur = (await c.get("cas/n").exec()).kvs[0] as IKeyValue;
      const r = await c
        .if("cas/n", "Mod", "==", cur.mod_revision)
        .then(c.put("cas/n").value(String(Number(cur.value.toString()) + 1)))
        .commit();
      if (r.succeeded) return;
      conflicts++;
    }
  };
  await lanes(6, 0, 18, (i) => casIncr(cs[i % cs.length]!));
  assert.equal(await cs[2]!.get("cas/n").string(), "18");
  assert.ok(conflicts > 0, "the clients did contend");
});

test("lock recipe: critical sections never overlap, across clients on different members", {
  timeout: 60_000,
}, async () => {
  const eps = ts.eps();
  assert.equal(eps.length, 3);
  const cs = eps.map((e) => client([e]));
  let inside = 0;
  let maxInside = 0;
  let counter = 0;
  const work = async (c: Etcd3) => {
    for (let i = 0; i < 3; i++) {
      // etcd3's lock is a try-lock (one compare-and-put): contenders retry, every 50 ms (a
      // failed try is three writes: lease grant, the compare, lease revoke; five contenders
      // retrying faster queue the holder's release behind their own tries on a loaded machine).
      const lock = await waitFor(
        "the lock",
        async () => {
          const l = c.lock("locks/one").ttl(5);
          try {
            return await l.acquire();
          } catch (err) {
            if (err instanceof EtcdLockFailedError) return undefined;
            throw err;
          }
        },
        40_000,
        50,
      );
      try {
        inside++;
        maxInside = Math.max(maxInside, inside);
        const v = counter;
        await sleep(20);
        counter = v + 1;
        inside--;
      } finally {
        await lock.release();
      }
    }
  };
  await Promise.all([...cs, ...cs].map(work));
  assert.equal(maxInside, 1, "two holders at once");
  assert.equal(counter, 18);
  assert.deepEqual(await cs[0]!.getAll().prefix("locks/").keys(), [], "every lock key released");
});

test("election recipe: one leader at a time; observers follow resignations; a leader's value is proclaimed", {
  timeout: 60_000,
}, async () => {
  const eps = ts.eps();
  assert.equal(eps.length, 3);
  const cs = eps.map((e) => client([e]));
  const campaigns: Campaign[] = [];
  let observer: ElectionObserver | undefined;
  try {
    const elected: string[] = [];
    const errors: unknown[] = [];
    // The candidate that holds the office; a second 'elected' while it does is two leaders at once.
    let holder: string | null = null;
    const overlaps: string[] = [];
    for (const [i, c] of cs.entries()) {
      const cp = c.election("el/main", 5).campaign(`cand-${i}`);
      campaigns.push(cp);
      cp.on("error", (err) => errors.push(err));
      cp.on("elected", () => {
        if (holder !== null) overlaps.push(`cand-${i} elected while cand-${holder} held the office`);
        holder = String(i);
        elected.push(`cand-${i}`);
      });
    }
    await waitFor("a first leader", async () => elected.length === 1, 20_000);
    // The observer starts once there is a leader: started before, it would race the campaigns.
    // etcd3's observer takes the LAST put of a watch response as the leader, and the three
    // campaign puts arrive in one catch-up response when they land between its range read
    // and its watch (Go's concurrency.Election takes the first), against etcd as here.
    observer = await cs[0]!.election("el/main").observe();
    const changes: Array<string | undefined> = [];
    observer.on("change", (v) => changes.push(v));
    for (let round = 0; round < 3; round++) {
      await waitFor(`round ${round}: a leader`, async () => elected.length === round + 1, 20_000);
      const leader = elected[round]!;
      // The observer follows the office: the first leader, then each successor after a resignation.
      await waitFor(
        `round ${round}: the observer names ${leader}`,
        async () => observer!.leader() === leader,
      );
      assert.equal(await cs[1]!.election("el/main").leader(), leader);
      const cp = campaigns[Number(leader.split("-")[1])]!;
      await cp.proclaim(`${leader}-proclaimed`);
      await waitFor("the observer saw the proclamation", async () =>
        changes.includes(`${leader}-proclaimed`),
      );
      holder = null; // it stops acting as the leader before it resigns
      await cp.resign();
    }
    assert.equal(new Set(elected).size, 3, `each candidate led once: ${elected}`);
    assert.deepEqual(overlaps, [], "one leader at a time");
    assert.deepEqual(errors, [], "no campaign failed");
  } finally {
    await observer?.cancel();
    for (const cp of campaigns) await cp.resign().catch(() => undefined);
  }
});

test("leases kept alive by the client survive a leader change; an unkept one expires", {
  timeout: 60_000,
}, async () => {
  const leader = await ts.leaderEp();
  const followers = await ts.followerEps();
  const c = client(followers);
  const kept = c.lease(2);
  let lost: unknown;
  kept.on("lost", (err) => {
    lost = err;
  });
  try {
    await kept.put("ls/kept").value("yes");
    const once = c.lease(2, { autoKeepAlive: false });
    await once.put("ls/once").value("yes");
    const keptId = await kept.grant();
    await sleep(500);
    await ts.kill9(leader);
    const killed = Date.now();
    // The unkept lease lives a full TTL from the new leader's election (a new
    // leader restarts every lease's clock, as etcd's does), so it is gone a
    // few seconds after the kill; the kept one must outlive four TTLs and that.
    await waitFor("the unkept lease expired", async () => (await c.get("ls/once").string()) === null, 30_000);
    const left = 8000 - (Date.now() - killed);
    if (left > 0) await sleep(left);
    assert.equal(lost, undefined, `the client's lease was lost: ${lost}`);
    assert.equal(await c.get("ls/kept").string(), "yes");
    assert.equal(await c.get("ls/once").string(), null, "the unkept lease expired");
    const ttl = await c.leaseClient.leaseTimeToLive({ ID: keptId });
    assert.ok(Number(ttl.TTL) > 0 && Number(ttl.TTL) <= 2, `remaining ${ttl.TTL}`);
    assert.ok(Date.now() - killed >= 8000);
    await kept.revoke();
    assert.equal(await c.get("ls/kept").string(), null);
    assert.deepEqual((await c.leaseClient.leaseLeases()).leases, [], `no lease left (had ${keptId})`);
  } finally {
    kept.release(); // stops the keep-alives if the case failed before revoking
    // The last case: the killed member stays down (after() stops the cluster).
  }
});
