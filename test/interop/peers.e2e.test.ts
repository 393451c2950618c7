// A tsraft member (Node + DiskStorage + Transport, support/raw_member.ts) in a
// raft group with real etcd 3.4 members (Debian's etcd-server; the test fails
// when it is missing), all with etcd's hash-derived 64-bit IDs:
//  - it is added with `etcdctl member add` and joins as an etcd member does
//    (cluster ID and members from an etcd peer's GET /members); its first
//    messages go over the pipeline both ways, then over both streams;
//  - it follows and persists etcd's entries (its WAL holds etcd's log);
//  - etcd's leader reads its GET /version and logs no version error;
//  - it becomes leader (`etcdctl move-leader`) and etcdctl writes commit
//    through it (etcd followers forward proposals at the raft level);
//  - with one etcd member killed, writes still commit on etcd + tsraft, and
//    an etcd member is elected with tsraft's vote;
//  - it receives a snapshot (POST /raft/snapshot) from a compacted etcd leader;
//  - it applies `etcdctl member add --learner`, `member promote` and
//    `member remove`, updating its transport's peers from etcd's ConfChanges;
//    as leader it sends the new learner a snapshot, which etcd saves.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { main } from "../../src/cli/tsraft.ts";
import type { PeerStats } from "../../src/rafthttp/index.ts";
import { ConfChangeType, decodeConfChange, EntryType, formatId } from "../../src/raftpb/index.ts";
import { WAL, WalSnapshot } from "../../src/wal/index.ts";
import {
  EtcdMember,
  endpointStatus,
  etcdCluster,
  etcdctl,
  FatalWait,
  freePort,
  putKeys,
  requireEtcd,
  setupOnce,
  waitFor,
  waitHealthy,
} from "./support/etcd.ts";
import { fetchCluster, RawMember } from "./support/raw_member.ts";

const enc = new TextEncoder();

function contains(hay: Uint8Array, needle: string): boolean {
  const n = enc.encode(needle);
  outer: for (let i = 0; i + n.length <= hay.length; i++) {
    for (let j = 0; j < n.length; j++) if (hay[i + j] !== n[j]) continue outer;
    return true;
  }
  return false;
}

/**
 * `etcdctl member add`, retried while etcd refuses it as "unhealthy cluster"
 * (--strict-reconfig-check wants every member connected for 5 s first).
 */
async function memberAdd(
  endpoints: string[],
  args: string[],
): Promise<{ id: bigint; initialCluster: string }> {
  const out = await waitFor(
    `etcdctl member add ${args.join(" ")}`,
    async () => {
      try {
        return await etcdctl(endpoints, ["member", "add", ...args]);
      } catch (err) {
        if (/unhealthy cluster/.test(String(err))) return false;
        throw new FatalWait(String(err));
      }
    },
    30_000,
    500,
  );
  return parseMemberAdd(out);
}

function parseMemberAdd(out: string): { id: bigint; initialCluster: string } {
  // etcdctl prints both IDs with %16x: an ID below 2^60 comes padded with spaces.
  const m = /Member +([0-9a-f]+) added to cluster +([0-9a-f]+)/.exec(out);
  const ic = /ETCD_INITIAL_CLUSTER="([^"]*)"/.exec(out);
  if (m === null || ic === null) throw new Error(`unexpected member add output: ${out}`);
  return { id: BigInt(`0x${m[1]}`), initialCluster: ic[1]! };
}

describe("a tsraft member in a raft group with etcd 3.4 members", { timeout: 150_000 }, () => {
  const base = mkdtempSync(join(tmpdir(), "tsraft-interop-peers-"));
  let etcd: EtcdMember[] = [];
  let raw: RawMember;
  let version = "";
  let pipelinePhase: PeerStats | undefined;
  /** Snapshots sent to the learner e3 (its transport entry goes when it is removed). */
  let snapshotsSent = 0;
  const endpoints = () => etcd.filter((m) => m.running).map((m) => m.endpoint);
  const statusOf = async () => endpointStatus(endpoints());
  const etcdLeader = async (): Promise<EtcdMember> => {
    const st = await statusOf();
    const m = etcd.find((e) => st.some((s) => s.endpoint === e.endpoint && s.memberId === s.leader));
    if (m === undefined) throw new Error(`no etcd leader among ${st.map((s) => s.endpoint)}`);
    return m;
  };
  const idOf = async (m: EtcdMember): Promise<bigint> => (await endpointStatus([m.endpoint]))[0]!.memberId;
  const peerStats = (id: bigint): PeerStats => {
    const s = raw.stats().peers[formatId(id)];
    assert.ok(s !== undefined, `no transport entry for ${formatId(id)}`);
    return s;
  };
  const context = () =>
    `${etcd.map((m) => m.tail(15)).join("\n")}\n--- tsraft:\n${raw?.log.lines.slice(-30).join("\n")}`;

  const setup = setupOnce(async () => {
    version = requireEtcd().version;
    etcd = await etcdCluster(base, 2, 200);
    for (const m of etcd) m.start();
    await waitHealthy(etcd);
  });

  after(async () => {
    await raw?.stop().catch(() => {});
    await Promise.all(etcd.map((m) => m.kill()));
    for (const m of etcd) m.closeLog();
    rmSync(base, { recursive: true, force: true });
  });

  test("joins: etcdctl member add, GET /members, then pipeline both ways, then both streams", async (t) => {
    await setup();
    const port = await freePort();
    const added = await memberAdd(endpoints(), ["tsraft", `--peer-urls=http://127.0.0.1:${port}`]);
    const cluster = await fetchCluster(etcd[0]!.peerUrl);
    const st = await statusOf();
    assert.equal(cluster.clusterId, st[0]!.clusterId);
    assert.ok(
      cluster.members.some((m) => m.id === added.id && m.name === ""),
      "listed, not started yet",
    );
    assert.ok(added.id > 2n ** 53n || st.every((s) => s.memberId > 0n), "etcd's own hashed IDs");
    raw = new RawMember({
      id: added.id,
      clusterId: cluster.clusterId,
      members: cluster.members,
      dataDir: join(base, "tsraft"),
      port,
      serverVersion: version,
    });
    await raw.start(false);
    const leader = await etcdLeader();
    const leaderId = await idOf(leader);
    // No peers yet: etcd's leader reaches us by POST /raft and we answer the same way.
    await raw.until(
      "pipeline traffic both ways with the etcd leader",
      () => {
        const s = raw.stats().peers[formatId(leaderId)];
        return s !== undefined && s.paths.pipeline.received >= 3 && s.paths.pipeline.sent >= 3;
      },
      30_000,
    );
    pipelinePhase = peerStats(leaderId);
    assert.equal(pipelinePhase.isPeer, false, "a remote, learnt from X-PeerURLs");
    assert.equal(pipelinePhase.paths.msgappv2.received + pipelinePhase.paths.message.received, 0);
    t.diagnostic(`pipeline phase: ${JSON.stringify(pipelinePhase.paths)}`);

    raw.addPeers();
    const ids = await Promise.all(etcd.map(idOf));
    // Streams: every etcd member dialled ours (our writers are attached),
    // and the leader's heartbeats arrive on the message stream.
    await raw.until("both streams with every etcd member", () =>
      ids.every((id) => {
        const s = raw.stats().peers[formatId(id)];
        const heard = id !== leaderId || (s?.paths.message.received ?? 0) > 0;
        return s?.isPeer === true && s.streams.msgappv2 && s.streams.message && heard;
      }),
    );
    const commit = (await statusOf())[0]!.raftIndex;
    await raw.until(`applied up to etcd's commit ${commit}`, () => raw.appliedIndex >= commit);
    assert.deepEqual(
      [...raw.confState.voters].sort(),
      [...ids, added.id].sort(),
      "a voter, with the etcd members, from etcd's own ConfChanges",
    );
  });

  test("follows and persists etcd's entries: its WAL holds etcd's log", async () => {
    await setup();
    await putKeys(endpoints(), "follow-", 300);
    const st = await statusOf();
    const commit = Math.max(...st.map((s) => s.raftIndex));
    await raw.until(`applied up to ${commit}`, () => raw.appliedIndex >= commit);
    const leaderId = st[0]!.leader;
    assert.ok(peerStats(leaderId).paths.msgappv2.received > 0, "appends came on the msgappv2 stream");
    // Both logs, read back from disk with tsraft's reader (read-only; both members run).
    const mine = await (await WAL.openForRead(join(raw.dataDir, "wal"), new WalSnapshot())).readAll();
    const theirs = await (
      await WAL.openForRead(join(etcd[0]!.cfg.dataDir, "member", "wal"), new WalSnapshot())
    ).readAll();
    const last = Math.min(mine.entries.at(-1)!.index, theirs.entries.at(-1)!.index);
    assert.ok(last >= commit, `${last} < ${commit}`);
    assert.equal(mine.entries[0]!.index, 1);
    assert.equal(theirs.entries[0]!.index, 1);
    // The committed log, entry by entry (what follows the commit may still change).
    for (let i = 0; i < commit; i++) {
      const a = mine.entries[i]!;
      const b = theirs.entries[i]!;
      assert.deepEqual([a.index, a.term, a.type], [b.index, b.term, b.type]);
      assert.deepEqual(a.data, b.data, `entry ${a.index}`);
    }
    assert.ok(mine.entries.some((e) => contains(e.data, "follow-000299")));
    assert.equal(mine.hardState.commit >= commit, true);
  });

  test("etcd's leader reads its GET /version every 4 s and logs no version error", async () => {
    await setup();
    await raw.until("two GET /version from etcd's leader", () => raw.versionRequests >= 2, 20_000);
    const leader = await etcdLeader();
    // Polls made before our port listened failed to connect; every one since must succeed.
    const sinceStart = (j: Record<string, unknown>) => Date.parse(String(j.ts)) >= raw.listeningSince + 100;
    const bad = leader
      .logs(/failed to get version|cannot get the version|failed to unmarshal response|higher-versioned/)
      .filter((j) => sinceStart(j) && JSON.stringify(j).includes(raw.hex));
    assert.deepEqual(bad, [], "etcd's leader could not read the tsraft member's version");
    const cv = (await (await fetch(`${etcd[0]!.clientUrl}/version`)).json()) as { etcdcluster: string };
    assert.equal(cv.etcdcluster, "3.4.0");
  });

  test("becomes leader (etcdctl move-leader) and etcdctl writes commit through it", async () => {
    await setup();
    await etcdctl(endpoints(), ["move-leader", raw.hex]);
    await raw.until("leadership", () => raw.isLeader);
    await waitFor("every etcd member to follow it", async () =>
      (await statusOf()).every((s) => s.leader === raw.id),
    );
    const term = raw.status().hardState.term;
    await etcdctl([etcd[0]!.endpoint], ["put", "through-tsraft", "v1"]);
    assert.equal(
      (await etcdctl([etcd[1]!.endpoint], ["get", "through-tsraft", "--print-value-only"])).trim(),
      "v1",
      "a linearizable read (ReadIndex served by the tsraft leader)",
    );
    const e = raw.applied.find((x) => contains(x.data, "through-tsraft"));
    assert.ok(e !== undefined, "the write is in its log");
    assert.equal(e.term, term, "appended by it, as leader");
    for (const m of etcd) {
      const s = peerStats(await idOf(m));
      assert.ok(s.paths.msgappv2.sent > 0, `${m.name}: appends on the msgappv2 stream`);
      assert.ok(
        s.paths.message.sent > 0 && s.paths.message.received > 0,
        `${m.name}: message stream both ways`,
      );
    }
  });

  test("one etcd member killed: writes commit on etcd + tsraft; an etcd member is elected with tsraft's vote", async () => {
    await setup();
    const [e1, e2] = etcd as [EtcdMember, EtcdMember];
    const e2Id = await idOf(e2);
    await e1.kill();
    await etcdctl([e2.endpoint], ["put", "one-down", "a"]);
    assert.equal((await etcdctl([e2.endpoint], ["get", "one-down", "--print-value-only"])).trim(), "a");
    // Hand leadership to e2: with e1 down it needs tsraft's vote to win.
    const before = raw.status().hardState.term;
    raw.transferLeadership(e2Id);
    await waitFor(
      "e2 to lead",
      async () => (await endpointStatus([e2.endpoint]))[0]!.leader === e2Id,
      30_000,
      100,
      context,
    );
    const hs = raw.status().hardState;
    assert.ok(hs.term > before);
    assert.equal(hs.vote, e2Id, "tsraft voted for e2 in the term e2 won");
    await etcdctl([e2.endpoint], ["put", "one-down", "b"]);
    assert.equal((await etcdctl([e2.endpoint], ["get", "one-down", "--print-value-only"])).trim(), "b");
    e1.start();
    await waitHealthy(etcd);
    const commit = Math.max(...(await statusOf()).map((s) => s.raftIndex));
    await raw.until(`applied up to ${commit}`, () => raw.appliedIndex >= commit);
  });

  test("receives a snapshot (POST /raft/snapshot) from a compacted etcd leader", async (t) => {
    await setup();
    const before = raw.appliedIndex;
    await raw.stop();
    // etcd keeps 5000 entries behind its snapshot for slow followers: write
    // past that, so that the leader must send a snapshot.
    const T0 = Date.now();
    await putKeys(endpoints(), "snap-", 5400);
    t.diagnostic(`5400 puts with the tsraft member down: ${Date.now() - T0} ms`);
    const leader = await etcdLeader();
    const leaderId = await idOf(leader);
    await raw.start(true);
    await raw.until("a snapshot from the leader", () => raw.snapshots.length > 0, 60_000);
    const md = raw.snapshots[0]!;
    assert.ok(md.index > before + 5000 - 200, `snapshot at ${md.index}, we had ${before}`);
    assert.ok(peerStats(leaderId).paths.snapshot.received >= 1, "over POST /raft/snapshot");
    const db = join(raw.snapDir, `${md.index.toString(16).padStart(16, "0")}.snap.db`);
    assert.ok(existsSync(db) && statSync(db).size > 0, "etcd's backend database saved beside the .snap");
    const commit = Math.max(...(await statusOf()).map((s) => s.raftIndex));
    await raw.until(`applied up to ${commit} after the snapshot`, () => raw.appliedIndex >= commit);
    assert.deepEqual([...md.confState.voters].sort(), [...raw.confState.voters].sort());
    // The received snapshot is on disk in etcd's format: tsraft's dump reads it back.
    let out = "";
    let err = "";
    const code = await main(["wal", "dump", raw.dataDir], {
      log: (l) => (out += `${l}\n`),
      error: (l) => (err += `${l}\n`),
    });
    assert.equal(code, 0, err);
    assert.match(out, new RegExp(`^Snapshot:\\nterm=\\d+ index=${md.index} `));
    assert.ok(readdirSync(raw.snapDir).some((n) => n.endsWith(".snap")));
  });

  test("applies member add --learner, member promote and member remove; as leader it sends a snapshot to etcd", async () => {
    await setup();
    // Lead again: the learner will need a snapshot, and ours starts the log.
    await etcdctl(endpoints(), ["move-leader", raw.hex]);
    await raw.until("leadership", () => raw.isLeader);
    const peerPort = await freePort();
    const clientPort = await freePort();
    const url = `http://127.0.0.1:${peerPort}`;
    const added = await memberAdd(endpoints(), ["e3", "--learner", `--peer-urls=${url}`]);
    await raw.until("the learner in its configuration", () => raw.confState.learners.includes(added.id));
    assert.ok(!raw.confState.voters.includes(added.id));
    assert.equal(raw.members.get(added.id)?.isLearner, true);
    assert.deepEqual(raw.members.get(added.id)?.peerURLs, [url]);
    assert.equal(peerStats(added.id).isPeer, true, "a transport peer, from the ConfChange's member JSON");
    // etcd's ConfChange.ID is its request ID: the low 16 bits of the
    // proposing member's ID in the top 16 bits, then time and a counter.
    // It arrives exact (most are above 2^53).
    const entry = raw.applied.find(
      (e) => e.type === EntryType.EntryConfChange && decodeConfChange(e.data).nodeId === added.id,
    );
    assert.ok(entry !== undefined);
    const cc = decodeConfChange(entry.data);
    assert.equal(cc.type, ConfChangeType.ConfChangeAddLearnerNode);
    const etcdIds = await Promise.all(etcd.map(idOf));
    assert.ok(
      etcdIds.some((e) => cc.id >> 48n === (e & 0xffffn)),
      `request ID ${formatId(cc.id)} from one of ${etcdIds.map(formatId)}`,
    );

    const e3 = new EtcdMember({
      ...etcd[0]!.cfg,
      name: "e3",
      dataDir: join(base, "e3"),
      peerPort,
      clientPort,
      initialCluster: added.initialCluster,
      state: "existing",
    });
    etcd.push(e3);
    e3.start();
    // Our log starts after the snapshot we received from etcd, so the new
    // learner needs a snapshot from us: we send the one we have (POST
    // /raft/snapshot: the MsgSnap with etcd's v2 store, then etcd's backend
    // database, as we received them), and etcd receives and saves it.
    await raw.until("a snapshot sent to e3", () => peerStats(added.id).paths.snapshot.sent >= 1, 30_000);
    snapshotsSent = peerStats(added.id).paths.snapshot.sent;
    await waitFor(
      "e3 to log our snapshot as received and saved",
      () =>
        e3
          .logs(/^received and saved database snapshot$/)
          .some((j) => j["remote-snapshot-sender-id"] === raw.hex),
      10_000,
      100,
      () => e3.tail(),
    );
    // etcd's raft then ignores it ("not in the ConfState"): e3 joined after
    // that snapshot was taken. etcd never meets this: it sends a snapshot of
    // its state at the moment of sending, which a member without a state
    // machine cannot make. An etcd leader does, and promotes learners (a
    // follower forwards `member promote` to the leader's POST
    // /members/promote, an etcd-server API the transport does not serve).
    raw.transferLeadership((await Promise.all(etcd.slice(0, 2).map(idOf)))[0]!);
    await waitFor("an etcd leader", async () =>
      (await statusOf()).every((s) => s.leader !== raw.id && s.leader !== 0n),
    );
    await waitFor(
      "e3 to serve a key written before it joined, from its own state",
      async () =>
        (
          await etcdctl([e3.endpoint], ["get", "snap-000100", "--consistency=s", "--print-value-only"])
        ).trim() === "value-100",
      30_000,
      200,
      () => e3.tail(),
    );
    await waitFor(
      "etcdctl member promote",
      async () => {
        await etcdctl(endpoints(), ["member", "promote", formatId(added.id)]);
        return true;
      },
      30_000,
      500,
    );
    await raw.until(
      "e3 a voter",
      () => raw.confState.voters.includes(added.id) && !raw.confState.learners.includes(added.id),
    );
    assert.equal(raw.members.get(added.id)?.isLearner, false);

    // Not through e3 itself: a member that applies its own removal stops, and may answer
    // etcdctl "server stopped" although the removal committed (one run in a few under load).
    await etcdctl(
      endpoints().filter((ep) => ep !== e3.endpoint),
      ["member", "remove", formatId(added.id)],
    );
    await raw.until(
      "e3 removed",
      () => !raw.confState.voters.includes(added.id) && raw.removed.has(added.id),
    );
    await raw.until("the transport to drop e3", () => raw.stats().peers[formatId(added.id)]?.isPeer !== true);
    await e3.stop();
    etcd.pop();
    // The group goes on: a write still commits with the tsraft member in it.
    await etcdctl(endpoints(), ["put", "after-remove", "ok"]);
    const commit = Math.max(...(await statusOf()).map((s) => s.raftIndex));
    await raw.until(`applied up to ${commit}`, () => raw.appliedIndex >= commit);
  });

  test("every path carried traffic in both directions", async (t) => {
    await setup();
    assert.ok(pipelinePhase !== undefined);
    const p = pipelinePhase.paths.pipeline;
    assert.ok(p.sent > 0 && p.received > 0, `pipeline ${JSON.stringify(p)}`);
    let msgappSent = 0;
    let msgappReceived = 0;
    let messageSent = 0;
    let messageReceived = 0;
    let snapshotReceived = 0;
    for (const s of Object.values(raw.stats().peers)) {
      msgappSent += s.paths.msgappv2.sent;
      msgappReceived += s.paths.msgappv2.received;
      messageSent += s.paths.message.sent;
      messageReceived += s.paths.message.received;
      snapshotReceived += s.paths.snapshot.received;
    }
    t.diagnostic(
      `since the restart: msgappv2 ${msgappSent}/${msgappReceived}, message ${messageSent}/${messageReceived}, snapshot ${snapshotsSent}/${snapshotReceived}; refused MsgSnap sends ${raw.refusedSnapshots}`,
    );
    assert.ok(messageSent > 0 && messageReceived > 0 && msgappReceived > 0);
    assert.ok(snapshotReceived > 0 && snapshotsSent > 0);
  });
});
