// Transports talking to each other over real loopback sockets.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as http from "node:http";
import type { Readable } from "node:stream";
import { after, test } from "node:test";
import { SnapshotStatus } from "../../src/raft/index.ts";
import { ConfState, type Message, MessageType, Snapshot, SnapshotMetadata } from "../../src/raftpb/index.ts";
import {
  entries,
  everyType,
  mesh,
  msg,
  type Node,
  openResources,
  peerHeaders,
  settle,
  startNode,
  stopEveryNode,
  streamsUp,
  summary,
} from "./helpers.ts";

const T = { timeout: 20_000 };
after(stopEveryNode);

async function stopAll(nodes: Node[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.t.stop()));
}

test("every message type crosses the pipeline, then the streams", T, async () => {
  const a = await startNode(1n);
  // b processes a's messages before knowing a (etcd's behaviour, off by default: see docs/rafthttp.md).
  const b = await startNode(2n, { acceptUnknownSenders: true });
  try {
    // Only a knows b: b never dials a's streams, so a must use the pipeline.
    a.t.addPeer(2n, [b.url]);
    const sent = everyType(1n, 2n, 3);
    a.t.send(sent);
    await b.raft.until(() => b.raft.received.length === sent.length);
    const byType = (ms: Message[]) => ms.map(summary).sort();
    assert.deepEqual(byType(b.raft.received), byType(sent));
    assert.equal(a.raft.snapshots.length, 1, "MsgSnap over the pipeline reports its outcome");
    assert.deepEqual(a.raft.snapshots[0], { id: 2n, status: SnapshotStatus.SnapshotFinish });
    assert.equal(a.t.stats().peers["2"]!.streams.message, false);

    // Now b dials a; a's writers attach and the same traffic goes over the streams.
    b.t.addPeer(1n, [a.url]);
    await streamsUp(a, b);
    b.raft.received.length = 0;
    a.t.send(sent);
    await b.raft.until(() => b.raft.received.length === sent.length);
    assert.deepEqual(byType(b.raft.received), byType(sent));
    const s = a.t.stats().peers["2"]!;
    assert.equal(s.active, true);
    assert.ok(a.t.activeSince(2n) instanceof Date);
    assert.equal(a.t.activePeers(), 1);
    assert.equal(s.sendDrops, 0);
    assert.ok(s.sentMessages >= 2 * sent.length - 1, `sent ${s.sentMessages}`);
    // The pipeline messages came before b knew a (and a sends no X-PeerURLs): only stream ones count.
    assert.equal(b.t.stats().peers["1"]!.receivedMessages, sent.length);
  } finally {
    await stopAll([a, b]);
  }
});

test("msgappv2 carries a run of appends, and G36 peers interoperate", T, async () => {
  const a = await startNode(1n);
  const b = await startNode(2n, { profile: "G36" });
  try {
    mesh([a, b]);
    await Promise.all([streamsUp(a, b), streamsUp(b, a)]);
    // A run of consecutive appends (continuation frames), a term change, and a gap.
    const apps: Message[] = [];
    let index = 5;
    for (let i = 0; i < 50; i++) {
      const term = i < 30 ? 2 : 3;
      const es = entries(index + 1, 1 + (i % 4), term, 100);
      apps.push(
        msg({
          type: MessageType.MsgApp,
          from: 1n,
          to: 2n,
          term,
          logTerm: i === 30 ? 2 : term,
          index,
          entries: es,
          commit: index,
        }),
      );
      index += es.length;
      if (i === 40) index += 10;
    }
    apps.push(msg({ type: MessageType.MsgApp, from: 1n, to: 2n, term: 3, logTerm: 3, index, commit: index }));
    a.t.send(apps);
    await b.raft.until(() => b.raft.received.length === apps.length);
    assert.deepEqual(b.raft.received.map(summary), apps.map(summary));
    // And back, from the G36 encoder.
    const back = everyType(2n, 1n, 4).filter((m) => m.type !== MessageType.MsgSnap);
    b.t.send(back);
    await a.raft.until(() => a.raft.received.length === back.length);
    assert.deepEqual(a.raft.received.map(summary).sort(), back.map(summary).sort());
  } finally {
    await stopAll([a, b]);
  }
});

async function* chunks(total: number, seed: number): AsyncGenerator<Uint8Array> {
  const size = 64 * 1024;
  for (let off = 0; off < total; off += size) {
    const c = Buffer.alloc(Math.min(size, total - off));
    for (let i = 0; i < c.length; i += 512) c[i] = (off + i + seed) & 0xff;
    yield c;
  }
}

async function sha(src: AsyncIterable<Uint8Array> | Readable): Promise<{ hex: string; n: number }> {
  const h = createHash("sha256");
  let n = 0;
  for await (const c of src as AsyncIterable<Uint8Array>) {
    h.update(c);
    n += c.length;
  }
  return { hex: h.digest("hex"), n };
}

test("three transports: full mesh traffic and a multi-megabyte snapshot", T, async () => {
  const saved = new Map<bigint, { index: number; hex: string; n: number }>();
  const nodes: Node[] = [];
  for (const id of [1n, 2n, 3n]) {
    nodes.push(
      await startNode(id, {
        saveSnapshotData: async (m, data) => {
          const r = await sha(data);
          saved.set(id, { index: m.snapshot!.metadata.index, ...r });
        },
      }),
    );
  }
  const [a, b, c] = nodes as [Node, Node, Node];
  try {
    mesh(nodes);
    await Promise.all(nodes.flatMap((x) => nodes.filter((y) => y !== x).map((y) => streamsUp(x, y))));
    for (const x of nodes) {
      for (const y of nodes) {
        if (x !== y) x.t.send(everyType(x.id, y.id, 5).filter((m) => m.type !== MessageType.MsgSnap));
      }
    }
    const per = everyType(1n, 2n, 5).length - 1;
    await Promise.all(nodes.map((n) => n.raft.until(() => n.raft.received.length === 2 * per)));
    for (const n of nodes) {
      for (const m of n.raft.received) assert.equal(m.to, n.id);
    }

    const size = 6 * 1024 * 1024 + 123;
    const snapMsg = msg({
      type: MessageType.MsgSnap,
      from: 1n,
      to: 3n,
      term: 5,
      snapshot: new Snapshot(
        new Uint8Array([1, 2, 3]),
        new SnapshotMetadata(new ConfState([1n, 2n, 3n]), 4242, 5),
      ),
    });
    const res = await a.t.sendSnapshot({ message: snapMsg, body: chunks(size, 7), size });
    assert.deepEqual(res, { ok: true });
    assert.deepEqual(a.raft.snapshots, [{ id: 3n, status: SnapshotStatus.SnapshotFinish }]);
    const want = await sha(chunks(size, 7));
    assert.deepEqual(saved.get(3n), { index: 4242, hex: want.hex, n: size });
    const got = c.raft.received.find((m) => m.type === MessageType.MsgSnap)!;
    assert.equal(summary(got), summary(snapMsg));
    assert.ok(c.t.stats().peers["1"]!.receivedBytes > size);

    // A body shorter than announced fails on the sender and is reported to raft.
    const bad = await a.t.sendSnapshot({ message: snapMsg, body: chunks(1000, 1), size: 2000 });
    assert.equal(bad.ok, false);
    assert.match(String(bad.error?.message), /short read/);
    assert.deepEqual(a.raft.snapshots.at(-1), { id: 3n, status: SnapshotStatus.SnapshotFailure });
    // To an unknown member: refused at once.
    const unknown = await a.t.sendSnapshot({
      message: msg({ ...snapMsg, to: 9n }),
      body: new Uint8Array(0),
      size: 0,
    });
    assert.equal(unknown.ok, false);
    assert.equal((unknown.error as { code?: string }).code, "ERR_RAFTHTTP_MEMBER_NOT_FOUND");
    // b still works after all that.
    a.t.send([msg({ type: MessageType.MsgHeartbeat, from: 1n, to: 2n, term: 5 })]);
    await b.raft.until(() => b.raft.count(MessageType.MsgHeartbeat) === 3);
  } finally {
    await stopAll(nodes);
  }
});

test("a peer that goes down is reported unreachable, and streams come back with it", T, async () => {
  const a = await startNode(1n, { timeouts: { dialTimeout: 500 } });
  let b = await startNode(2n);
  const port = Number(new URL(b.url).port);
  try {
    mesh([a, b]);
    await Promise.all([streamsUp(a, b), streamsUp(b, a)]);
    await b.t.stop();
    // a notices the closed streams and falls back to the pipeline, which fails.
    await a.log.until(
      () => !a.t.stats().peers["2"]!.streams.msgappv2 && !a.t.stats().peers["2"]!.streams.message,
    );
    a.t.send([
      msg({ type: MessageType.MsgApp, from: 1n, to: 2n, term: 1, index: 1, entries: entries(2, 1, 1, 8) }),
    ]);
    await a.raft.until(() => a.raft.unreachable.includes(2n));
    await a.log.until(() => a.t.activeSince(2n) === null);
    assert.equal(a.t.activePeers(), 0);

    // b comes back on the same address; a's readers redial and b's dial a's writers.
    b = await startNode(2n, {}, port);
    b.t.addPeer(1n, [a.url]);
    await Promise.all([streamsUp(a, b), streamsUp(b, a)]);
    await a.log.until(() => a.t.activeSince(2n) !== null);
    a.t.send([msg({ type: MessageType.MsgHeartbeat, from: 1n, to: 2n, term: 1 })]);
    await b.raft.until(() => b.raft.count(MessageType.MsgHeartbeat) === 1);
    assert.equal(a.t.stats().peers["2"]!.streams.message, true);
  } finally {
    await stopAll([a, b]);
  }
});

test(
  "back-pressure: a stalled peer fills a bounded queue, then drops and reports unreachable",
  T,
  async () => {
    const a = await startNode(1n, {
      limits: { streamQueueLength: 64, streamQueueBytes: 256 * 1024 },
      timeouts: { heartbeatInterval: 50, writeTimeout: 300 },
    });
    try {
      // Peer 2 is a fake: it opens a's msgappv2 stream and never reads from it.
      a.t.addPeer(2n, ["http://127.0.0.1:1"]);
      const req = http.request(`${a.url}/raft/stream/msgapp/2`, {
        agent: false,
        headers: peerHeaders(2, { "X-Raft-To": "1" }),
      });
      req.on("error", () => {});
      req.end();
      const res = await new Promise<http.IncomingMessage>((r) => req.on("response", r));
      res.pause();
      res.on("error", () => {});
      assert.equal(res.statusCode, 200);
      await a.log.until(() => a.t.stats().peers["2"]!.streams.msgappv2);
      // 64 KiB per message: the socket fills, then the 256 KiB queue, then sends are dropped.
      const big = entries(1, 1, 1, 64 * 1024);
      let index = 0;
      const sendMore = (): void => {
        for (let i = 0; i < 16; i++) {
          a.t.send([
            msg({
              type: MessageType.MsgApp,
              from: 1n,
              to: 2n,
              term: 1,
              logTerm: 1,
              index: index++,
              entries: big,
            }),
          ]);
        }
      };
      // Keep sending until the kernel buffers are full too and the writer gives up after writeTimeout.
      while (a.t.stats().peers["2"]!.streams.msgappv2) {
        sendMore();
        await new Promise<void>((r) => setImmediate(r));
      }
      await a.log.waitLine("lost stream MsgApp v2 writer connection with peer 2: write timeout");
      const s = a.t.stats().peers["2"]!;
      assert.ok(s.sendDrops > 0, "sends were dropped");
      assert.ok(a.raft.unreachable.includes(2n), "raft was told");
      assert.equal(s.active, false);
      // Never more than the socket's share plus the bounded queue was held: the rest was dropped.
      assert.ok(s.sendDrops > index / 2, `${s.sendDrops} of ${index} dropped`);
      res.destroy();
    } finally {
      await a.t.stop();
    }
  },
);

test("stop() leaves no socket, server or timer behind", T, async () => {
  await settle();
  const before = openResources();
  const a = await startNode(1n);
  const b = await startNode(2n);
  mesh([a, b]);
  await Promise.all([streamsUp(a, b), streamsUp(b, a)]);
  a.t.send(everyType(1n, 2n, 1));
  await b.raft.until(() => b.raft.received.length === everyType(1n, 2n, 1).length);
  await Promise.all([a.t.stop(), b.t.stop()]);
  await settle();
  assert.deepEqual(openResources(), before);
});
