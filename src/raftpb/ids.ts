// Node IDs: exact unsigned 64-bit values (`bigint`), ordered and printed the
// way etcd orders and prints them.
//
// JS sorts bigints as strings by default (`[10n, 9n].sort()` gives
// `[10n, 9n]`), so every place that orders IDs goes through compareIds.

import { MAX_UINT64 } from "./wire.ts";

/** Numeric order of two IDs: negative, zero or positive, for Array.prototype.sort. */
export function compareIds(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The IDs in ascending numeric order, as a new array. */
export function sortIds(ids: Iterable<bigint>): bigint[] {
  return Array.from(ids).sort(compareIds);
}

/** An ID as etcd prints it in logs and tools: lower-case hex, no prefix, no padding. */
export function formatId(id: bigint): string {
  return id.toString(16);
}

/** Thrown for a string that is not a node ID. */
export class IdParseError extends Error {
  readonly code = "ERR_ID_PARSE";
  constructor(text: string, reason: string) {
    super(`not a node ID: ${JSON.stringify(text)}: ${reason}`);
    this.name = "IdParseError";
  }
}

/**
 * Parses an ID written in hex (as etcd prints member IDs, with or without
 * `0x`); throws IdParseError for anything else, including values >= 2^64.
 */
export function parseHexId(text: string): bigint {
  const body = text.startsWith("0x") || text.startsWith("0X") ? text.slice(2) : text;
  if (!/^[0-9a-fA-F]{1,16}$/.test(body)) throw new IdParseError(text, "expected 1 to 16 hex digits");
  return BigInt(`0x${body}`);
}

/** Parses an ID written in decimal; throws IdParseError for anything else, including values >= 2^64. */
export function parseDecimalId(text: string): bigint {
  if (!/^[0-9]{1,20}$/.test(text)) throw new IdParseError(text, "expected decimal digits");
  const v = BigInt(text);
  if (v > MAX_UINT64) throw new IdParseError(text, "exceeds 2^64-1");
  return v;
}
