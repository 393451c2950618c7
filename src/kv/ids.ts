// Member and cluster IDs. They are hashes (as in etcd) cut to 53 bits so
// that they are safe JS numbers and valid raft node IDs.

import { createHash } from "node:crypto";
import { Reader, varintSize, Writer } from "../raftpb/wire.ts";

function hash53(parts: string[]): number {
  const h = createHash("sha256").update(parts.join("\0")).digest();
  // 53 bits: 5 whole bytes plus the low 5 bits of the sixth... built exactly.
  const hi = h.readUInt32BE(0) & 0x1fffff; // 21 bits
  const lo = h.readUInt32BE(4); // 32 bits
  const v = hi * 0x100000000 + lo;
  return v === 0 ? 1 : v;
}

/** The ID of a member of the initial cluster, from its name, peer URLs and the cluster token. */
export function memberIdFor(name: string, peerURLs: readonly string[], token: string): number {
  return hash53(["member", name, ...[...peerURLs].sort(), token]);
}

/** The ID of a member added at run time (the time makes re-adds of the same URLs distinct). */
export function newMemberId(
  name: string,
  peerURLs: readonly string[],
  clusterId: number,
  nowMs: number,
): number {
  return hash53(["added-member", name, ...[...peerURLs].sort(), String(clusterId), String(nowMs)]);
}

/** The cluster ID, from the initial members' IDs and the cluster token. */
export function clusterIdFor(memberIds: readonly number[], token: string): number {
  return hash53(["cluster", ...[...memberIds].sort((a, b) => a - b).map(String), token]);
}

/** etcd's WAL metadata (etcdserverpb.Metadata): field 1 NodeID, field 2 ClusterID. */
export function encodeWalMetadata(nodeId: number, clusterId: number): Uint8Array {
  const w = new Writer(new Uint8Array(2 + varintSize(nodeId) + varintSize(clusterId)));
  w.byte(0x08);
  w.varint(nodeId);
  w.byte(0x10);
  w.varint(clusterId);
  return w.buf;
}

export function decodeWalMetadata(b: Uint8Array): { nodeId: number; clusterId: number } {
  const r = new Reader(b);
  let nodeId = 0;
  let clusterId = 0;
  while (r.pos < r.end) {
    const k = r.key("Metadata");
    if (k === 0x08) nodeId = r.uint("Metadata.NodeID");
    else if (k === 0x10) clusterId = r.uint("Metadata.ClusterID");
    else r.skip(k & 7, "Metadata");
  }
  return { nodeId, clusterId };
}

export const hexId = (id: number): string => id.toString(16);
