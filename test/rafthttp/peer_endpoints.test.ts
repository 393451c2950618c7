// etcd's peer endpoints beyond /raft — GET /version, GET /members and
// /raft/probing — answered as etcd 3.4 answers them (bytes and headers taken
// from a real etcd 3.4.23 peer port), and the per-path message counters that
// tell which of etcd's paths (pipeline, the two streams, snapshot) carried
// the traffic. The interop tests check the same against real etcd members.
import assert from "node:assert/strict";
import * as http from "node:http";
import { after, describe, test } from "node:test";
import { discardLogger } from "../../src/index.ts";
import type { SnapshotStatus } from "../../src/raft/index.ts";
import {
  encodeMembersJson,
  type PeerMember,
  type RaftReceiver,
  Transport,
  type TransportOptions,
} from "../../src/rafthttp/index.ts";
import {
  ConfState,
  Entry,
  type Message,
  MessageType,
  Message as Msg,
  Snapshot,
  SnapshotMetadata,
} from "../../src/raftpb/index.ts";

const A = 0x2bd0915e30aa6e35n;
const B = 0xbd9563d4be65ef5bn;
const C = 0x6b30724d1e391b44n;
const CLUSTER = 0xb09611d967888454n;

class Recorder implements RaftReceiver {
  readonly got: Message[] = [];
  readonly snaps: SnapshotStatus[] = [];
  process(m: Message): void {
    this.got.push(m);
  }
  isIDRemoved(): boolean {
    return false;
  }
  reportUnreachable(): void {}
  reportSnapshot(_id: bigint, s: SnapshotStatus): void {
    this.snaps.push(s);
  }
}

const live: Transport[] = [];
after(async () => {
  await Promise.all(live.map((t) => t.stop()));
});

async function node(
  id: bigint,
  extra: Partial<TransportOptions> = {},
): Promise<{ t: Transport; raft: Recorder; url: string }> {
  const raft = new Recorder();
  const t = new Transport({ id, clusterId: CLUSTER, raft, logger: discardLogger, ...extra });
  live.push(t);
  const a = await t.listen(0, "127.0.0.1");
  return { t, raft, url: `http://127.0.0.1:${a.port}` };
}

function request(
  url: string,
  method = "GET",
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const members: PeerMember[] = [
  {
    id: B,
    name: "m2",
    peerURLs: ["http://127.0.0.1:24002"],
    clientURLs: ["http://127.0.0.1:24102"],
    isLearner: false,
  },
  {
    id: A,
    name: "m1",
    peerURLs: ["http://127.0.0.1:24001"],
    clientURLs: ["http://127.0.0.1:24101"],
    isLearner: false,
  },
  { id: C, name: "", peerURLs: ["http://127.0.0.1:24003"], clientURLs: [], isLearner: true },
];

describe("etcd's peer endpoints", () => {
  test("GET /version: etcd's JSON, exact bytes; the versions hook; 405 for other methods", async () => {
    const plain = await node(A);
    let r = await request(`${plain.url}/version`);
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-type"], "application/json");
    assert.equal(r.body, `{"etcdserver":"3.6.0","etcdcluster":"not_decided"}`);

    const hooked = await node(A, {
      serverVersion: "3.4.23",
      versions: () => ({ server: "3.4.23", cluster: "3.4.0" }),
    });
    r = await request(`${hooked.url}/version`);
    // Byte for byte what etcd 3.4.23 answers on its peer port.
    assert.equal(r.body, `{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}`);
    r = await request(`${hooked.url}/version`, "POST");
    assert.equal(r.status, 405);
    assert.equal(r.headers.allow, "GET");
    assert.equal(r.body, "Method Not Allowed\n");
  });

  test("GET /members: etcd's member JSON (sorted by ID, exact 64-bit IDs, omitempty fields), cluster ID header", async () => {
    const none = await node(A);
    assert.equal((await request(`${none.url}/members`)).status, 404, "no hook: not served");

    const { url } = await node(A, { members: () => members });
    const r = await request(`${url}/members`);
    assert.equal(r.status, 200);
    assert.equal(r.headers["x-etcd-cluster-id"], "b09611d967888454");
    assert.equal(r.headers["content-type"], "application/json");
    assert.equal(
      r.body,
      '[{"id":3157183172516146741,"peerURLs":["http://127.0.0.1:24001"],"name":"m1","clientURLs":["http://127.0.0.1:24101"]},' +
        '{"id":7723799036485507908,"peerURLs":["http://127.0.0.1:24003"],"isLearner":true},' +
        '{"id":13660934810076835675,"peerURLs":["http://127.0.0.1:24002"],"name":"m2","clientURLs":["http://127.0.0.1:24102"]}]\n',
    );
    // IDs above 2^53 survive: read back as text, they are the bigints given.
    const ids = [...r.body.matchAll(/"id":(\d+)/g)].map((m) => BigInt(m[1]!));
    assert.deepEqual(ids, [A, C, B]);
    assert.equal(encodeMembersJson([]), "[]\n");
    assert.equal((await request(`${url}/members`, "PUT")).status, 405);
    assert.equal((await request(`${url}/members/extra`)).status, 404);
  });

  test("/raft/probing: any method, 200, {OK, Now} and a newline, as etcd's prober expects", async () => {
    const { url } = await node(A, { now: () => Date.UTC(2026, 11, 7, 10, 7, 12, 906) });
    for (const method of ["GET", "POST"]) {
      const r = await request(`${url}/raft/probing`, method);
      assert.equal(r.status, 200);
      assert.equal(r.body, '{"OK":true,"Now":"2026-12-07T10:07:12.906Z"}\n');
      assert.equal(r.headers["content-type"], "text/plain; charset=utf-8");
    }
  });
});

describe("per-path counters", () => {
  test("pipeline, msgappv2 stream, message stream and snapshot are counted on both sides", async () => {
    const a = await node(A, { saveSnapshotData: async (_m, d) => void (await drainAll(d)) });
    const b = await node(B, { saveSnapshotData: async (_m, d) => void (await drainAll(d)) });
    a.t.addPeer(B, [b.url]);
    b.t.addPeer(A, [a.url]);
    a.t.start();
    // B has not started: nobody dialled A's streams yet, so A can only POST.
    a.t.send([Msg.create({ type: MessageType.MsgHeartbeat, to: B, from: A, term: 1 })]);
    await until("the pipeline message", () => b.raft.got.length === 1);
    b.t.start();
    await until("both streams of A towards B", () => {
      const s = a.t.stats().peers[B.toString(16)]!.streams;
      return s.msgappv2 && s.message;
    });
    const app = Msg.create({
      type: MessageType.MsgApp,
      to: B,
      from: A,
      term: 1,
      logTerm: 1,
      index: 1,
      entries: [new Entry(1, 2, 0, new Uint8Array([1, 2, 3]))],
      commit: 1,
    });
    a.t.send([app, Msg.create({ type: MessageType.MsgHeartbeat, to: B, from: A, term: 1 })]);
    await until("the stream messages", () => b.raft.got.length === 3);
    const snap = Msg.create({
      type: MessageType.MsgSnap,
      to: B,
      from: A,
      term: 1,
      snapshot: new Snapshot(new Uint8Array(0), new SnapshotMetadata(new ConfState([A, B]), 5, 1)),
    });
    const res = await a.t.sendSnapshot({ message: snap, body: new Uint8Array(100), size: 100 });
    assert.ok(res.ok, String(res.error));
    b.t.send([Msg.create({ type: MessageType.MsgAppResp, to: A, from: B, term: 1, index: 2 })]);
    await until("B's answer on its message stream", () => a.raft.got.length === 1);

    const sent = a.t.stats().peers[B.toString(16)]!.paths;
    assert.deepEqual(sent, {
      pipeline: { sent: 1, received: 0 },
      msgappv2: { sent: 1, received: 0 },
      message: { sent: 1, received: 1 },
      snapshot: { sent: 1, received: 0 },
    });
    const recv = b.t.stats().peers[A.toString(16)]!.paths;
    assert.deepEqual(recv, {
      pipeline: { sent: 0, received: 1 },
      msgappv2: { sent: 0, received: 1 },
      message: { sent: 1, received: 1 },
      snapshot: { sent: 0, received: 1 },
    });
    // Order holds within one stream, not across the two: the MsgApp (msgappv2
    // stream) and the heartbeat (message stream) may arrive either way round.
    const types = b.raft.got.map((m) => m.type);
    assert.equal(types.length, 4);
    assert.equal(types[0], MessageType.MsgHeartbeat);
    assert.deepEqual(
      [types[1], types[2]].sort((x, y) => x! - y!),
      [MessageType.MsgApp, MessageType.MsgHeartbeat].sort((x, y) => x - y),
    );
    assert.equal(types[3], MessageType.MsgSnap);
  });
});

async function drainAll(s: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of s) {
  }
}
