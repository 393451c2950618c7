// A member restarted from its WAL alone (no snapshot yet) rebuilds the
// membership, peer URLs included, from the bootstrap entries: without them a
// restarted cluster's members could not dial each other.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { ProcCluster } from "./support/cluster.ts";

const c = new ProcCluster();
after(async () => {
  await c.cleanup();
});

test("a restart without a snapshot keeps every member's peer URLs", async () => {
  const m1 = await c.add("m1");
  const initial = c.initialCluster(["m1"]);
  c.start(m1, ["--initial-cluster", initial]);
  await c.healthy(m1);
  const before = (await c.status(m1)).members;
  assert.deepEqual(before[0].peerURLs, [m1.peer]);
  await c.kill(m1, "SIGTERM");
  c.start(m1, ["--initial-cluster", initial]);
  await c.healthy(m1);
  const st = await c.status(m1);
  assert.equal(st.snapshotIndex, 0, "restarted from the WAL alone");
  assert.deepEqual(st.members[0].peerURLs, [m1.peer]);
});
