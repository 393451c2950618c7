// Encoding of replicated commands: one etcdserverpb.InternalRaftRequest per
// raft entry, with header.ID set so the proposer can match the applied
// result. The request body is embedded as it arrived on the wire when the
// gRPC layer kept its bytes (no re-encoding on the write path).

import {
  AlarmRequestSchema,
  CompactionRequestSchema,
  create,
  DeleteRangeRequestSchema,
  LeaseGrantRequestSchema,
  LeaseRevokeRequestSchema,
  PutRequestSchema,
  TxnRequestSchema,
  toBinary,
} from "../etcdpb/index.ts";

/** InternalRaftRequest field numbers (etcd's raft_internal.proto). */
export const Field = {
  range: 3,
  put: 4,
  deleteRange: 5,
  txn: 6,
  compaction: 7,
  leaseGrant: 8,
  leaseRevoke: 9,
  alarm: 10,
  leaseCheckpoint: 11,
} as const;

const HEADER_FIELD = 100;

function varintLen(v: bigint): number {
  let n = 1;
  while (v >= 0x80n) {
    v >>= 7n;
    n++;
  }
  return n;
}

function putVarint(buf: Uint8Array, pos: number, v: bigint): number {
  while (v >= 0x80n) {
    buf[pos++] = Number(v & 0x7fn) | 0x80;
    v >>= 7n;
  }
  buf[pos++] = Number(v);
  return pos;
}

/** InternalRaftRequest{header: {ID: id}, <field>: body} as bytes. */
export function envelope(id: bigint, field: number, body: Uint8Array): Uint8Array {
  const idLen = id === 0n ? 0 : 1 + varintLen(id);
  const hdrTag = BigInt((HEADER_FIELD << 3) | 2);
  const bodyTag = BigInt((field << 3) | 2);
  const size =
    varintLen(hdrTag) +
    varintLen(BigInt(idLen)) +
    idLen +
    varintLen(bodyTag) +
    varintLen(BigInt(body.length)) +
    body.length;
  const out = new Uint8Array(size);
  let p = putVarint(out, 0, hdrTag);
  p = putVarint(out, p, BigInt(idLen));
  if (idLen > 0) {
    out[p++] = 0x08; // RequestHeader.ID, varint
    p = putVarint(out, p, id);
  }
  p = putVarint(out, p, bodyTag);
  p = putVarint(out, p, BigInt(body.length));
  out.set(body, p);
  return out;
}

/** The command a leader proposes for an expired lease (or an explicit revoke). */
export function leaseRevokeCommand(requestId: bigint, leaseId: bigint): Uint8Array {
  return envelope(
    requestId,
    Field.leaseRevoke,
    toBinary(LeaseRevokeRequestSchema, create(LeaseRevokeRequestSchema, { ID: leaseId })),
  );
}

export const Schemas = {
  put: PutRequestSchema,
  deleteRange: DeleteRangeRequestSchema,
  txn: TxnRequestSchema,
  compaction: CompactionRequestSchema,
  leaseGrant: LeaseGrantRequestSchema,
  leaseRevoke: LeaseRevokeRequestSchema,
  alarm: AlarmRequestSchema,
} as const;
