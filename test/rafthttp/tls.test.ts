// TLS with certificates made in the test: mutual authentication with the
// right CA works, anything else is refused; certificate files are reloaded
// without a restart; allowedCN is enforced.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import * as tls from "node:tls";
import { RaftHttpErrorCode } from "../../src/rafthttp/index.ts";
import { MessageType } from "../../src/raftpb/index.ts";
import { makeCert } from "./certs.ts";
import { msg, type Node, startNode, stopEveryNode, streamsUp } from "./helpers.ts";

const T = { timeout: 20_000 };
after(stopEveryNode);
const ca = makeCert({ cn: "test-ca", ca: true });
const otherCa = makeCert({ cn: "other-ca", ca: true });
const leaf = (cn: string, issuer = ca) => makeCert({ cn, ips: ["127.0.0.1"], dns: ["localhost"], issuer });
const dir = mkdtempSync(join(tmpdir(), "rafthttp-tls-"));
after(() => rmSync(dir, { recursive: true, force: true }));

async function secureNode(id: bigint, extra: Parameters<typeof startNode>[1] = {}): Promise<Node> {
  const c = leaf(`node${id}`);
  return startNode(id, { tls: { cert: c.cert, key: c.key, ca: ca.cert }, ...extra }, 0, "https");
}

test("mutual TLS with the right CA: streams and pipeline work", T, async () => {
  const a = await secureNode(1n);
  // b accepts a before knowing it (etcd's behaviour, off by default: see the trust model in docs/rafthttp.md).
  const b = await secureNode(2n, { acceptUnknownSenders: true });
  try {
    a.t.addPeer(2n, [b.url]);
    // Pipeline first (b does not know a yet), then streams.
    a.t.send([msg({ type: MessageType.MsgHeartbeat, from: 1n, to: 2n, term: 1 })]);
    await b.raft.until(() => b.raft.received.length === 1);
    b.t.addPeer(1n, [a.url]);
    await Promise.all([streamsUp(a, b), streamsUp(b, a)]);
    a.t.send([msg({ type: MessageType.MsgApp, from: 1n, to: 2n, term: 1, index: 0 })]);
    b.t.send([msg({ type: MessageType.MsgAppResp, from: 2n, to: 1n, term: 1, index: 1 })]);
    await b.raft.until(() => b.raft.received.length === 2);
    await a.raft.until(() => a.raft.received.length === 1);
  } finally {
    await Promise.all([a.t.stop(), b.t.stop()]);
  }
});

for (const [what, clientTls] of [
  ["without a client certificate", { ca: ca.cert }],
  [
    "with a certificate from another CA",
    (() => {
      const c = leaf("node3", otherCa);
      return { cert: c.cert, key: c.key, ca: ca.cert };
    })(),
  ],
] as const) {
  test(`a client ${what} is refused`, T, async () => {
    const a = await secureNode(1n);
    const c = await startNode(3n, { tls: clientTls });
    try {
      c.t.addPeer(1n, [a.url]);
      c.t.send([msg({ type: MessageType.MsgHeartbeat, from: 3n, to: 1n, term: 1 })]);
      await c.raft.until(() => c.raft.unreachable.includes(1n));
      assert.equal(a.raft.received.length, 0);
      assert.equal(c.t.activeSince(1n), null);
    } finally {
      await Promise.all([a.t.stop(), c.t.stop()]);
    }
  });
}

test("allowedCN: a valid certificate with another CN is refused and logged", T, async () => {
  const a = await secureNode(1n, {});
  const c7 = leaf("node7");
  const a2 = await startNode(
    7n,
    // Unknown senders are let through, so that only the CN check decides.
    { tls: { cert: c7.cert, key: c7.key, ca: ca.cert, allowedCN: ["node1"] }, acceptUnknownSenders: true },
    0,
    "https",
  );
  const c4 = leaf("node4");
  const d = await startNode(4n, { tls: { cert: c4.cert, key: c4.key, ca: ca.cert } });
  try {
    d.t.addPeer(7n, [a2.url]);
    d.t.send([msg({ type: MessageType.MsgHeartbeat, from: 4n, to: 7n, term: 1 })]);
    await a2.log.waitLine(`[${RaftHttpErrorCode.TlsRejected}]`);
    await d.raft.until(() => d.raft.unreachable.includes(7n));
    assert.equal(a2.raft.received.length, 0);
    // node1 is allowed.
    a.t.addPeer(7n, [a2.url]);
    a.t.send([msg({ type: MessageType.MsgHeartbeat, from: 1n, to: 7n, term: 1 })]);
    await a2.raft.until(() => a2.raft.received.length === 1);
  } finally {
    await Promise.all([a.t.stop(), a2.t.stop(), d.t.stop()]);
  }
});

function peerCN(port: number, client: { cert: string; key: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect(
      { host: "127.0.0.1", port, ca: ca.cert, cert: client.cert, key: client.key },
      () => {
        const cn = s.getPeerCertificate().subject.CN;
        s.end();
        resolve(String(cn));
      },
    );
    s.on("error", reject);
  });
}

test("certificate files are reloaded without a restart", T, async () => {
  const certFile = join(dir, "server.crt");
  const keyFile = join(dir, "server.key");
  const caFile = join(dir, "ca.crt");
  const first = leaf("node1");
  writeFileSync(certFile, first.cert);
  writeFileSync(keyFile, first.key);
  writeFileSync(caFile, ca.cert);
  const a = await startNode(
    1n,
    { tls: { certFile, keyFile, trustedCAFile: caFile }, timeouts: { tlsReloadInterval: 0 } },
    0,
    "https",
  );
  try {
    const port = Number(new URL(a.url).port);
    const client = leaf("node2");
    assert.equal(await peerCN(port, client), "node1");
    const next = leaf("node1-rotated");
    writeFileSync(certFile, next.cert);
    writeFileSync(keyFile, next.key);
    assert.equal(await peerCN(port, client), "node1-rotated");
    await a.log.waitLine("reloaded TLS certificates");
  } finally {
    await a.t.stop();
  }
});
