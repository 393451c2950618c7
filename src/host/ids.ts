// Member and cluster IDs, derived exactly as etcd derives them, so that a
// tsraft-kv member has the ID etcd would give the same peer URLs and token:
//
//   member ID  = first 8 bytes (big-endian) of
//                sha1(sorted peer URLs concatenated + cluster token [+ unix seconds])
//   cluster ID = first 8 bytes (big-endian) of
//                sha1(the sorted member IDs, each as 8 big-endian bytes)
//
// (etcd's membership.NewMember and RaftCluster.genID.) The time suffix is
// only used for members added at run time, so that re-adding the same URLs
// yields a new ID. IDs are full 64-bit values: bigints.

import { createHash } from "node:crypto";
import { compareIds, formatId, Reader, varintSize64, Writer } from "../raftpb/index.ts";
import type { InitialMember, MemberInfo } from "./types.ts";

function first8(h: Buffer): bigint {
  return h.readBigUInt64BE(0);
}

/** The ID etcd gives a member of the initial cluster with these peer URLs and `--initial-cluster-token`. */
export function memberIdFor(peerURLs: readonly string[], token: string, nowUnixSeconds?: number): bigint {
  // Go's sort.Strings orders by bytes; URLs are ASCII, where UTF-16 order is the same.
  const sorted = [...peerURLs].sort();
  const h = createHash("sha1");
  for (const u of sorted) h.update(u);
  h.update(token);
  if (nowUnixSeconds !== undefined) h.update(String(nowUnixSeconds));
  return first8(h.digest());
}

/**
 * The ID etcd gives a member added at run time (`member add`): no cluster
 * token, but the time in unix seconds.
 */
export function newMemberId(peerURLs: readonly string[], nowMs: number): bigint {
  return memberIdFor(peerURLs, "", Math.floor(nowMs / 1000));
}

/** The cluster ID, from the initial members' IDs, as etcd computes it. */
export function clusterIdFor(memberIds: readonly bigint[]): bigint {
  const sorted = [...memberIds].sort(compareIds);
  const b = Buffer.alloc(8 * sorted.length);
  for (let i = 0; i < sorted.length; i++) b.writeBigUInt64BE(sorted[i]!, 8 * i);
  return first8(createHash("sha1").update(b).digest());
}

/**
 * Who `name` is in a cluster bootstrapped from `initialCluster` and `token`:
 * its ID, the cluster ID and every initial member (a voter, no client URLs
 * yet). Null when no member has that name.
 */
export function initialIdentity(
  initialCluster: readonly InitialMember[],
  token: string,
  name: string,
): { id: bigint; clusterId: bigint; initial: MemberInfo[] } | null {
  const initial = initialCluster.map((m) => ({
    id: memberIdFor(m.peerURLs, token),
    name: m.name,
    peerURLs: [...m.peerURLs],
    clientURLs: [] as string[],
    isLearner: false,
  }));
  const self = initial.find((m) => m.name === name);
  if (self === undefined) return null;
  return { id: self.id, clusterId: clusterIdFor(initial.map((m) => m.id)), initial };
}

/** etcd's WAL metadata (etcdserverpb.Metadata): field 1 NodeID, field 2 ClusterID. */
export function encodeWalMetadata(nodeId: bigint, clusterId: bigint): Uint8Array {
  const w = new Writer(new Uint8Array(2 + varintSize64(nodeId) + varintSize64(clusterId)));
  w.byte(0x08);
  w.varint64(nodeId);
  w.byte(0x10);
  w.varint64(clusterId);
  return w.buf;
}

export function decodeWalMetadata(b: Uint8Array): { nodeId: bigint; clusterId: bigint } {
  const r = new Reader(b);
  let nodeId = 0n;
  let clusterId = 0n;
  while (r.pos < r.end) {
    const k = r.key("Metadata");
    if (k === 0x08) nodeId = r.uint64("Metadata.NodeID");
    else if (k === 0x10) clusterId = r.uint64("Metadata.ClusterID");
    else r.skip(k & 7, "Metadata");
  }
  return { nodeId, clusterId };
}

/** An ID as etcd prints it (lower-case hex). */
export const hexId = formatId;
