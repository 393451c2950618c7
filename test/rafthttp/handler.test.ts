// The server side against misbehaving or foreign peers: every rejection gets
// etcd's status and body, a log line with a typed code, and the node goes on
// working afterwards.

import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { RaftHttpErrorCode } from "../../src/rafthttp/index.ts";
import { encodeMessage, MessageType } from "../../src/raftpb/index.ts";
import { msg, type Node, peerHeaders, raw, startNode, stopEveryNode, streamsUp } from "./helpers.ts";

const T = { timeout: 20_000 };
after(stopEveryNode);
let a: Node;

before(async () => {
  a = await startNode(1n, { limits: { maxMessageBytes: 4096 } });
  a.t.addPeer(2n, ["http://127.0.0.1:1"]);
  a.raft.removed.add(3n);
});
after(async () => {
  await a.t.stop();
});

const hb = (from: bigint, to = 1n) =>
  encodeMessage(msg({ type: MessageType.MsgHeartbeat, from, to, term: 1 }));

/** The node still accepts a good pipeline message. */
async function stillWorks(): Promise<void> {
  const n = a.raft.received.length;
  const r = await raw(a.url, "POST", "/raft", peerHeaders(2), hb(2n));
  assert.equal(r.status, 204);
  assert.equal(a.raft.received.length, n + 1);
}

test("pipeline: good message → 204 after raft processed it", T, async () => {
  await stillWorks();
});

test("wrong cluster ID → 412 'cluster ID mismatch', logged", T, async () => {
  const r = await raw(a.url, "POST", "/raft", peerHeaders(2, { "X-Etcd-Cluster-ID": "dead" }), hb(2n));
  assert.equal(r.status, 412);
  assert.equal(r.body.toString(), "cluster ID mismatch\n");
  assert.equal(r.headers["x-etcd-cluster-id"], "1000");
  assert.equal(r.headers["content-type"], "text/plain; charset=utf-8");
  assert.ok(
    a.log.has(`[${RaftHttpErrorCode.ClusterIdMismatch}] cluster ID mismatch (local 1000, remote dead)`),
  );
  // Same on a stream, which also carries X-Server-Version.
  const s = await raw(
    a.url,
    "GET",
    "/raft/stream/message/2",
    peerHeaders(2, { "X-Etcd-Cluster-ID": "DEAD" }),
  );
  assert.equal(s.status, 412);
  assert.equal(s.headers["x-server-version"], "3.6.0");
  await stillWorks();
});

test("incompatible or missing version headers → 412 'incompatible version'", T, async () => {
  const h = peerHeaders(2);
  delete h["X-Server-Version"];
  const r = await raw(a.url, "POST", "/raft", h, hb(2n));
  assert.equal(r.status, 412);
  assert.equal(r.body.toString(), "incompatible version\n");
  const r2 = await raw(a.url, "POST", "/raft", peerHeaders(2, { "X-Min-Cluster-Version": "9.0.0" }), hb(2n));
  assert.equal(r2.status, 412);
  assert.ok(a.log.has(`[${RaftHttpErrorCode.IncompatibleVersion}]`));
});

test(
  "unknown sender on a stream → 404 'error sender not found'; X-PeerURLs makes it a remote",
  T,
  async () => {
    const r = await raw(
      a.url,
      "GET",
      "/raft/stream/msgapp/9",
      peerHeaders(9, { "X-Raft-To": "1", "X-PeerURLs": "http://127.0.0.1:1" }),
    );
    assert.equal(r.status, 404);
    assert.equal(r.body.toString(), "error sender not found\n");
    assert.equal(r.headers["x-server-version"], "3.6.0");
    assert.ok(a.log.has("error sender not found"));
    assert.equal(a.t.stats().peers["9"]?.isPeer, false);
    // A sender ID that cannot be a raft node ID is not a peer either.
    const big = await raw(
      a.url,
      "GET",
      "/raft/stream/message/8e9e05c52164694d",
      peerHeaders(2, { "X-Raft-To": "1" }),
    );
    assert.equal(big.status, 404);
    await stillWorks();
  },
);

test("stream path and header checks", T, async () => {
  const cases: Array<[string, string, http.OutgoingHttpHeaders, number, string]> = [
    ["POST", "/raft/stream/message/2", peerHeaders(2, { "X-Raft-To": "1" }), 405, "Method Not Allowed\n"],
    ["GET", "/raft/stream/foo/2", peerHeaders(2, { "X-Raft-To": "1" }), 404, "invalid path\n"],
    ["GET", "/raft/stream/message/xyz", peerHeaders(2, { "X-Raft-To": "1" }), 404, "invalid from\n"],
    ["GET", "/raft/stream/message/2", peerHeaders(2, { "X-Raft-To": "01" }), 412, "to field mismatch\n"],
    ["GET", "/raft/other", peerHeaders(2), 404, "404 page not found\n"],
    ["GET", "/raft", peerHeaders(2), 405, "Method Not Allowed\n"],
    ["GET", "/raft/snapshot", peerHeaders(2), 405, "Method Not Allowed\n"],
  ];
  for (const [method, path, headers, status, body] of cases) {
    const r = await raw(a.url, method, path, headers);
    assert.equal(r.status, status, `${method} ${path}`);
    assert.equal(r.body.toString(), body, `${method} ${path}`);
  }
  const m = await raw(a.url, "POST", "/raft", peerHeaders(2), undefined);
  assert.equal(m.status, 403, "an empty body decodes to a message addressed to 0, not to us");
});

test("removed member → 410 on streams, 403 on POSTs", T, async () => {
  const s = await raw(a.url, "GET", "/raft/stream/message/3", peerHeaders(3, { "X-Raft-To": "1" }));
  assert.equal(s.status, 410);
  assert.equal(s.body.toString(), "removed member\n");
  assert.ok(a.log.has(`[${RaftHttpErrorCode.MemberRemoved}] removed member`));
  const n = a.raft.received.length;
  const p = await raw(a.url, "POST", "/raft", peerHeaders(3), hb(3n));
  assert.equal(p.status, 403);
  assert.match(p.body.toString(), /cannot process message from removed member/);
  const wrongTo = await raw(a.url, "POST", "/raft", peerHeaders(2), hb(2n, 7n));
  assert.equal(wrongTo.status, 403);
  assert.equal(a.raft.received.length, n, "raft never saw them");
  await stillWorks();
});

test("a removed member learns it: critical error from 410 (stream) and 403 (pipeline)", T, async () => {
  const c = await startNode(3n);
  try {
    c.t.addPeer(1n, [a.url]);
    c.t.send([msg({ type: MessageType.MsgHeartbeat, from: 3n, to: 1n, term: 1 })]);
    await c.raft.until(
      () =>
        c.critical.filter((e) => e.code === RaftHttpErrorCode.MemberRemoved).length >= 2 &&
        c.raft.unreachable.includes(1n),
    );
    assert.equal(c.critical[0]!.message, "the member has been permanently removed from the cluster");
  } finally {
    await c.t.stop();
  }
});

test("oversized body → 413, logged, node keeps working", T, async () => {
  const big = Buffer.alloc(10_000, 1);
  const r = await raw(a.url, "POST", "/raft", peerHeaders(2), big);
  assert.equal(r.status, 413);
  assert.match(r.body.toString(), /error limit exceeded/);
  assert.ok(a.log.has(`[${RaftHttpErrorCode.LimitExceeded}]`));
  // Without Content-Length (chunked), the limit is enforced while reading.
  const chunked = await new Promise<number>((resolve, reject) => {
    const req = http.request(`${a.url}/raft`, { method: "POST", headers: peerHeaders(2), agent: false });
    req.on("error", reject);
    req.on("response", (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    for (let i = 0; i < 10; i++) req.write(Buffer.alloc(1000, 2));
    req.end();
  });
  assert.equal(chunked, 413);
  await stillWorks();
});

test("garbage POST body → 400 'error unmarshalling raft message'", T, async () => {
  const r = await raw(a.url, "POST", "/raft", peerHeaders(2), Buffer.from([0xff, 0xff, 0xff, 0x01]));
  assert.equal(r.status, 400);
  assert.equal(r.body.toString(), "error unmarshalling raft message\n");
  assert.ok(a.log.has(`[${RaftHttpErrorCode.BadFrame}]`));
  const s = await raw(
    a.url,
    "POST",
    "/raft/snapshot",
    peerHeaders(2),
    Buffer.from([0, 0, 0, 0, 0, 0, 0, 2, 0xff, 0xff]),
  );
  assert.equal(s.status, 400);
  assert.match(s.body.toString(), /^failed to decode raft message \(/);
  const notSnap = Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 0, 0, hb(2n).length]), hb(2n)]);
  const s2 = await raw(a.url, "POST", "/raft/snapshot", peerHeaders(2), notSnap);
  assert.equal(s2.status, 400);
  assert.equal(s2.body.toString(), "wrong raft message type\n");
  await stillWorks();
});

test("probing answers any method with OK and the time", T, async () => {
  const r = await raw(a.url, "HEAD", "/raft/probing", {});
  assert.equal(r.status, 200);
  const g = await raw(a.url, "GET", "/raft/probing", {});
  const j = JSON.parse(g.body.toString()) as { OK: boolean; Now: string };
  assert.equal(j.OK, true);
  assert.ok(Math.abs(Date.parse(j.Now) - Date.now()) < 60_000);
});

test("raft.process failing → 500 and the connection closed", T, async () => {
  a.raft.onMessage = () => Promise.reject(new Error("boom"));
  try {
    const r = await raw(a.url, "POST", "/raft", peerHeaders(2), hb(2n));
    assert.equal(r.status, 500);
    assert.equal(r.body.toString(), "error processing raft message\n");
    assert.equal(r.headers.connection, "close");
  } finally {
    a.raft.onMessage = null;
  }
  await stillWorks();
});

/** A fake peer 2 that answers our stream dials with `garbage`, for one stream type. */
async function fakePeer(type: "msgapp" | "message", garbage: Buffer): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    req.resume();
    if (req.url?.startsWith(`/raft/stream/${type}/`)) {
      res.writeHead(200, { "X-Server-Version": "3.6.0" });
      res.end(garbage);
      return;
    }
    res.writeHead(404, { "X-Server-Version": "3.6.0" });
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return server;
}

for (const [type, garbage, code] of [
  ["msgapp", Buffer.from([0x09, 1, 2, 3]), RaftHttpErrorCode.BadFrame],
  ["message", Buffer.from("ffffffffffffffff0000", "hex"), RaftHttpErrorCode.LimitExceeded],
  ["message", Buffer.from("0000000000000004ffffffff", "hex"), RaftHttpErrorCode.BadFrame],
] as const) {
  test(`garbage on a ${type} stream closes that connection with a typed error (${code})`, T, async () => {
    const b = await startNode(5n);
    const fake = await fakePeer(type, garbage);
    try {
      const port = (fake.address() as AddressInfo).port;
      b.t.addPeer(2n, [`http://127.0.0.1:${port}`]);
      await b.log.waitLine(`[${code}]`);
      assert.ok(b.log.lines.some((l) => l.startsWith("ERROR") && l.includes(`closing stream`)));
      // The reader redials (and fails again): the node is unaffected and serves others.
      await b.log.until(() => b.log.lines.filter((l) => l.includes(`[${code}]`)).length >= 2);
      const r = await raw(b.url, "POST", "/raft", peerHeaders(2), hb(2n, 5n));
      assert.equal(r.status, 204);
      const c = await startNode(6n);
      try {
        mesh2(b, c);
        await streamsUp(b, c);
        b.t.send([msg({ type: MessageType.MsgHeartbeat, from: 5n, to: 6n, term: 1 })]);
        await c.raft.until(() => c.raft.received.length === 1);
      } finally {
        await c.t.stop();
      }
    } finally {
      await b.t.stop();
      await new Promise<void>((r) => fake.close(() => r()));
      fake.closeAllConnections();
    }
  });
}

function mesh2(x: Node, y: Node): void {
  x.t.addPeer(y.id, [y.url]);
  y.t.addPeer(x.id, [x.url]);
}
