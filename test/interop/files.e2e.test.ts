// tsraft against the files of a real etcd 3.4 cluster (Debian's etcd-server
// and etcd-client; the test fails when they are missing):
//  - a 3-member cluster with etcd's hash-derived IDs and --snapshot-count 200
//    takes a few thousand writes, so that each member holds several `.snap`
//    files and a WAL with thousands of entries;
//  - `tsraft wal dump`, run as a user runs it, reads every member's WAL and
//    snapshots whole, changes no byte of the data directory, and reports the
//    last index, entry count and hard state that `etcdctl endpoint status`
//    and etcd's own restart log report;
//  - every member's WAL is rewritten by tsraft's writer (all records read by
//    tsraft's reader), and etcd restarts on it and serves every key.
import assert from "node:assert/strict";
import { mkdtempSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { main } from "../../src/cli/tsraft.ts";
import {
  type EndpointStatus,
  type EtcdMember,
  endpointStatus,
  etcdCluster,
  etcdctl,
  parseJsonBig,
  putKeys,
  requireEtcd,
  setupOnce,
  waitFor,
  waitHealthy,
} from "./support/etcd.ts";
import { type DumpSummary, hashTree, parseDump, rewriteWal, runTsraftCli } from "./support/files.ts";

const KEYS = 3000;

async function dumpInProcess(dir: string): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(["wal", "dump", dir], {
    log: (l) => (out += `${l}\n`),
    error: (l) => (err += `${l}\n`),
  });
  return { code, out, err };
}
const SNAPSHOT_COUNT = 200;

describe("etcd 3.4 data directories, read and rewritten by tsraft", { timeout: 120_000 }, () => {
  const base = mkdtempSync(join(tmpdir(), "tsraft-interop-files-"));
  let members: EtcdMember[] = [];
  let status: EndpointStatus[] = [];
  const dumps = new Map<string, DumpSummary>();

  const setup = setupOnce(async () => {
    requireEtcd();
    members = await etcdCluster(base, 3, SNAPSHOT_COUNT);
    for (const m of members) m.start();
    await waitHealthy(members);
  });

  after(async () => {
    await Promise.all(members.map((m) => m.kill()));
    for (const m of members) m.closeLog();
    rmSync(base, { recursive: true, force: true });
  });

  test(`${KEYS} writes, then tsraft wal dump reads every member whole, read-only, and agrees with etcd`, async (t) => {
    await setup();
    const endpoints = members.map((m) => m.endpoint);
    const T0 = Date.now();
    await putKeys(endpoints, "key-", KEYS);
    t.diagnostic(`${KEYS} puts: ${Date.now() - T0} ms`);
    // Idle and settled: every member reports the same commit and applied
    // index twice in a row (followers learn the last commit from the next
    // heartbeat and write it into their hard state).
    let prev = "";
    status = await waitFor(
      "the members to settle",
      async () => {
        const st = await endpointStatus(endpoints);
        const key = st.map((s) => `${s.raftIndex}/${s.raftAppliedIndex}/${s.raftTerm}`).join(" ");
        const same = st.every((s) => s.raftIndex === st[0]!.raftIndex && s.raftAppliedIndex === s.raftIndex);
        const stable = same && key === prev;
        prev = key;
        return stable ? st : false;
      },
      30_000,
      300,
    );
    assert.ok(status[0]!.raftIndex > KEYS, `raft index ${status[0]!.raftIndex}`);
    // A clean stop, followers first: etcd keeps a commit-only hard state in
    // its write buffer until the next sync (a crash would lose it: not
    // durable by design), and flushes it on close. The leader goes last, when
    // no follower is left to hand leadership to (that would add entries).
    const leader = status[0]!.leader;
    const isLeader = (m: EtcdMember) => status.find((s) => s.endpoint === m.endpoint)!.memberId === leader;
    await Promise.all(members.filter((m) => !isLeader(m)).map((m) => m.stop()));
    await Promise.all(members.filter(isLeader).map((m) => m.stop()));

    const before = new Map(members.map((m) => [m.name, hashTree(m.cfg.dataDir)]));
    const T1 = Date.now();
    const runs = await Promise.all(members.map((m) => runTsraftCli(["wal", "dump", m.cfg.dataDir])));
    t.diagnostic(`3 wal dump CLI runs (in parallel): ${Date.now() - T1} ms`);
    for (const [i, m] of members.entries()) {
      const r = runs[i]!;
      assert.equal(r.code, 0, `wal dump ${m.name} exited ${r.code}: ${r.err}`);
      assert.equal(r.err, "");
      assert.deepEqual(hashTree(m.cfg.dataDir), before.get(m.name), `${m.name}: wal dump changed a file`);
      const d = parseDump(r.out);
      dumps.set(m.name, d);
      const st = status.find((s) => s.endpoint === m.endpoint)!;
      // Identity: etcd's metadata, decoded, in hex.
      assert.equal(d.nodeId, st.memberId, m.name);
      assert.equal(d.clusterId, st.clusterId, m.name);
      // The hard state and the log's end are what etcd reported.
      assert.equal(d.term, st.raftTerm, `${m.name} term`);
      assert.equal(d.commit, st.raftIndex, `${m.name} commit`);
      assert.equal(d.lastIndex, st.raftIndex, `${m.name} last index`);
      // The vote: a member, or none (a member that learnt of the term from
      // the leader's first message never votes in it).
      assert.ok(
        d.vote === 0n || status.some((s) => s.memberId === d.vote),
        `${m.name} voted for ${d.vote.toString(16)}, not a member`,
      );
      // Every snapshot file decoded; the dump starts at the newest.
      assert.ok(d.snapshotFiles >= 2, `${m.name}: ${d.snapshotFiles} .snap files`);
      assert.equal(d.unreadable, 0);
      assert.ok(d.snapshotIndex > 0 && d.snapshotIndex <= st.raftIndex);
      assert.equal(d.entries, d.lastIndex - d.snapshotIndex);
      // The whole WAL: every entry since index 1 (no segment was purged),
      // and a snapshot marker per snapshot etcd took (plus the initial one).
      assert.equal(d.records.first, 1);
      assert.equal(d.records.last, st.raftIndex);
      assert.ok(d.records.entries >= st.raftIndex);
      assert.ok(
        d.records.snapshots >= Math.floor(st.raftIndex / (SNAPSHOT_COUNT + 1)),
        `${d.records.snapshots} markers`,
      );
    }
  });

  test("etcd restarts on WALs rewritten by tsraft's writer, reports the same log, and serves every key", async (t) => {
    await setup();
    assert.equal(dumps.size, 3, "needs the first test");
    await Promise.all(
      members.map(async (m) => {
        const walDir = join(m.cfg.dataDir, "member", "wal");
        const orig = join(m.cfg.dataDir, "wal.etcd");
        renameSync(walDir, orig);
        const rw = await rewriteWal(orig, walDir);
        const d = dumps.get(m.name)!;
        assert.equal(rw.entries, d.lastIndex, "every entry from index 1 on");
        assert.equal(rw.markers.length, d.records.snapshots - 1);
        // tsraft's own reading of the rewritten WAL matches etcd's original
        // (in process this time: the CLI itself ran above).
        const again = await dumpInProcess(m.cfg.dataDir);
        assert.equal(again.code, 0, again.err);
        const d2 = parseDump(again.out);
        assert.deepEqual(
          [d2.term, d2.vote, d2.commit, d2.lastIndex, d2.entries, d2.snapshotIndex, d2.records.snapshots],
          [d.term, d.vote, d.commit, d.lastIndex, d.entries, d.snapshotIndex, d.records.snapshots],
        );
      }),
    );
    const T2 = Date.now();
    const marks = members.map((m) => m.lines.length);
    for (const m of members) m.start();
    await waitHealthy(members, 60_000);
    t.diagnostic(`etcd restart on the rewritten WALs: ${Date.now() - T2} ms`);

    for (const [i, m] of members.entries()) {
      const d = dumps.get(m.name)!;
      const fresh = m.lines.slice(marks[i]!);
      const logs = (re: RegExp) =>
        fresh
          .filter((l) => l.startsWith("{"))
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .filter((j) => typeof j.msg === "string" && re.test(j.msg));
      const restart = logs(/^restarting local member$/)[0];
      assert.ok(restart !== undefined, m.tail());
      assert.equal(restart["commit-index"], d.commit, m.name);
      assert.equal(restart["local-member-id"], d.nodeId.toString(16));
      assert.equal(restart["cluster-id"], d.clusterId.toString(16));
      const nr = logs(/^newRaft /)[0];
      assert.ok(nr !== undefined, m.tail());
      const f = /term: (\d+), commit: (\d+), applied: (\d+), lastindex: (\d+), lastterm: (\d+)/.exec(
        String(nr.msg),
      );
      assert.ok(f !== null, String(nr.msg));
      assert.deepEqual(
        { term: Number(f[1]), commit: Number(f[2]), applied: Number(f[3]), lastindex: Number(f[4]) },
        { term: d.term, commit: d.commit, applied: d.snapshotIndex, lastindex: d.lastIndex },
        m.name,
      );
      // Served from this member's own state (serializable read), every key.
      const count = parseJsonBig<{ count: number }>(
        await etcdctl(
          [m.endpoint],
          ["get", "key-", "--prefix", "--limit=1", "--consistency=s", "-w", "json"],
        ),
      );
      assert.equal(count.count, KEYS, m.name);
    }
    const v = await etcdctl(
      members.map((m) => m.endpoint),
      ["get", "key-001234", "--print-value-only"],
    );
    assert.equal(v.trim(), "value-1234");
    // And the cluster takes new writes on top of the rewritten logs.
    await etcdctl([members[0]!.endpoint], ["put", "after-rewrite", "ok"]);
    assert.equal(
      (await etcdctl([members[2]!.endpoint], ["get", "after-rewrite", "--print-value-only"])).trim(),
      "ok",
    );
  });
});
