// EtcdStateMachine: etcd 3.4's v3 applier over the MVCC store, the lessor,
// the alarm list and the watcher hub. It is what a raft host drives:
//
//   apply(cmds)     one result per committed command, in log order
//   snapshot()      a consistent point-in-time image, streamed in chunks
//   restore(chunks) replaces the whole state from such an image
//
// plus the local reads etcd serves without raft (Range, read-only Txn,
// HashKV, lease TimeToLive/Leases, watches). Each command is an
// etcdserverpb.InternalRaftRequest (etcd's own envelope), so the log format
// is etcd's. Applying is deterministic: the same commands give the same
// state and results on every member; only lease deadlines depend on the
// (leader-local) clock, and they are not part of the replicated state.

import {
  type AlarmMember,
  type AlarmRequest,
  AlarmRequest_AlarmAction,
  type AlarmResponse,
  AlarmType,
  type CompactionRequest,
  type CompactionResponse,
  type Compare,
  Compare_CompareResult,
  Compare_CompareTarget,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  fromBinary,
  type InternalRaftRequest,
  InternalRaftRequestSchema,
  type KeyValue,
  type LeaseCheckpointRequest,
  type LeaseCheckpointResponse,
  type LeaseGrantRequest,
  type LeaseGrantResponse,
  type LeaseRevokeRequest,
  type LeaseRevokeResponse,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  type RangeResponse,
  type RequestOp,
  type ResponseHeader,
  type ResponseOp,
  type TxnRequest,
  type TxnResponse,
} from "../etcdpb/index.ts";
import { bytesCompare, keyToString, normalizeEnd } from "./bytes.ts";
import { MvccError, MvccErrorCode, toSafeNumber } from "./errors.ts";
import type { KeyRev } from "./key_index.ts";
import { Lessor } from "./lessor.ts";
import { decodePutCommand } from "./put_command.ts";
import { type Capture, decodeSnapshot, encodeSnapshot, type SnapshotStream } from "./snapshot.ts";
import { type LeaseAttacher, MemoryMvccStore, type MvccStore, type WriteTxn } from "./store.ts";
import {
  DEFAULT_MAX_TXN_OPS,
  isTxnReadOnly,
  txnHasPut,
  validateDelete,
  validatePut,
  validateRange,
  validateTxn,
} from "./validate.ts";
import { type Scheduler, WatcherHub } from "./watch.ts";

/** Options of an EtcdStateMachine (all optional). */
export interface EtcdStateMachineOptions {
  /** Leader-local monotonic clock in ms, for lease deadlines. Default: performance.now(). */
  now?: () => number;
  /** Minimum lease TTL in seconds (etcd: ceil(1.5 x election timeout)). Default 2. */
  minLeaseTtl?: number;
  /** etcd's --max-txn-ops. Default 128. */
  maxTxnOps?: number;
  /** How the watcher hub schedules history replay. Default setTimeout(fn, 0). */
  schedule?: Scheduler;
  /** The MVCC store to use (e.g. an on-disk one). Default: a MemoryMvccStore. */
  createStore?: (leases: LeaseAttacher) => MvccStore;
}

/** One command's outcome. `response` is the etcdserverpb response message (header: revision only). */
export interface ApplyResult {
  /** The request ID from the envelope (header.ID, else ID), so the proposer can find its waiter. */
  id: bigint;
  /** The etcdserverpb response (an AnyResponse) when the command succeeded. */
  response?: unknown;
  /** etcd's error for a refused request (the state is unchanged by it). */
  error?: MvccError;
  /** The entry was at or below the applied index (already applied): nothing was done. */
  skipped?: boolean;
}

/** The etcdserverpb response types a command can produce. */
export type AnyResponse =
  | RangeResponse
  | PutResponse
  | DeleteRangeResponse
  | TxnResponse
  | CompactionResponse
  | LeaseGrantResponse
  | LeaseRevokeResponse
  | AlarmResponse
  | LeaseCheckpointResponse;

function header(revision: number): ResponseHeader {
  return {
    $typeName: "etcdserverpb.ResponseHeader",
    clusterId: 0n,
    memberId: 0n,
    revision: BigInt(revision),
    raftTerm: 0n,
  };
}

const EMPTY_BYTES = new Uint8Array(0);

/** The protobuf KeyValue of a version (a tombstone: key and mod_revision only). */
export function toKeyValue(r: KeyRev, keysOnly = false): KeyValue {
  if (r.tombstone)
    return {
      $typeName: "mvccpb.KeyValue",
      key: r.keyBytes,
      createRevision: 0n,
      modRevision: BigInt(r.main),
      version: 0n,
      value: EMPTY_BYTES,
      lease: 0n,
    };
  return {
    $typeName: "mvccpb.KeyValue",
    key: r.keyBytes,
    createRevision: BigInt(r.createRevision),
    modRevision: BigInt(r.main),
    version: BigInt(r.version),
    value: keysOnly ? EMPTY_BYTES : r.value,
    lease: r.lease,
  };
}

/** Which branch each txn (and each nested txn in the chosen branch) takes, decided before any write. */
interface TxnPath {
  succeeded: boolean;
  nested: TxnPath[];
}

/**
 * etcd's v3 apply semantics as a deterministic state machine: it applies
 * committed InternalRaftRequests (KV, txn, compaction, leases, alarms) to an
 * MVCC store, notifies watchers, and produces and restores snapshots. Every
 * member applying the same commands reaches the same state and responses.
 */
export class EtcdStateMachine {
  /** The leases (deadlines on the leader only). */
  readonly lessor: Lessor;
  /** The key-value history. */
  readonly store: MvccStore;
  /** The watchers, notified after each applied write. */
  readonly hub: WatcherHub;
  /** Most operations one txn may hold (etcd's --max-txn-ops). */
  readonly maxTxnOps: number;
  /** Index of the last applied command (etcd's consistent index). */
  appliedIndex = 0;
  private readonly alarms = new Map<string, AlarmMember>();

  constructor(opts: EtcdStateMachineOptions = {}) {
    const now = opts.now ?? (() => performance.now());
    this.lessor = new Lessor({ now, minTtl: opts.minLeaseTtl ?? 2 });
    this.store = opts.createStore?.(this.lessor) ?? new MemoryMvccStore(this.lessor);
    this.hub = new WatcherHub(this.store, opts.schedule);
    this.maxTxnOps = opts.maxTxnOps ?? DEFAULT_MAX_TXN_OPS;
  }

  /** The store's current revision. */
  get rev(): number {
    return this.store.rev;
  }
  /** The revision the store is compacted up to. */
  get compactRev(): number {
    return this.store.compactRev;
  }

  // ---- replicated commands ----------------------------------------------------------

  /**
   * Applies committed commands in log order; one result per command. An
   * entry at or below the applied index is skipped (it is already in the
   * state, e.g. replayed after a restore). An empty payload is a no-op
   * (raft's empty entry at the start of a term).
   */
  apply(cmds: readonly { index: number; data: Uint8Array }[]): ApplyResult[] {
    const out: ApplyResult[] = [];
    for (const c of cmds) {
      if (c.index > 0 && c.index <= this.appliedIndex) {
        out.push({ id: 0n, skipped: true });
        continue;
      }
      if (c.index > 0) this.appliedIndex = c.index;
      if (c.data.length === 0) {
        out.push({ id: 0n });
        continue;
      }
      const fast = decodePutCommand(c.data);
      if (fast !== undefined) {
        try {
          out.push({ id: fast.id, response: this.applyPut(fast.put) });
        } catch (e) {
          if (!(e instanceof MvccError)) throw e;
          out.push({ id: fast.id, error: e });
        }
        continue;
      }
      let req: InternalRaftRequest;
      try {
        req = fromBinary(InternalRaftRequestSchema, c.data);
      } catch (e) {
        out.push({ id: 0n, error: new MvccError(MvccErrorCode.BadCommand, (e as Error).message) });
        continue;
      }
      const id = req.header !== undefined && req.header.ID !== 0n ? req.header.ID : req.ID;
      try {
        out.push({ id, response: this.applyRequest(req) });
      } catch (e) {
        if (!(e instanceof MvccError)) throw e;
        out.push({ id, error: e });
      }
    }
    return out;
  }

  /** A put command: the alarms' refusals, then etcd's checks, then the put. */
  private applyPut(p: PutRequest): PutResponse {
    if (this.hasAlarm(AlarmType.CORRUPT)) throw new MvccError(MvccErrorCode.Corrupt);
    if (this.hasAlarm(AlarmType.NOSPACE)) throw new MvccError(MvccErrorCode.NoSpace);
    validatePut(p);
    return this.put(null, p);
  }

  /** Applies one decoded envelope; throws MvccError for etcd's request errors. */
  applyRequest(req: InternalRaftRequest): AnyResponse {
    const corrupt = this.hasAlarm(AlarmType.CORRUPT);
    const noSpace = this.hasAlarm(AlarmType.NOSPACE);
    const guard = (write: boolean) => {
      if (corrupt) throw new MvccError(MvccErrorCode.Corrupt);
      if (write && noSpace) throw new MvccError(MvccErrorCode.NoSpace);
    };
    if (req.put !== undefined) return this.applyPut(req.put);
    if (req.deleteRange !== undefined) {
      guard(false);
      validateDelete(req.deleteRange);
      return this.deleteRange(null, req.deleteRange);
    }
    if (req.txn !== undefined) {
      // Validation first: it bounds the nesting depth (the op budget shrinks per level)
      // before anything else recurses into the txn.
      validateTxn(req.txn, this.maxTxnOps);
      guard(txnHasPut(req.txn));
      return this.txn(req.txn);
    }
    if (req.range !== undefined) {
      guard(false);
      validateRange(req.range);
      return this.range(null, req.range);
    }
    if (req.compaction !== undefined) {
      guard(false);
      return this.compact(req.compaction);
    }
    if (req.leaseGrant !== undefined) {
      guard(true);
      return this.leaseGrant(req.leaseGrant);
    }
    if (req.leaseRevoke !== undefined) {
      guard(false);
      return this.leaseRevoke(req.leaseRevoke);
    }
    if (req.alarm !== undefined) return this.alarm(req.alarm);
    if (req.leaseCheckpoint !== undefined) return this.leaseCheckpoint(req.leaseCheckpoint);
    throw new MvccError(MvccErrorCode.BadCommand, "no request in the envelope");
  }

  // ---- KV -----------------------------------------------------------------------

  /**
   * etcd's applier Range. With txn null it reads the store at the current
   * revision (a local read: the caller ensured linearizability); inside a
   * write txn it sees the txn's own writes. header.revision = the read
   * view's current revision, not the requested one.
   */
  range(txn: WriteTxn | null, r: RangeRequest): RangeResponse {
    const key = keyToString(r.key);
    const end = normalizeEnd(keyToString(r.rangeEnd));
    const limit = toSafeNumber(r.limit, "limit");
    const atRev = toSafeNumber(r.revision, "revision");
    const minMod = toSafeNumber(r.minModRevision, "min_mod_revision");
    const maxMod = toSafeNumber(r.maxModRevision, "max_mod_revision");
    const minCreate = toSafeNumber(r.minCreateRevision, "min_create_revision");
    const maxCreate = toSafeNumber(r.maxCreateRevision, "max_create_revision");
    const filtered = minMod !== 0 || maxMod !== 0 || minCreate !== 0 || maxCreate !== 0;
    // Without sorting or filtering, fetch one more than the limit to learn `more`.
    let fetch = r.sortOrder !== RangeRequest_SortOrder.NONE || filtered ? 0 : limit;
    if (fetch > 0) fetch++;
    const rr =
      txn === null
        ? this.store.range(key, end, atRev, fetch, r.countOnly)
        : txn.range(key, end, atRev, fetch, r.countOnly);
    let kvs = rr.kvs;
    if (filtered) {
      kvs = kvs.filter(
        (kv) =>
          (maxMod === 0 || kv.main <= maxMod) &&
          (minMod === 0 || kv.main >= minMod) &&
          (maxCreate === 0 || kv.createRevision <= maxCreate) &&
          (minCreate === 0 || kv.createRevision >= minCreate),
      );
    }
    let order = r.sortOrder;
    if (r.sortTarget !== RangeRequest_SortTarget.KEY && order === RangeRequest_SortOrder.NONE)
      order = RangeRequest_SortOrder.ASCEND;
    if (order !== RangeRequest_SortOrder.NONE) {
      const cmp = sorter(r.sortTarget);
      if (kvs === rr.kvs) kvs = kvs.slice();
      kvs.sort(order === RangeRequest_SortOrder.DESCEND ? (a, b) => cmp(b, a) : cmp);
    }
    let more = false;
    if (limit > 0 && kvs.length > limit) {
      kvs = kvs.slice(0, limit);
      more = true;
    }
    const out: KeyValue[] = new Array(kvs.length);
    for (let i = 0; i < kvs.length; i++) out[i] = toKeyValue(kvs[i]!, r.keysOnly);
    return {
      $typeName: "etcdserverpb.RangeResponse",
      header: header(txn === null ? this.store.rev : txn.rev),
      kvs: out,
      more,
      count: BigInt(rr.count),
    };
  }

  /** etcd's applier Put; standalone (txn null) checks the lease first, as etcd does. */
  put(txn: WriteTxn | null, p: PutRequest): PutResponse {
    const own = txn === null;
    if (own && p.lease !== 0n && this.lessor.lookup(p.lease) === undefined)
      throw new MvccError(MvccErrorCode.LeaseNotFound);
    const key = keyToString(p.key);
    let cur: KeyRev | undefined;
    if (p.ignoreValue || p.ignoreLease || p.prevKv) cur = this.currentOf(txn, key);
    if ((p.ignoreValue || p.ignoreLease) && cur === undefined) throw new MvccError(MvccErrorCode.KeyNotFound);
    const value = p.ignoreValue ? cur!.value : p.value;
    const lease = p.ignoreLease ? cur!.lease : p.lease;
    const t = txn ?? this.store.beginWrite();
    let kr: KeyRev;
    try {
      kr = t.put(key, p.key, value, lease);
    } finally {
      if (own) t.end();
    }
    return {
      $typeName: "etcdserverpb.PutResponse",
      header: header(kr.main),
      prevKv: p.prevKv && cur !== undefined ? toKeyValue(cur) : undefined,
    };
  }

  private currentOf(txn: WriteTxn | null, key: string): KeyRev | undefined {
    return (
      txn === null ? this.store.range(key, undefined, 0, 0, false) : txn.range(key, undefined, 0, 0, false)
    ).kvs[0];
  }

  /** etcd's applier DeleteRange, standalone (txn null) or inside a write txn. */
  deleteRange(txn: WriteTxn | null, d: DeleteRangeRequest): DeleteRangeResponse {
    const own = txn === null;
    const t = txn ?? this.store.beginWrite();
    let deleted: KeyRev[];
    let rev: number;
    try {
      deleted = t.deleteRange(keyToString(d.key), normalizeEnd(keyToString(d.rangeEnd)));
      rev = t.rev;
    } finally {
      if (own) t.end();
    }
    return {
      $typeName: "etcdserverpb.DeleteRangeResponse",
      header: header(rev),
      deleted: BigInt(deleted.length),
      prevKvs: d.prevKv ? deleted.map((kr) => toKeyValue(kr)) : [],
    };
  }

  /**
   * etcd's applier Txn: compares (and those of nested txns in the chosen
   * branches) are evaluated on the state before any op; then the chosen
   * branch is pre-checked (ignore_* keys exist, leases exist, explicit Range
   * revisions valid) so that nothing is applied if any op would fail; then
   * the ops run in order in one write transaction (one revision).
   */
  txn(rt: TxnRequest): TxnResponse {
    const write = !isTxnReadOnly(rt);
    const path = this.txnPath(rt);
    if (write) this.checkPuts(rt, path);
    this.checkRanges(rt, path);
    if (!write) {
      const resp = this.applyTxnOps(null, rt, path);
      resp.header = header(this.store.rev);
      return resp;
    }
    const t = this.store.beginWrite();
    let resp: TxnResponse;
    try {
      resp = this.applyTxnOps(t, rt, path);
    } finally {
      t.end();
    }
    resp.header = header(t.rev);
    return resp;
  }

  /** A Txn whose ops are all Ranges, served locally (the caller did the read barrier). */
  txnReadOnly(rt: TxnRequest): TxnResponse {
    validateTxn(rt, this.maxTxnOps);
    if (!isTxnReadOnly(rt)) throw new MvccError(MvccErrorCode.BadCommand, "txn writes");
    return this.txn(rt);
  }

  private txnPath(rt: TxnRequest): TxnPath {
    let ok = true;
    for (const c of rt.compare) {
      if (!this.applyCompare(c)) {
        ok = false;
        break;
      }
    }
    const nested: TxnPath[] = [];
    for (const op of ok ? rt.success : rt.failure)
      if (op.request.case === "requestTxn") nested.push(this.txnPath(op.request.value));
    return { succeeded: ok, nested };
  }

  private applyCompare(c: Compare): boolean {
    let kvs: KeyRev[];
    try {
      kvs = this.store.range(keyToString(c.key), normalizeEnd(keyToString(c.rangeEnd)), 0, 0, false).kvs;
    } catch {
      return false;
    }
    if (kvs.length === 0) {
      // A missing key has no value to compare (etcd: always false); other targets compare against 0.
      if (c.target === Compare_CompareTarget.VALUE) return false;
      return compareKv(c, undefined);
    }
    for (const kv of kvs) if (!compareKv(c, kv)) return false;
    return true;
  }

  private checkPuts(rt: TxnRequest, path: TxnPath): void {
    let n = 0;
    for (const op of path.succeeded ? rt.success : rt.failure) {
      const r = op.request;
      if (r.case === "requestPut") {
        const p = r.value;
        if ((p.ignoreValue || p.ignoreLease) && this.currentOf(null, keyToString(p.key)) === undefined)
          throw new MvccError(MvccErrorCode.KeyNotFound);
        if (p.lease !== 0n && this.lessor.lookup(p.lease) === undefined)
          throw new MvccError(MvccErrorCode.LeaseNotFound);
      } else if (r.case === "requestTxn") this.checkPuts(r.value, path.nested[n++]!);
    }
  }

  private checkRanges(rt: TxnRequest, path: TxnPath): void {
    let n = 0;
    for (const op of path.succeeded ? rt.success : rt.failure) {
      const r = op.request;
      if (r.case === "requestRange") {
        const rev = toSafeNumber(r.value.revision, "revision");
        if (rev === 0) continue;
        if (rev > this.store.rev) throw new MvccError(MvccErrorCode.FutureRev);
        if (rev < this.store.compactRev) throw new MvccError(MvccErrorCode.Compacted);
      } else if (r.case === "requestTxn") this.checkRanges(r.value, path.nested[n++]!);
    }
  }

  private applyTxnOps(t: WriteTxn | null, rt: TxnRequest, path: TxnPath): TxnResponse {
    const ops: RequestOp[] = path.succeeded ? rt.success : rt.failure;
    const responses: ResponseOp[] = [];
    let n = 0;
    for (const op of ops) {
      const r = op.request;
      let resp: ResponseOp["response"];
      switch (r.case) {
        case "requestRange":
          resp = { case: "responseRange", value: this.range(t, r.value) };
          break;
        case "requestPut":
          resp = { case: "responsePut", value: this.put(t, r.value) };
          break;
        case "requestDeleteRange":
          resp = { case: "responseDeleteRange", value: this.deleteRange(t!, r.value) };
          break;
        case "requestTxn": {
          const nested = this.applyTxnOps(t, r.value, path.nested[n++]!);
          // Nested txn responses carry an empty header (etcd's newTxnResp).
          nested.header = header(0);
          resp = { case: "responseTxn", value: nested };
          break;
        }
        default:
          throw new MvccError(MvccErrorCode.KeyNotFound);
      }
      responses.push({ $typeName: "etcdserverpb.ResponseOp", response: resp });
    }
    return { $typeName: "etcdserverpb.TxnResponse", header: undefined, succeeded: path.succeeded, responses };
  }

  /** etcd's applier Compaction: drops history before the revision; MvccError COMPACTED / FUTURE_REV. */
  compact(c: CompactionRequest): CompactionResponse {
    this.store.compact(toSafeNumber(c.revision, "revision"));
    return { $typeName: "etcdserverpb.CompactionResponse", header: header(this.store.rev) };
  }

  // ---- leases -------------------------------------------------------------------

  /** etcd's applier LeaseGrant (TTL raised to the minimum); MvccError LEASE_EXISTS / LEASE_TTL_TOO_LARGE. */
  leaseGrant(g: LeaseGrantRequest): LeaseGrantResponse {
    const ttl = g.TTL > 9_000_000_000n ? 9_000_000_001 : g.TTL < 0n ? 0 : Number(g.TTL);
    const l = this.lessor.grant(g.ID, ttl);
    return {
      $typeName: "etcdserverpb.LeaseGrantResponse",
      header: header(this.store.rev),
      ID: l.id,
      TTL: BigInt(l.ttl),
      error: "",
    };
  }

  /** Deletes the lease's keys in one write (sorted, so every member hashes alike), then forgets it. */
  leaseRevoke(r: LeaseRevokeRequest): LeaseRevokeResponse {
    const l = this.lessor.lookup(r.ID);
    if (l === undefined) throw new MvccError(MvccErrorCode.LeaseNotFound);
    const keys = [...l.keys].sort();
    if (keys.length > 0) {
      const t = this.store.beginWrite();
      try {
        for (const k of keys) t.deleteRange(k, undefined);
      } finally {
        t.end();
      }
    }
    this.lessor.remove(r.ID);
    return { $typeName: "etcdserverpb.LeaseRevokeResponse", header: header(this.store.rev) };
  }

  /** etcd's applier LeaseCheckpoint: records remaining TTLs for the next leader. */
  leaseCheckpoint(c: LeaseCheckpointRequest): LeaseCheckpointResponse {
    for (const cp of c.checkpoints)
      this.lessor.checkpoint(cp.ID, toSafeNumber(cp.remainingTTL, "remaining_TTL"));
    return { $typeName: "etcdserverpb.LeaseCheckpointResponse", header: header(this.store.rev) };
  }

  // ---- alarms -------------------------------------------------------------------

  private hasAlarm(t: AlarmType): boolean {
    if (this.alarms.size === 0) return false;
    for (const a of this.alarms.values()) if (a.alarm === t) return true;
    return false;
  }

  /** Active alarms of type t (NONE = all), by type then member ID. */
  alarmList(t: AlarmType = AlarmType.NONE): AlarmMember[] {
    return [...this.alarms.values()]
      .filter((a) => t === AlarmType.NONE || a.alarm === t)
      .sort((a, b) => a.alarm - b.alarm || (a.memberID < b.memberID ? -1 : a.memberID > b.memberID ? 1 : 0));
  }

  /** etcd's applier Alarm: activates, deactivates or lists alarms. */
  alarm(a: AlarmRequest): AlarmResponse {
    const alarms: AlarmMember[] = [];
    const k = `${a.alarm}:${a.memberID}`;
    switch (a.action) {
      case AlarmRequest_AlarmAction.GET:
        alarms.push(...this.alarmList(a.alarm));
        break;
      case AlarmRequest_AlarmAction.ACTIVATE: {
        let m = this.alarms.get(k);
        if (m === undefined) {
          m = { $typeName: "etcdserverpb.AlarmMember", memberID: a.memberID, alarm: a.alarm };
          this.alarms.set(k, m);
        }
        alarms.push(m);
        break;
      }
      case AlarmRequest_AlarmAction.DEACTIVATE: {
        const m = this.alarms.get(k);
        if (m !== undefined) {
          this.alarms.delete(k);
          alarms.push(m);
        }
        break;
      }
      default:
        throw new MvccError(MvccErrorCode.BadCommand, `unknown alarm action ${a.action}`);
    }
    return { $typeName: "etcdserverpb.AlarmResponse", header: header(this.store.rev), alarms };
  }

  // ---- local reads ------------------------------------------------------------

  /** HashKV (spec §3.11): hash of history up to rev (0 = current), as etcd computes it. */
  hashKV(rev: number): { hash: number; compactRevision: number; hashRevision: number } {
    const cur = this.store.rev;
    const compactRevision = this.store.compactRev;
    if (rev > 0 && rev <= compactRevision) throw new MvccError(MvccErrorCode.Compacted);
    if (rev > cur) throw new MvccError(MvccErrorCode.FutureRev);
    const at = rev <= 0 ? cur : rev;
    return { hash: this.store.hashKV(at), compactRevision, hashRevision: at };
  }

  // ---- snapshots ----------------------------------------------------------------

  /**
   * A consistent image of the replicated state as of now (captured
   * synchronously), streamed in chunks while writes go on.
   */
  snapshot(): SnapshotStream {
    const cap: Capture = {
      rev: this.store.rev,
      compactRev: this.store.compactRev,
      appliedIndex: this.appliedIndex,
      records: this.store.captureRecords(),
      leases: this.lessor.capture(),
      alarms: this.alarmList().map((a) => ({ memberId: a.memberID, alarm: a.alarm })),
    };
    return encodeSnapshot(cap);
  }

  /**
   * Replaces the whole state with an image from snapshot(). A damaged image
   * is a SnapshotCorrupt error and leaves the state untouched. Watchers
   * survive: they replay what they missed from the new history (or hear
   * that it was compacted). `at` is the raft index (and term) the image
   * stands for, which the host passes; without it the image's own.
   */
  async restore(
    chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    at?: { index: number; term: number },
  ): Promise<void> {
    const cap = await decodeSnapshot(chunks);
    const seenLease = new Set<bigint>();
    for (const l of cap.leases) {
      if (seenLease.has(l.id) || l.id === 0n) throw new MvccError(MvccErrorCode.SnapshotCorrupt, "bad lease");
      seenLease.add(l.id);
    }
    this.store.load(cap.rev, cap.compactRev, cap.records);
    this.lessor.load(cap.leases);
    this.store.forEachLive((kr) => {
      if (kr.lease !== 0n) this.lessor.attach(kr.lease, kr.key);
    });
    this.alarms.clear();
    for (const a of cap.alarms)
      this.alarms.set(`${a.alarm}:${a.memberId}`, {
        $typeName: "etcdserverpb.AlarmMember",
        memberID: a.memberId,
        alarm: a.alarm,
      });
    // The raft snapshot's index is authoritative: an image restored into a new
    // cluster (restoreMember) stands for that cluster's index, not the log
    // position it was saved at in the old one (entries at or below
    // appliedIndex are skipped as already applied).
    this.appliedIndex = at?.index ?? cap.appliedIndex;
    this.hub.afterRestore();
  }
}

function sorter(target: RangeRequest_SortTarget): (a: KeyRev, b: KeyRev) => number {
  switch (target) {
    case RangeRequest_SortTarget.VERSION:
      return (a, b) => a.version - b.version;
    case RangeRequest_SortTarget.CREATE:
      return (a, b) => a.createRevision - b.createRevision;
    case RangeRequest_SortTarget.MOD:
      return (a, b) => a.main - b.main;
    case RangeRequest_SortTarget.VALUE:
      return (a, b) => bytesCompare(a.value, b.value);
    default:
      return (a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  }
}

function cmpBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** etcd's compareKV: the operand is the oneof member matching the target, else 0 / empty. */
function compareKv(c: Compare, kv: KeyRev | undefined): boolean {
  const u = c.targetUnion;
  let result: number;
  switch (c.target) {
    case Compare_CompareTarget.VALUE:
      result = bytesCompare(kv?.value ?? EMPTY_BYTES, u.case === "value" ? u.value : EMPTY_BYTES);
      break;
    case Compare_CompareTarget.CREATE:
      result = cmpBig(BigInt(kv?.createRevision ?? 0), u.case === "createRevision" ? u.value : 0n);
      break;
    case Compare_CompareTarget.MOD:
      result = cmpBig(BigInt(kv?.main ?? 0), u.case === "modRevision" ? u.value : 0n);
      break;
    case Compare_CompareTarget.VERSION:
      result = cmpBig(BigInt(kv?.version ?? 0), u.case === "version" ? u.value : 0n);
      break;
    case Compare_CompareTarget.LEASE:
      result = cmpBig(kv?.lease ?? 0n, u.case === "lease" ? u.value : 0n);
      break;
    default:
      result = 0;
  }
  switch (c.result) {
    case Compare_CompareResult.EQUAL:
      return result === 0;
    case Compare_CompareResult.NOT_EQUAL:
      return result !== 0;
    case Compare_CompareResult.GREATER:
      return result > 0;
    case Compare_CompareResult.LESS:
      return result < 0;
    default:
      return true;
  }
}
