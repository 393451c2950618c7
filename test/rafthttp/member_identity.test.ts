// Peer mTLS with member identities: with verifyMemberIdentity, a request that
// speaks for member X must present a certificate issued for X's peer URLs.
// A certificate of another member (same CA) is refused; X's own is accepted.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { writeClusterPki } from "../../src/pki/index.ts";
import { encodeMessage, Message, MessageType } from "../../src/raftpb/index.ts";
import { freePort } from "../kv/support/cluster.ts";
import { CLUSTER, startNode, stopEveryNode } from "./helpers.ts";

test.after(stopEveryNode);

test("verifyMemberIdentity: a peer's certificate must be the member's it speaks for", {
  timeout: 30_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), "tsraft-ident-"));
  try {
    const [p1, p2, p3] = [await freePort(), await freePort(), await freePort()];
    const url = (p: number) => `https://127.0.0.1:${p}`;
    const pki = await writeClusterPki(
      dir,
      [
        { name: "m1", peerURLs: [url(p1)], clientURLs: [], hosts: ["127.0.0.1"] },
        { name: "m2", peerURLs: [url(p2)], clientURLs: [], hosts: ["127.0.0.1"] },
        { name: "m3", peerURLs: [url(p3)], clientURLs: [], hosts: ["127.0.0.1"] },
      ],
      { clientCert: false },
    );
    const files = (name: string) => pki.members.find((m) => m.name === name)!;
    const tls = (name: string) => ({
      certFile: files(name).peerCert,
      keyFile: files(name).peerKey,
      trustedCAFile: pki.ca.cert,
      clientCertAuth: true,
      verifyMemberIdentity: true,
    });
    const a = await startNode(1n, { tls: tls("m1"), urls: [url(p1)] }, p1, "https");
    a.t.addPeer(2n, [url(p2)]);
    a.t.addPeer(3n, [url(p3)]);
    const post = (certOf: string, from: bigint) =>
      new Promise<number>((resolve, reject) => {
        const body = encodeMessage(Message.create({ type: MessageType.MsgHeartbeat, from, to: 1n, term: 1 }));
        const req = https.request(
          {
            host: "127.0.0.1",
            port: p1,
            method: "POST",
            path: "/raft",
            ca: readFileSync(pki.ca.cert),
            cert: readFileSync(files(certOf).peerCert),
            key: readFileSync(files(certOf).peerKey),
            headers: {
              "X-Server-From": from.toString(16),
              "X-Server-Version": "3.6.0",
              "X-Min-Cluster-Version": "3.0.0",
              "X-Etcd-Cluster-ID": CLUSTER.toString(16),
              "Content-Type": "application/protobuf",
            },
            agent: false,
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on("error", reject);
        req.end(body);
      });
    assert.equal(await post("m2", 2n), 204, "m2 with its own certificate");
    assert.equal(await post("m3", 2n), 404, "m3's certificate cannot speak for m2");
    assert.equal(a.raft.received.length, 1);
    assert.ok(a.t.stats().refused >= 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
