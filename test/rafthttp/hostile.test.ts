// Hostile and broken peers at the transport: messages from senders that are
// not members (or not who they claim) never reach raft, and pipeline bodies
// cannot take the member's memory or hold connections open forever.
import assert from "node:assert/strict";
import * as http from "node:http";
import { test } from "node:test";
import { encodeMessage, Message, MessageType } from "../../src/raftpb/index.ts";
import { CLUSTER, raw, startNode, stopEveryNode } from "./helpers.ts";

const T = { timeout: 20_000 };
test.after(stopEveryNode);

function headers(from: bigint, extra: http.OutgoingHttpHeaders = {}): http.OutgoingHttpHeaders {
  return {
    "X-Server-From": from.toString(16),
    "X-Server-Version": "3.6.0",
    "X-Min-Cluster-Version": "3.0.0",
    "X-Etcd-Cluster-ID": CLUSTER.toString(16),
    "Content-Type": "application/protobuf",
    ...extra,
  };
}

const heartbeat = (from: bigint, to: bigint) =>
  encodeMessage(Message.create({ type: MessageType.MsgHeartbeat, from, to, term: 5, commit: 1_000_000_000 }));

test(
  "a pipeline message from a sender that is not a member is refused (404, not 403: that would tell a legitimate sender it was removed) and counted, never processed",
  T,
  async () => {
    const a = await startNode(1n);
    const peer = await startNode(2n);
    a.t.addPeer(2n, [peer.url]);
    const r = await raw(a.url, "POST", "/raft", headers(0xdeadn), heartbeat(0xdeadn, 1n));
    assert.equal(r.status, 404);
    assert.match(r.body.toString(), /unknown member dead/);
    assert.equal(a.raft.received.length, 0, "raft never saw it");
    assert.equal(a.t.stats().refused, 1);
    // A member may not speak for another one either.
    const spoof = await raw(a.url, "POST", "/raft", headers(2n), heartbeat(3n, 1n));
    assert.equal(spoof.status, 404);
    assert.match(spoof.body.toString(), /sender mismatch/);
    // The real member gets through.
    const ok = await raw(a.url, "POST", "/raft", headers(2n), heartbeat(2n, 1n));
    assert.equal(ok.status, 204);
    assert.equal(a.raft.received.length, 1);
  },
);

test("a stream may only be opened by the member it is for", T, async () => {
  const a = await startNode(1n);
  const peer = await startNode(2n);
  a.t.addPeer(2n, [peer.url]);
  const r = await raw(a.url, "GET", "/raft/stream/message/2", headers(3n, { "X-Raft-To": "1" }));
  assert.equal(r.status, 404);
  assert.match(r.body.toString(), /sender mismatch/);
});

test(
  "a member unknown to us but vouched for by our peers is let in (it was added while we were behind)",
  T,
  async () => {
    const a = await startNode(1n);
    // b's membership lists member 0x77: a learns it by asking b, its peer.
    const b = await startNode(2n, {
      members: () => [
        { id: 1n, name: "a", peerURLs: [a.url], clientURLs: [], isLearner: false },
        { id: 2n, name: "b", peerURLs: ["http://127.0.0.1:1"], clientURLs: [], isLearner: false },
        { id: 0x77n, name: "new", peerURLs: ["http://127.0.0.1:2"], clientURLs: [], isLearner: false },
      ],
    });
    a.t.addPeer(2n, [b.url]);
    const first = await raw(a.url, "POST", "/raft", headers(0x77n), heartbeat(0x77n, 1n));
    assert.equal(first.status, 404, "refused until a peer vouches");
    let status = 0;
    for (let i = 0; i < 50 && status !== 204; i++) {
      await new Promise((r) => setTimeout(r, 50));
      status = (await raw(a.url, "POST", "/raft", headers(0x77n), heartbeat(0x77n, 1n))).status;
    }
    assert.equal(status, 204, "accepted once b vouched for 0x77");
    // A forged ID stays out: nobody's membership has it.
    assert.equal((await raw(a.url, "POST", "/raft", headers(0xdeadn), heartbeat(0xdeadn, 1n))).status, 404);
  },
);

test("pipeline bodies have a total memory budget and a stall timeout", T, async () => {
  const a = await startNode(1n, {
    limits: { maxInflightBodyBytes: 64 * 1024 },
    timeouts: { bodyIdleTimeout: 300 },
  });
  const peer = await startNode(2n);
  a.t.addPeer(2n, [peer.url]);
  const u = new URL(a.url);
  // Two bodies that declare 1 MiB and send 40 KiB each, then stop: the second crosses the budget.
  const open = (n: number) =>
    new Promise<{ closedBy: "server" | "timeout" }>((resolve) => {
      const req = http.request({
        host: u.hostname,
        port: u.port,
        method: "POST",
        path: "/raft",
        headers: headers(2n, { "Content-Length": 1 << 20 }),
        agent: false,
      });
      req.on("error", () => resolve({ closedBy: "server" }));
      req.on("response", (res) => {
        res.resume();
        res.on("end", () => resolve({ closedBy: "server" }));
      });
      req.write(Buffer.alloc(n));
    });
  const t0 = Date.now();
  const [x, y] = await Promise.all([open(40 * 1024), open(40 * 1024)]);
  assert.deepEqual([x.closedBy, y.closedBy], ["server", "server"]);
  // Both connections ended: one over budget at once, the other when it stalled.
  assert.ok(Date.now() - t0 < 5000, "a stalled body does not hold its connection for long");
  assert.equal(a.raft.received.length, 0);
  // The budget is released: a normal message goes through afterwards.
  const ok = await raw(a.url, "POST", "/raft", headers(2n), heartbeat(2n, 1n));
  assert.equal(ok.status, 204);
});
