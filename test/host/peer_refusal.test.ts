// A host retires on a peer's refusal only when that peer applied its removal.
//
// The bootstrap of a fresh cluster (issue 16/15: tsraft-kv members exiting
// with status 7, "removed", while a cluster started): each member binds its
// peer listener before it has added its peers, so for a moment a starting
// member knows nobody. A member that is already campaigning sends it votes
// over the pipeline (no stream is up yet) and must take the refusal as "try
// again", never as its removal. The peers here are bare transports standing
// for starting members, so the window lasts as long as the test wants instead
// of the few milliseconds that made the failure rare and load-dependent.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { clusterIdFor, Host, memberIdFor } from "../../src/host/index.ts";
import { ProcessError, Transport } from "../../src/rafthttp/index.ts";
import { freePort, waitFor } from "../kv/support/cluster.ts";
import { CapturingLogger, RecordingRaft } from "../rafthttp/helpers.ts";
import { Counter, fastTiming } from "./support.ts";

/** A member between binding its peer listener and adding its peers: knows no member, raft not running. */
async function startingPeer(id: bigint, clusterId: bigint, port: number) {
  const raft = new RecordingRaft();
  raft.onMessage = () => {
    throw new ProcessError(503, "member is starting");
  };
  const log = new CapturingLogger();
  const t = new Transport({ id, clusterId, raft, logger: log });
  await t.listen(port, "127.0.0.1");
  t.start();
  return { t, raft, log };
}

test("host: refusals from peers that do not know it yet never retire it; a peer that removed it does", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tsraft-host-refusal-"));
  const ports = [await freePort(), await freePort(), await freePort()];
  const initialCluster = ports.map((p, i) => ({ name: `m${i + 1}`, peerURLs: [`http://127.0.0.1:${p}`] }));
  const ids = initialCluster.map((m) => memberIdFor(m.peerURLs, "etcd-cluster"));
  const clusterId = clusterIdFor(ids);
  const peers = [
    await startingPeer(ids[1]!, clusterId, ports[1]!),
    await startingPeer(ids[2]!, clusterId, ports[2]!),
  ];
  const host = new Host({
    name: "m1",
    dataDir: join(dir, "m1"),
    stateMachine: new Counter(),
    initialCluster,
    listenPeerURL: initialCluster[0]!.peerURLs[0]!,
    unsafeNoFsync: true,
    removalLingerMs: 100,
    ...fastTiming,
  });
  let removed = 0;
  host.on("removed", () => removed++);
  let stopped = false;
  void host.done.then(
    () => (stopped = true),
    () => (stopped = true),
  );
  try {
    await host.start();
    assert.equal(host.id, ids[0]);
    // m1 campaigns (pre-votes every election timeout, 200 ms); each starting peer refuses its
    // POSTs and stream dials as from an unknown member (404).
    await waitFor(
      "both starting peers refused m1 a few times",
      // (Or m1 gave up: asserted below, with the reason.)
      async () => removed > 0 || stopped || peers.every((p) => p.t.stats().refused >= 6),
      30_000,
    );
    assert.equal(removed, 0, "m1 took a starting peer's refusal for its removal");
    assert.equal(stopped, false, "m1 is still running");
    for (const p of peers) {
      assert.ok(p.log.has(`cannot process message from unknown member ${ids[0]!.toString(16)}`));
      assert.equal(p.raft.received.length, 0);
    }

    // m2's applied membership now has m1 removed (and m2 knows it as a former peer): its refusal is
    // etcd's "cannot process message from removed member", and m1 retires, after its linger.
    peers[0]!.raft.removed.add(ids[0]!);
    peers[0]!.t.addPeer(ids[0]!, initialCluster[0]!.peerURLs);
    await waitFor("m1 learnt it was removed", async () => removed > 0, 30_000);
    await host.done;
  } finally {
    await host.stop().catch(() => {});
    for (const p of peers) await p.t.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
