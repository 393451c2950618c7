// tsraft-kv end to end, with every member a real process: replication and
// linearizable reads, SIGKILL of the leader, catch-up by snapshot after
// compaction, membership changes, and a full-cluster restart that keeps
// every acknowledged write.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { http, ProcCluster, waitFor } from "./support/cluster.ts";

const c = new ProcCluster();
// Small snapshot interval so that the log is compacted during the test.
c.extraArgs = ["--snapshot-count", "40", "--snapshot-catch-up-entries", "5"];
after(async () => {
  await c.cleanup();
});

const acked = new Map<string, string>();

async function put(url: string, key: string, value: string): Promise<void> {
  const r = await http("PUT", `${url}/kv/${key}`, value);
  assert.equal(r.status, 200, `PUT ${key} via ${url}: ${r.text}`);
  acked.set(key, value);
}

/** A client's retry loop: 503 (no leader yet) and 504 (lost during a leader change) are retried. */
async function putRetrying(url: string, key: string, value: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const r = await http("PUT", `${url}/kv/${key}`, value);
    if (r.status === 200) break;
    assert.ok((r.status === 503 || r.status === 504) && attempt < 20, `PUT ${key} via ${url}: ${r.text}`);
    await new Promise((res) => setTimeout(res, 100));
  }
  acked.set(key, value);
}

/**
 * A linearizable GET, retried while the cluster is between leaders (503/504:
 * under CPU load an election can come and go right after the members were
 * all healthy); any other answer is returned as is.
 */
async function getRetrying(url: string, key: string): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const r = await http("GET", `${url}/kv/${key}`);
    if ((r.status !== 503 && r.status !== 504) || attempt >= 50) return r.text;
    await new Promise((res) => setTimeout(res, 100));
  }
}

test("three members replicate and survive SIGKILL of the leader, restarts and membership changes", async (t) => {
  const [m1, m2, m3] = [await c.add("m1"), await c.add("m2"), await c.add("m3")];
  const initial = c.initialCluster(["m1", "m2", "m3"]);
  for (const m of [m1!, m2!, m3!]) c.start(m, ["--initial-cluster", initial]);
  try {
    for (const m of [m1!, m2!, m3!]) await c.healthy(m);

    await t.test("writes through any member are read back linearizably from every member", async () => {
      for (let i = 0; i < 12; i++) await put([m1!, m2!, m3!][i % 3]!.client, `k${i}`, `v${i}`);
      for (const m of [m1!, m2!, m3!]) {
        for (const [k, v] of acked) {
          const r = await http("GET", `${m.client}/kv/${k}`);
          assert.equal(r.status, 200);
          assert.equal(r.text, v, `${k} on ${m.name}`);
        }
      }
      const metrics = (await http("GET", `${m1!.client}/metrics`)).text;
      assert.match(metrics, /^etcd_server_has_leader 1$/m);
      assert.match(metrics, /^etcd_server_proposals_applied_total [1-9]/m);
      assert.match(metrics, /^etcd_disk_wal_fsync_duration_seconds_count [1-9]/m);
      assert.match(metrics, /^tsraft_kv_request_duration_seconds_count\{op="put",code="200"\} [1-9]/m);
      assert.match(metrics, /^etcd_network_peer_sent_bytes_total\{To="[0-9a-f]+"\} [1-9]/m);
      const range = (await http("GET", `${m2!.client}/kv?prefix=k1`)).json();
      assert.deepEqual(
        range.kvs.map((kv: { key: string }) => kv.key),
        ["k1", "k10", "k11"],
      );
    });

    let killed = m1!;
    await t.test("SIGKILL of the leader: a new leader is elected and writes continue", async () => {
      killed = await c.leader([m1!, m2!, m3!]);
      const before = (await c.status(killed)).term;
      await c.kill(killed, "SIGKILL");
      const survivors = [m1!, m2!, m3!].filter((m) => m !== killed);
      // Election timeout is 10 ticks x 20 ms; allow several.
      const started = Date.now();
      const next = await c.leader(survivors);
      assert.notEqual(next, killed);
      assert.ok(Date.now() - started < 5000, "a new leader within a few election timeouts");
      assert.ok((await c.status(next)).term > before);
      // Enough writes to snapshot and compact past what the dead member has.
      for (let i = 12; i < 100; i++) await put(survivors[i % 2]!.client, `k${i}`, `v${i}`);
    });

    await t.test("the killed member restarts and catches up by snapshot", async () => {
      c.start(killed, ["--initial-cluster", initial]);
      await c.healthy(killed);
      const leader = await c.leader([m1!, m2!, m3!]);
      const target = (await c.status(leader)).commit;
      await waitFor("catch-up", async () => (await c.status(killed)).applied >= target);
      const st = await c.status(killed);
      assert.ok(st.snapshotIndex > 0, "it restored from a snapshot sent by the leader");
      for (const [k, v] of acked) {
        const r = await http("GET", `${killed.client}/kv/${k}?consistency=serializable`);
        assert.equal(r.text, v, `${k} on the restarted member`);
      }
    });

    const m4 = await c.add("m4");
    let live = [m1!, m2!, m3!, m4];
    await t.test("a fourth member joins, and a member is removed", async () => {
      c.start(m4, ["--join", m2!.client]);
      await c.healthy(m4);
      await waitFor("m4 has every key", async () => (await c.status(m4)).revision >= acked.size);
      const members = (await http("GET", `${m1!.client}/members`)).json().members;
      assert.equal(members.length, 4);
      await put(m4.client, "from-m4", "hello");

      // Remove the leader itself: the hardest member to lose.
      const victim = await c.leader([m1!, m2!, m3!, m4]);
      const id = (await c.status(victim)).id;
      const del = await http("DELETE", `${m1!.client}/members/${id}`);
      assert.equal(del.status, 200, del.text);
      assert.equal(await c.exited(victim), 7, "a removed member shuts itself down (exit 7: removed)");
      victim.proc = null;
      const remaining = [m1!, m2!, m3!, m4].filter((m) => m !== victim);
      live = remaining;
      assert.equal((await http("GET", `${remaining[0]!.client}/members`)).json().members.length, 3);
      // The victim may have been the leader: writes resume once a new one is elected.
      const survivor = [m1!, m2!, m4].find((m) => m !== victim)!;
      await putRetrying(survivor.client, "after-removal", "still-works");
    });

    await t.test(
      "a learner added through the API starts with --join, catches up and is promoted",
      async () => {
        const m5 = await c.add("m5");
        const body = JSON.stringify({
          peerURLs: [m5.peer],
          clientURLs: [m5.client],
          name: "m5",
          learner: true,
        });
        const add = await http("POST", `${live[0]!.client}/members`, body);
        assert.equal(add.status, 201, add.text);
        const id = add.json().member.id;
        c.start(m5, ["--join", live[0]!.client]);
        await c.healthy(m5);
        assert.equal((await c.status(m5)).id, id, "it became the member that was added");
        const target = (await c.status(live[0]!)).revision;
        await waitFor("m5 caught up", async () => (await c.status(m5)).revision >= target);
        assert.equal((await c.status(m5)).isLearner, true);
        await waitFor(
          "promotion",
          async () => (await http("POST", `${live[0]!.client}/members/${id}/promote`)).status === 200,
        );
        const members = (await http("GET", `${live[0]!.client}/members`)).json().members as Array<{
          id: string;
          isLearner: boolean;
        }>;
        assert.equal(members.find((m) => m.id === id)?.isLearner, false);
        live = [...live, m5];
      },
    );

    await t.test("a full restart keeps every acknowledged write", async () => {
      await Promise.all(live.map((m) => c.kill(m, "SIGTERM")));
      // Only the first start needs --initial-cluster/--join; the data dir knows the rest.
      for (const m of live)
        c.start(
          m,
          m === m4 || m.name === "m5" ? ["--join", live[0]!.client] : ["--initial-cluster", initial],
        );
      try {
        for (const m of live) await c.healthy(m);
      } catch (err) {
        console.error(c.dumpLogs());
        throw err;
      }
      for (const m of live) {
        for (const [k, v] of acked) {
          assert.equal(await getRetrying(m.client, k), v, `${k} on ${m.name} after the restart`);
        }
      }
    });
  } catch (err) {
    console.error(c.dumpLogs());
    throw err;
  }
});
