// restoreMember: a new cluster's data directories from one state machine
// image, started as restarting members (tsraft/host, src/host/restore.ts).
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  clusterIdFor,
  Host,
  type HostConfig,
  HostError,
  HostErrorCode,
  memberIdFor,
  restoreMember,
} from "../../src/host/index.ts";
import { freePort, waitFor } from "../kv/support/cluster.ts";
import { Counter, delta, fastTiming } from "./support.ts";

/** A Counter's image holding `value`. */
function counterImage(value: number): Uint8Array[] {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, value, true);
  return [b];
}

test("three members restored from one image elect a leader, hold its state and go on from index 4", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tsraft-restore-"));
  const ports = await Promise.all([0, 1, 2].map(() => freePort()));
  const initialCluster = ports.map((p, i) => ({ name: `r${i + 1}`, peerURLs: [`http://127.0.0.1:${p}`] }));
  const token = "restored-cluster";
  const ids = initialCluster.map((m) => memberIdFor(m.peerURLs, token));
  for (const m of initialCluster) {
    const r = await restoreMember({
      dataDir: join(dir, m.name),
      name: m.name,
      initialCluster,
      initialClusterToken: token,
      image: counterImage(42),
      unsafeNoFsync: true,
    });
    // The IDs a bootstrap with these flags derives (so the start-up check passes).
    assert.equal(r.id, memberIdFor(m.peerURLs, token));
    assert.equal(r.clusterId, clusterIdFor(ids));
    assert.deepEqual([r.index, r.term], [3, 1]);
    assert.deepEqual(
      r.members.map((x) => x.name).sort(),
      ["r1", "r2", "r3"],
      "every initial member is in the membership",
    );
    assert.ok(!existsSync(join(dir, m.name, "member.restoring")), "no temporary directory is left");
  }
  const sms: Counter[] = [];
  const hosts = initialCluster.map((m) => {
    const sm = new Counter();
    sms.push(sm);
    const cfg: HostConfig<number, "get", number> = {
      name: m.name,
      dataDir: join(dir, m.name),
      stateMachine: sm,
      initialCluster,
      initialClusterToken: token,
      listenPeerURL: m.peerURLs[0]!,
      unsafeNoFsync: true,
      ...fastTiming,
    };
    return new Host(cfg);
  });
  try {
    await Promise.all(hosts.map((h) => h.start()));
    for (const sm of sms) assert.equal(sm.value, 42, "the image is restored before anything is applied");
    const leader = await waitFor("a leader", async () => hosts.find((h) => h.leader() === h.id));
    assert.ok(leader.currentTerm() >= 2, "the first election is for term 2");
    assert.equal(await leader.propose(delta(1)), 43);
    await waitFor("every member applied it", async () => sms.every((s) => s.value === 43));
    for (const sm of sms) {
      assert.ok(
        sm.applied[0]! > 3,
        `the first command applied is after the snapshot (index ${sm.applied[0]})`,
      );
    }
    for (const h of hosts) {
      assert.equal(h.clusterId, clusterIdFor(ids));
      assert.deepEqual(
        h
          .members()
          .map((x) => x.id)
          .sort(),
        [...ids].sort(),
      );
      assert.equal(h.status().snapshotIndex, 3);
    }
  } finally {
    await Promise.all(hosts.map((h) => h.stop(0)));
    rmSync(dir, { recursive: true, force: true });
  }
});

test("restoreMember refuses a data directory holding a member, an unknown name and a member named twice", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tsraft-restore-"));
  const initialCluster = [
    { name: "a", peerURLs: ["http://127.0.0.1:1"] },
    { name: "b", peerURLs: ["http://127.0.0.1:2"] },
  ];
  const base = { initialCluster, image: counterImage(1), unsafeNoFsync: true };
  try {
    const held = join(dir, "held");
    mkdirSync(join(held, "member", "wal"), { recursive: true });
    writeFileSync(join(held, "member", "wal", "0000000000000000-0000000000000000.wal"), "x");
    await assert.rejects(
      restoreMember({ ...base, dataDir: held, name: "a" }),
      (e: unknown) =>
        e instanceof HostError && e.code === HostErrorCode.DataDir && /refusing to touch it/.test(e.message),
    );
    assert.deepEqual(readdirSync(join(held, "member")), ["wal"], "nothing is written");
    await assert.rejects(
      restoreMember({ ...base, dataDir: join(dir, "c"), name: "c" }),
      (e: unknown) => e instanceof HostError && e.code === HostErrorCode.InvalidArgument,
    );
    await assert.rejects(
      restoreMember({
        ...base,
        initialCluster: [...initialCluster, { name: "a", peerURLs: ["http://127.0.0.1:3"] }],
        dataDir: join(dir, "a"),
        name: "a",
      }),
      (e: unknown) => e instanceof HostError && e.code === HostErrorCode.InvalidArgument,
    );
    assert.ok(!existsSync(join(dir, "c", "member")) && !existsSync(join(dir, "a", "member")));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
