// A new cluster bootstrapped by two etcd 3.4 members and a tsraft member
// together, all three in etcd's --initial-cluster: the tsraft member derives
// its ID and the cluster ID exactly as etcd does (sha1 of its peer URL and
// the cluster token; sha1 of the sorted member IDs) and writes the same
// initial configuration. The cluster version must rise to 3.4: etcd's leader
// sets the lowest server version its members report on GET /version, and a
// member that does not answer keeps the cluster at 3.0 for good (the leader
// logging "failed to get version" every 4 s).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { formatId } from "../../src/raftpb/index.ts";
import {
  type EtcdMember,
  endpointStatus,
  etcdCluster,
  etcdClusterId,
  etcdctl,
  etcdMemberId,
  freePort,
  parseJsonBig,
  putKeys,
  requireEtcd,
  setupOnce,
  waitFor,
} from "./support/etcd.ts";
import { RawMember } from "./support/raw_member.ts";

describe("a cluster bootstrapped by etcd 3.4 members and a tsraft member", { timeout: 120_000 }, () => {
  const base = mkdtempSync(join(tmpdir(), "tsraft-interop-boot-"));
  let etcd: EtcdMember[] = [];
  let raw: RawMember;

  const setup = setupOnce(async () => {
    const { version } = requireEtcd();
    const token = `tsraft-boot-${process.pid}-${Date.now()}`;
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    etcd = await etcdCluster(base, 2, 10_000, "e", [`tsraft=${url}`], token);
    // Every member of --initial-cluster, with etcd's IDs.
    const members = [...etcd.map((m) => ({ name: m.name, url: m.peerUrl })), { name: "tsraft", url }].map(
      (m) => ({
        id: etcdMemberId([m.url], token),
        name: m.name,
        peerURLs: [m.url],
        clientURLs: [],
        isLearner: false,
      }),
    );
    const id = members.at(-1)!.id;
    raw = new RawMember({
      id,
      clusterId: etcdClusterId(members.map((m) => m.id)),
      members,
      dataDir: join(base, "tsraft"),
      port,
      serverVersion: version,
      bootstrap: true,
    });
    await raw.start(true);
    for (const m of etcd) m.start();
  });

  after(async () => {
    await raw?.stop().catch(() => {});
    await Promise.all(etcd.map((m) => m.kill()));
    for (const m of etcd) m.closeLog();
    rmSync(base, { recursive: true, force: true });
  });

  test("etcd derives the same member and cluster IDs; all three elect a leader", async () => {
    await setup();
    const st = await waitFor(
      "a leader known to both etcd members",
      async () => {
        const s = await endpointStatus(etcd.map((m) => m.endpoint));
        return s.every((x) => x.leader !== 0n && x.leader === s[0]!.leader) ? s : false;
      },
      30_000,
      200,
      () => `${etcd.map((m) => m.tail(10)).join("\n")}\n${raw.log.lines.slice(-20).join("\n")}`,
    );
    assert.equal(st[0]!.clusterId, raw.clusterId, "cluster ID");
    const list = parseJsonBig<{ members: Array<{ ID: string; name: string }> }>(
      await etcdctl([etcd[0]!.endpoint], ["member", "list", "-w", "json"]),
    );
    assert.ok(
      list.members.some((m) => BigInt(m.ID) === raw.id),
      `${formatId(raw.id)} among etcd's members`,
    );
    assert.deepEqual([...raw.confState.voters].sort(), list.members.map((m) => BigInt(m.ID)).sort());
    // monitorVersions runs on an etcd leader only: hand leadership to one.
    if (st[0]!.leader === raw.id) {
      raw.transferLeadership(st.find((s) => s.memberId !== raw.id)!.memberId);
      await waitFor("an etcd leader", async () => {
        const s = await endpointStatus(etcd.map((m) => m.endpoint));
        return s.every((x) => x.leader !== 0n && x.leader !== raw.id && x.leader === s[0]!.leader);
      });
    }
  });

  test("the cluster version rises to 3.4: etcd's leader reads the tsraft member's GET /version", async () => {
    await setup();
    const cv = await waitFor(
      "cluster version 3.4.0",
      async () => {
        const j = (await (await fetch(`${etcd[0]!.clientUrl}/version`)).json()) as { etcdcluster: string };
        return j.etcdcluster === "3.4.0" ? j.etcdcluster : false;
      },
      20_000,
      250,
      () => etcd.map((m) => m.tail(10)).join("\n"),
    );
    assert.equal(cv, "3.4.0");
    assert.ok(raw.versionRequests > 0);
    const bad = etcd.flatMap((m) =>
      m
        .logs(/failed to get version|cannot get the version|failed to unmarshal response|higher-versioned/)
        .filter(
          (j) => Date.parse(String(j.ts)) >= raw.listeningSince + 100 && JSON.stringify(j).includes(raw.hex),
        ),
    );
    assert.deepEqual(bad, []);
    // And it is a working cluster: writes commit and the tsraft member applies them.
    await putKeys(
      etcd.map((m) => m.endpoint),
      "boot-",
      50,
      8,
    );
    const commit = Math.max(...(await endpointStatus(etcd.map((m) => m.endpoint))).map((s) => s.raftIndex));
    await raw.until(`applied up to ${commit}`, () => raw.appliedIndex >= commit);
  });
});
