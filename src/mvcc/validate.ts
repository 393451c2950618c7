// Request checks etcd makes before a request is proposed (etcdserver/api/
// v3rpc/key.go of 3.4, spec §3.3-3.6). The gRPC layer runs them on the
// member that receives a request; the state machine runs them again at
// apply time so that a malformed command in the log fails the same way on
// every member instead of breaking the store's invariants.

import type { DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest } from "../etcdpb/index.ts";
import { keyToString } from "./bytes.ts";
import { MvccError, MvccErrorCode } from "./errors.ts";

/** etcd's default --max-txn-ops. */
export const DEFAULT_MAX_TXN_OPS = 128;

/** etcd's Range checks: MvccError EMPTY_KEY, INVALID_SORT_OPTION. */
export function validateRange(r: RangeRequest): void {
  if (r.key.length === 0) throw new MvccError(MvccErrorCode.EmptyKey);
  // etcd 3.4 does not check these (an unknown target reaches a nil sorter);
  // 3.6 answers this error, which the spec recommends for every version.
  if (r.sortOrder < 0 || r.sortOrder > 2 || r.sortTarget < 0 || r.sortTarget > 4)
    throw new MvccError(MvccErrorCode.InvalidSortOption);
}

/** etcd's Put checks: MvccError EMPTY_KEY, VALUE_PROVIDED (ignore_value), LEASE_PROVIDED (ignore_lease). */
export function validatePut(p: PutRequest): void {
  if (p.key.length === 0) throw new MvccError(MvccErrorCode.EmptyKey);
  if (p.ignoreValue && p.value.length !== 0) throw new MvccError(MvccErrorCode.ValueProvided);
  if (p.ignoreLease && p.lease !== 0n) throw new MvccError(MvccErrorCode.LeaseProvided);
}

/** etcd's DeleteRange check: MvccError EMPTY_KEY. */
export function validateDelete(d: DeleteRangeRequest): void {
  if (d.key.length === 0) throw new MvccError(MvccErrorCode.EmptyKey);
}

/** Op count, keys, every op, then the duplicate-key rule on each branch. */
export function validateTxn(t: TxnRequest, maxTxnOps = DEFAULT_MAX_TXN_OPS): void {
  checkTxn(t, maxTxnOps);
  checkIntervals(t.success);
  checkIntervals(t.failure);
}

function checkTxn(t: TxnRequest, maxTxnOps: number): void {
  // The limit is on the longest list, not the sum; nested txns get what is left.
  const opc = Math.max(t.compare.length, t.success.length, t.failure.length);
  if (opc > maxTxnOps) throw new MvccError(MvccErrorCode.TooManyOps);
  for (const c of t.compare) if (c.key.length === 0) throw new MvccError(MvccErrorCode.EmptyKey);
  for (const op of t.success) checkOp(op, maxTxnOps - opc);
  for (const op of t.failure) checkOp(op, maxTxnOps - opc);
}

function checkOp(op: RequestOp, maxTxnOps: number): void {
  const r = op.request;
  switch (r.case) {
    case "requestRange":
      validateRange(r.value);
      return;
    case "requestPut":
      validatePut(r.value);
      return;
    case "requestDeleteRange":
      validateDelete(r.value);
      return;
    case "requestTxn":
      checkTxn(r.value, maxTxnOps);
      return;
    default:
      // An op with nothing set: etcd says "key not found" (sic).
      throw new MvccError(MvccErrorCode.KeyNotFound);
  }
}

interface Interval {
  lo: string;
  /** Exclusive end; undefined = the single key lo. */
  hi: string | undefined;
}

function hits(dels: readonly Interval[], k: string): boolean {
  for (const d of dels) {
    if (d.hi === undefined ? k === d.lo : d.lo <= k && k < d.hi) return true;
  }
  return false;
}

/**
 * etcd's checkIntervals: within one branch (and the branches of txns nested
 * in it) no key may be put twice nor put inside a deleted range. A put in a
 * nested txn's success and the same key in its failure is fine (only one
 * runs). Overlapping deletes are fine. A delete's range_end is taken
 * literally, as etcd's interval tree does ("\0" is not "to the end" here).
 * Returns the puts and deletes of the level for the caller's checks.
 */
function checkIntervals(reqs: readonly RequestOp[]): { puts: Set<string>; dels: Interval[] } {
  const dels: Interval[] = [];
  for (const op of reqs) {
    if (op.request.case !== "requestDeleteRange") continue;
    const d = op.request.value;
    dels.push({ lo: keyToString(d.key), hi: d.rangeEnd.length > 0 ? keyToString(d.rangeEnd) : undefined });
  }
  const puts = new Set<string>();
  for (const op of reqs) {
    if (op.request.case !== "requestTxn") continue;
    const t = op.request.value;
    const thenSide = checkIntervals(t.success);
    const elseSide = checkIntervals(t.failure);
    for (const k of thenSide.puts) {
      if (puts.has(k) || hits(dels, k)) throw new MvccError(MvccErrorCode.DuplicateKey);
      puts.add(k);
    }
    for (const k of elseSide.puts) {
      if (puts.has(k) && !thenSide.puts.has(k)) throw new MvccError(MvccErrorCode.DuplicateKey);
      if (hits(dels, k)) throw new MvccError(MvccErrorCode.DuplicateKey);
      puts.add(k);
    }
    dels.push(...thenSide.dels, ...elseSide.dels);
  }
  for (const op of reqs) {
    if (op.request.case !== "requestPut") continue;
    const k = keyToString(op.request.value.key);
    if (puts.has(k) || hits(dels, k)) throw new MvccError(MvccErrorCode.DuplicateKey);
    puts.add(k);
  }
  return { puts, dels };
}

/** True if every op in both branches, nested txns included, is a Range. */
export function isTxnReadOnly(t: TxnRequest): boolean {
  for (const list of [t.success, t.failure]) {
    for (const op of list) {
      const r = op.request;
      if (r.case === "requestRange") continue;
      if (r.case === "requestTxn" && isTxnReadOnly(r.value)) continue;
      return false;
    }
  }
  return true;
}

/** True if the txn contains a Put anywhere (what the NOSPACE alarm refuses). */
export function txnHasPut(t: TxnRequest): boolean {
  for (const list of [t.success, t.failure]) {
    for (const op of list) {
      const r = op.request;
      if (r.case === "requestPut") return true;
      if (r.case === "requestTxn" && txnHasPut(r.value)) return true;
    }
  }
  return false;
}
