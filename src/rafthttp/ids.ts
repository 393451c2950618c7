// Member and cluster IDs. On the wire they are 64-bit values written as
// lowercase hex without padding (Go's strconv.FormatUint(id, 16)); etcd
// compares X-Etcd-Cluster-ID and X-Raft-To as exact strings, so we always
// produce that canonical form. Member IDs double as raft node IDs: both are
// exact unsigned 64-bit bigints, so every etcd member ID is usable as is.

import { formatId, isUint64 } from "../raftpb/index.ts";
import { TransportConfigError } from "./errors.ts";

export { formatId };

const HEX = /^[0-9a-fA-F]{1,16}$/;

/**
 * Parses an ID the way etcd does (base-16, upper case and leading zeros
 * accepted, at most 64 bits). Returns undefined when it is not one.
 */
export function parseId(text: string): bigint | undefined {
  // Go's ParseUint accepts up to 64 bits; leading zeros may make the string longer.
  const t = text.length > 16 ? text.replace(/^0+(?=.)/, "") : text;
  if (!HEX.test(t)) return undefined;
  return BigInt(`0x${t}`);
}

/**
 * Validates a configured member ID (a bigint, or etcd's hex text form) as a
 * raft node ID: non-zero and below 2^64. A JS number is refused rather than
 * accepted: it cannot hold most real member IDs, and silently accepting the
 * small ones would hide the mistake until the first hashed ID.
 */
export function toNodeId(id: bigint | string, field: string): bigint {
  const v = typeof id === "string" ? parseId(id) : id;
  if (!isUint64(v) || v === 0n) {
    throw new TransportConfigError(
      field,
      `${field}: ${typeof id === "number" ? `${id} (a number; use a bigint such as ${id}n)` : String(id)} is not a non-zero 64-bit member ID`,
    );
  }
  return v;
}

/** Validates a configured cluster ID (bigint or hex string); returns it in canonical hex. */
export function toClusterIdText(id: bigint | string, field = "clusterId"): string {
  const v = typeof id === "string" ? parseId(id) : id;
  if (!isUint64(v)) throw new TransportConfigError(field, `${field}: ${String(id)} is not a 64-bit ID`);
  return formatId(v);
}
