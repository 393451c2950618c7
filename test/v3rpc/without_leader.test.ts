// Requests that reach a member while it knows no usable leader, on in-process
// tsraft-kv members of a three-member cluster, through the JSON gateway (the
// same V3Services as gRPC). etcd 3.4 makes them wait: a put or a linearizable
// range waits for a leader (its raft node holds proposals while it knows
// none; its read loop waits for the ReadIndex answer), and a keep-alive or
// TimeToLive on a follower waits for a leader and retries the forward every
// 50 ms, all within its request timeout. It never answers them "no leader"
// or "leader changed" (checked against etcd 3.4: a put on the last live
// member of three waits its 7 s request timeout). Answering at once made the
// etcd3 npm client, whose circuit breaker shuts a member out for 5 s after
// three quick UNAVAILABLE answers, lose writes and short leases across a
// leader change.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { discardLogger } from "../../src/index.ts";
import { defaultLimits, KvMember, type MemberConfig, memberDefaults } from "../../src/kv/index.ts";
import { freePort, waitFor } from "../kv/support/cluster.ts";

const roots: string[] = [];
const running = new Set<KvMember>();
after(async () => {
  await Promise.all([...running].map((m) => m.stop()));
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/**
 * Configurations of a three-member cluster on free ports: etcd's timing
 * (100 ms ticks, 1 s election timeout: this test shares a loaded machine),
 * no fsync.
 */
async function cluster(): Promise<MemberConfig[]> {
  const root = mkdtempSync(join(tmpdir(), "tsraft-v3-noleader-"));
  roots.push(root);
  const names = ["m1", "m2", "m3"];
  const peers = await Promise.all(names.map(async () => `http://127.0.0.1:${await freePort()}`));
  const clients = await Promise.all(names.map(async () => `http://127.0.0.1:${await freePort()}`));
  const initialCluster = names.map((name, i) => ({ name, peerURLs: [peers[i]!] }));
  return names.map((name, i) => ({
    ...memberDefaults,
    tickMs: 100,
    electionTicks: 10,
    name,
    dataDir: join(root, name),
    initialCluster,
    listenPeerURL: peers[i]!,
    listenClientURL: clients[i]!,
    limits: defaultLimits,
    unsafeNoFsync: true,
    logger: discardLogger,
  }));
}

async function start(cfg: MemberConfig): Promise<KvMember> {
  const m = new KvMember(cfg);
  // etcd's request timeout (5 s + two election timeouts) bounds these waits in
  // production; on this shared, overloaded machine starting a member and
  // electing a leader can take longer than that, and what is tested here is
  // the wait, not its bound, so the bound is raised out of the way.
  (m.v3 as unknown as { requestTimeoutMs: number }).requestTimeoutMs = 60_000;
  await m.start();
  running.add(m);
  return m;
}

async function stop(m: KvMember): Promise<void> {
  await m.stop();
  running.delete(m);
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

/** POST to the JSON gateway: status and parsed body. */
// biome-ignore lint/suspicious/noExplicitAny: gateway JSON answers, checked field by field
async function gw(m: KvMember, path: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${m.clientURL}${path}`, {
    method: "POST",
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(90_000),
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text.split("\n")[0]!) };
}

/**
 * Whether `req` had settled when `m` first learned of a leader other than
 * `not` (checked in the leader event itself, so no answer can slip in).
 */
function settledWhenLeaderKnown(m: KvMember, req: Promise<unknown>, not = 0n): Promise<boolean> {
  let settled = false;
  req.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  return new Promise((resolve) => {
    const onLeader = (lead: bigint) => {
      if (lead === 0n || lead === not) return;
      m.host.off("leader", onLeader);
      resolve(settled);
    };
    m.host.on("leader", onLeader);
  });
}

test("a put and a linearizable range sent before any leader exists wait for the first one", async () => {
  const cfgs = await cluster();
  const m1 = await start(cfgs[0]!);
  // Alone of three, m1 cannot elect anyone: both requests arrive with no leader known.
  assert.equal(m1.status().leader, "0");
  const put = gw(m1, "/v3/kv/put", { key: b64("k"), value: b64("v") });
  const range = gw(m1, "/v3/kv/range", { key: b64("k") });
  const early = settledWhenLeaderKnown(m1, Promise.all([put, range]));
  await start(cfgs[1]!);
  // Before the fix both came back at once: 503 "etcdserver: no leader".
  assert.equal(await early, false, `answered without a leader: ${JSON.stringify(await put)}`);
  const p = await put;
  assert.equal(p.status, 200, JSON.stringify(p.body));
  assert.equal(p.body.header.revision, "2");
  const r = await range;
  assert.equal(r.status, 200, JSON.stringify(r.body));
  // The range was ordered before or after the put; either way it saw a consistent store.
  assert.ok(["1", "2"].includes(r.body.header.revision), JSON.stringify(r.body));
  await Promise.all([...running].map(stop));
});

test("a keep-alive and a TimeToLive on a follower whose leader is gone reach the next leader", async () => {
  const cfgs = await cluster();
  const ms = await Promise.all(cfgs.map(start));
  await waitFor(
    "a leader all agree on",
    async () => {
      const l = ms[0]!.status().leader;
      return l !== "0" && ms.every((m) => m.status().leader === l);
    },
    30_000,
  );
  const leader = ms.find((m) => m.status().leader === m.status().id)!;
  const [f1, f2] = ms.filter((m) => m !== leader) as [KvMember, KvMember];
  const grant = await gw(f1, "/v3/lease/grant", { TTL: 30 });
  assert.equal(grant.status, 200, JSON.stringify(grant.body));
  const id = grant.body.ID as string;
  // f2, then the leader, go away: f1 alone still names the old leader for a
  // while, then none; nobody can be elected until f2 is back.
  const f2cfg = f2.cfg;
  await stop(f2);
  await stop(leader);
  const keepAlive = gw(f1, "/v3/lease/keepalive", { ID: id });
  const ttl = gw(f1, "/v3/lease/timetolive", { ID: id });
  const early = settledWhenLeaderKnown(f1, Promise.all([keepAlive, ttl]), leader.id);
  await start(f2cfg);
  // Before the fix: at once, "etcdserver: leader changed" (the forward to the
  // stopped leader failed) or "etcdserver: no leader".
  assert.equal(await early, false, `answered without a leader: ${JSON.stringify(await keepAlive)}`);
  const k = await keepAlive;
  assert.equal(k.status, 200, JSON.stringify(k.body));
  assert.equal(k.body.result?.ID, id, JSON.stringify(k.body));
  assert.equal(k.body.result?.TTL, "30", JSON.stringify(k.body));
  const t = await ttl;
  assert.equal(t.status, 200, JSON.stringify(t.body));
  assert.equal(t.body.grantedTTL, "30", JSON.stringify(t.body));
  assert.ok(Number(t.body.TTL) > 0 && Number(t.body.TTL) <= 30, JSON.stringify(t.body));
  await Promise.all([...running].map(stop));
});
