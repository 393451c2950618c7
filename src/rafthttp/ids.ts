// Member and cluster IDs. On the wire they are 64-bit values written as
// lowercase hex without padding (Go's strconv.FormatUint(id, 16)); etcd
// compares X-Etcd-Cluster-ID and X-Raft-To as exact strings, so we always
// produce that canonical form. Member IDs double as raft node IDs, which are
// JS numbers in tsraft: a member ID above Number.MAX_SAFE_INTEGER cannot be a
// raft node here and is refused when configured.

import { TransportConfigError } from "./errors.ts";

const MAX_U64 = (1n << 64n) - 1n;
const HEX = /^[0-9a-fA-F]{1,16}$/;

/** Canonical text form of a member or cluster ID: lowercase hex, no leading zeros. */
export function formatId(id: number | bigint): string {
  return id.toString(16);
}

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

/** The raft node ID for a parsed member ID, or undefined when it is not a safe integer. */
export function nodeIdOf(id: bigint): number | undefined {
  return id <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(id) : undefined;
}

/** Validates a configured member ID (number, bigint or hex string) as a raft node ID. */
export function toNodeId(id: number | bigint | string, field: string): number {
  let v: bigint | undefined;
  if (typeof id === "number") {
    if (!Number.isSafeInteger(id) || id <= 0) {
      throw new TransportConfigError(field, `${field}: ${id} is not a positive safe integer`);
    }
    return id;
  }
  if (typeof id === "bigint") v = id;
  else v = parseId(id);
  if (v === undefined || v <= 0n || v > MAX_U64) {
    throw new TransportConfigError(field, `${field}: ${String(id)} is not a 64-bit member ID`);
  }
  const n = nodeIdOf(v);
  if (n === undefined) {
    throw new TransportConfigError(
      field,
      `${field}: member ID ${formatId(v)} exceeds Number.MAX_SAFE_INTEGER and cannot be a tsraft node ID`,
    );
  }
  return n;
}

/** Validates a configured cluster ID (bigint, safe number or hex string); returns it in canonical hex. */
export function toClusterIdText(id: number | bigint | string, field = "clusterId"): string {
  let v: bigint | undefined;
  if (typeof id === "number") v = Number.isSafeInteger(id) && id >= 0 ? BigInt(id) : undefined;
  else if (typeof id === "bigint") v = id >= 0n && id <= MAX_U64 ? id : undefined;
  else v = parseId(id);
  if (v === undefined) throw new TransportConfigError(field, `${field}: ${String(id)} is not a 64-bit ID`);
  return formatId(v);
}
