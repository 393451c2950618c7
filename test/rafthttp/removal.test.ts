// When a sender learns it was removed — and when it must not conclude so.
//
// A sender is told "you were removed" (ERR_RAFTHTTP_MEMBER_REMOVED, which the
// host turns into retirement and tsraft-kv into exit status 7) only by a peer
// whose applied membership has it in the removed set: 410 on a stream, or
// 403 with etcd's "cannot process message from removed member" on a POST.
// A peer that merely does not know the sender yet — it is starting and has
// added no peers (a fresh cluster's bootstrap), or it is behind on
// membership — answers 404; a 403 that says anything else ("to mismatch
// member": the URL reaches another member) is an ordinary failed send. Each
// case here sends real messages over loopback and checks the sender's
// critical errors, the only path to retirement.

import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { after, test } from "node:test";
import { ProcessError, RaftHttpErrorCode } from "../../src/rafthttp/index.ts";
import { MessageType, msg, type Node, startNode, stopEveryNode } from "./helpers.ts";

const T = { timeout: 20_000 };
after(stopEveryNode);

const hb = (from: bigint, to: bigint) => msg({ type: MessageType.MsgHeartbeat, from, to, term: 1 });

/** Sends `count` heartbeats from `a` to `to`, one every 20 ms (raft resends the same way). */
async function sendSome(a: Node, to: bigint, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    a.t.send([hb(a.id, to)]);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const removals = (n: Node) => n.critical.filter((e) => e.code === RaftHttpErrorCode.MemberRemoved);

test(
  "a starting peer that knows no member yet refuses the sender with 404 (POST and stream): never a removal",
  T,
  async () => {
    // `b` is a member in the window between binding its peer listener and
    // adding its peers (the host's start: listen, open storage, start raft,
    // add peers): no peers, and raft not running yet.
    const b = await startNode(2n);
    b.raft.onMessage = () => {
      throw new ProcessError(503, "member is starting");
    };
    const a = await startNode(1n);
    try {
      a.t.addPeer(2n, [b.url]);
      await sendSome(a, 2n, 5);
      await a.raft.until(() => a.raft.unreachable.filter((id) => id === 2n).length >= 5);
      // Both refusals happened: the POSTs and the stream dials, each answered 404.
      await b.log.waitLine("cannot process message from unknown member 1");
      await b.log.waitLine("error sender not found");
      assert.equal(b.raft.received.length, 0, "nothing reached b's raft");
      assert.deepEqual(removals(a), [], "a was told it was removed by a peer that just did not know it");
      assert.deepEqual(a.critical, []);
      // Once b knows a (its start finished), the same sender gets through.
      b.t.addPeer(1n, [a.url]);
      b.raft.onMessage = null;
      a.t.send([hb(1n, 2n)]);
      await b.raft.until(() => b.raft.received.length > 0);
      assert.deepEqual(a.critical, []);
    } finally {
      await a.t.stop();
      await b.t.stop();
    }
  },
);

test(
  "a 403 'to mismatch member' (the URL now reaches another member) is a failed send, not a removal",
  T,
  async () => {
    // `b` (ID 2) serves the URL `a` still has for member 7 — say 7 was replaced by 2 at the same URL and
    // `a` has not applied that change yet. b knows a, so the only refusal left is the one for `to`.
    const b = await startNode(2n);
    const a = await startNode(1n);
    try {
      b.t.addPeer(1n, [a.url]);
      a.t.addPeer(7n, [b.url]);
      await sendSome(a, 7n, 3);
      await a.raft.until(() => a.raft.unreachable.filter((id) => id === 7n).length >= 3);
      await b.log.waitLine("cannot process message to mismatch member");
      assert.equal(b.raft.received.length, 0);
      assert.deepEqual(removals(a), []);
      const s = a.t.stats().peers["7"];
      assert.equal(s?.active, false, "the peer is reported down, as after any failed send");
    } finally {
      await a.t.stop();
      await b.t.stop();
    }
  },
);

/** A plain HTTP server answering every request with `status` and `body` (a proxy, an old or foreign peer). */
async function answering(
  status: number,
  body: string,
): Promise<{ url: string; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      if (req.url === "/raft") hits++;
      res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8" });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits: () => hits,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

test(
  "a 403 with any other body (a proxy, a peer that refused unknown senders with 403) is not a removal",
  T,
  async () => {
    const s = await answering(403, "Forbidden\n");
    const a = await startNode(1n);
    try {
      a.t.addPeer(2n, [s.url]);
      await sendSome(a, 2n, 3);
      await a.raft.until(() => s.hits() >= 3 && a.raft.unreachable.filter((id) => id === 2n).length >= 3);
      assert.deepEqual(removals(a), []);
      // The same answer with the refusal text of a removed sender, as etcd writes it, is one.
      const etcd = await answering(403, '{"message":"cannot process message from removed member"}\n');
      try {
        a.t.addPeer(3n, [etcd.url]);
        a.t.send([hb(1n, 3n)]);
        await a.raft.until(() => removals(a).length >= 1);
        assert.equal(removals(a)[0]!.message, "the member has been permanently removed from the cluster");
      } finally {
        await etcd.close();
      }
    } finally {
      await a.t.stop();
      await s.close();
    }
  },
);

test(
  "a peer that applied the sender's removal still tells it so: 403 on a POST and 410 on a stream",
  T,
  async () => {
    const b = await startNode(2n);
    const a = await startNode(1n);
    try {
      b.t.addPeer(1n, [a.url]);
      b.raft.removed.add(1n);
      a.t.addPeer(2n, [b.url]);
      a.t.send([hb(1n, 2n)]);
      // The streams are dialled at once and refused with 410; the heartbeat goes by POST (no stream is
      // up) and is refused with 403. Each refusal tells a it was removed.
      await b.log.waitLine(`[${RaftHttpErrorCode.MemberRemoved}] removed member`);
      await b.log.waitLine("cannot process message from removed member");
      await a.raft.until(() => removals(a).length >= 2 && a.raft.unreachable.includes(2n));
      assert.equal(b.raft.received.length, 0);
    } finally {
      await a.t.stop();
      await b.t.stop();
    }
  },
);
