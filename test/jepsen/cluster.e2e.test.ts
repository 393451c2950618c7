// The harness's process management on real members: a member that left and
// joined again (a new member ID) restarts as that member after a SIGKILL,
// and keeps its data; pause and resume work; the proxies carry all traffic.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { adminRequest, Cluster } from "../../jepsen/index.ts";
import { repoRoot } from "../support/testdata.ts";

const dir = mkdtempSync(join(tmpdir(), "tsraft-jepsen-cluster-"));
let cluster: Cluster | null = null;
after(async () => {
  await cluster?.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

test("a member that rejoined with a new ID restarts as that member, with its data", async () => {
  const t0 = performance.now();
  const c = await Cluster.create({
    members: 3,
    dir,
    kvRoot: process.env.TSRAFT_JEPSEN_KV_ROOT ?? repoRoot,
    tickMs: 50,
    electionTicks: 10,
    requestTimeoutMs: 2000,
    snapshotCount: 1000,
    fsync: false,
    clock: () => performance.now() - t0,
  });
  cluster = c;
  for (const m of c.members) c.start(m);
  await Promise.all(c.members.map((m) => c.waitHealthy(m, 120_000)));
  const [m1, m2] = c.members as [(typeof c.members)[0], (typeof c.members)[0]];
  const oldId = m1.id;

  // Remove m1 (it stops by itself), wipe it, join again through m2.
  m1.state = "removed";
  m1.expectingExit(true);
  const del = await adminRequest(`${m2.clientURL}/members/${oldId}`, "DELETE", undefined, 10_000);
  assert.equal(del.status, 200, del.body);
  for (let i = 0; i < 200 && m1.running; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(m1.running, false, "a removed member stops");
  c.wipe(m1);
  m1.id = "";
  c.start(m1, { via: m2.clientURL, learner: false });
  m1.state = "up";
  await c.waitHealthy(m1, 60_000);
  assert.notEqual(m1.id, oldId);
  const newId = m1.id;

  // A write through it, then SIGKILL and a plain restart.
  const put = await adminRequest(`${m1.clientURL}/kv/rejoined`, "PUT", "yes", 10_000);
  assert.equal(put.status, 200, put.body);
  await c.kill(m1);
  c.start(m1);
  await c.waitHealthy(m1, 60_000);
  const st = await c.status(m1);
  assert.equal(st.id, newId);
  assert.equal(m1.unexpectedExits.length, 0, `unexpected exits: ${m1.unexpectedExits.join(", ")}`);
  const got = await adminRequest(
    `${m1.clientURL}/kv/rejoined?consistency=serializable`,
    "GET",
    undefined,
    10_000,
  );
  assert.deepEqual([got.status, got.body], [200, "yes"]);

  // SIGSTOP/SIGCONT: the others elect without it if it led; it answers again after.
  c.pause(m1);
  assert.equal(m1.state, "paused");
  await new Promise((r) => setTimeout(r, 1500));
  c.resume(m1);
  await c.waitHealthy(m1, 30_000);
  // Every peer connection went through the proxies.
  for (const m of c.members) assert.ok(m.proxy.stats.accepted > 0, `${m.name}'s proxy saw no connection`);
});
