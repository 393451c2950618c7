// The v3 API's request handling, independent of the transport: the gRPC
// server (grpc_server.ts) and the JSON gateway (gateway.ts) both call these.
// Semantics follow etcd 3.4's v3rpc layer (spec §3): validation before
// proposing, writes through backend.propose, linearizable reads after
// backend.readIndex, leader-local lease renewals, and a ResponseHeader on
// every response (cluster_id, member_id, raft_term and the revision etcd
// puts there, §3.13).

import { createHash } from "node:crypto";
import {
  type AlarmMember,
  type AlarmRequest,
  AlarmRequest_AlarmAction,
  type AlarmResponse,
  AlarmType,
  type CompactionRequest,
  type CompactionResponse,
  type DefragmentResponse,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type HashKVRequest,
  type HashKVResponse,
  type HashResponse,
  type LeaseGrantRequest,
  type LeaseGrantResponse,
  type LeaseKeepAliveRequest,
  type LeaseKeepAliveResponse,
  type LeaseLeasesResponse,
  type LeaseRevokeRequest,
  type LeaseRevokeResponse,
  type LeaseTimeToLiveRequest,
  type LeaseTimeToLiveResponse,
  type Member,
  type MemberAddRequest,
  type MemberAddResponse,
  type MemberListResponse,
  type MemberPromoteRequest,
  type MemberPromoteResponse,
  type MemberRemoveRequest,
  type MemberRemoveResponse,
  type MemberUpdateRequest,
  type MemberUpdateResponse,
  type MoveLeaderRequest,
  type MoveLeaderResponse,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  type RangeResponse,
  type ResponseHeader,
  type SnapshotResponse,
  type StatusResponse,
  type TxnRequest,
  type TxnResponse,
  toBinary,
  type WatchCreateRequest,
  type WatchRequest,
  type WatchResponse,
} from "../etcdpb/index.ts";
import {
  type AnyResponse,
  imageHash,
  isTxnReadOnly,
  keyToString,
  MAX_LEASE_TTL,
  MvccError,
  MvccErrorCode,
  toSafeNumber,
  validateDelete,
  validatePut,
  validateRange,
  validateTxn,
  type WatchEvent,
  type Watcher,
  type WatchSink,
} from "../mvcc/index.ts";
import type { MemberInfo, V3Backend } from "./backend.ts";
import { envelope, Field, Schemas } from "./commands.ts";
import { V3Errors } from "./errors.ts";
import { toEvents, WatchResponseSplicer, watchIdField } from "./watch_encode.ts";

/** Shared by every Watch stream: one notify hands all watchers of a change their events in a row. */
const splicer = new WatchResponseSplicer();

/** Options of V3Services (all optional; etcd's defaults). */
export interface V3ServiceOptions {
  /** etcd's --max-txn-ops (128). */
  maxTxnOps?: number;
  /** etcd's --max-request-bytes (1.5 MiB). The gRPC limit is this + 512 KiB. */
  maxRequestBytes?: number;
  /** The version Status reports; clients require >= 3.2. */
  version?: string;
  /** Informational messages (e.g. Defragment being a no-op). */
  log?: (msg: string) => void;
}

/** etcd's default --max-request-bytes: 1.5 MiB. */
export const DEFAULT_MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;
/** etcd's allowance over max-request-bytes for gRPC framing (and the watch fragment threshold). */
export const GRPC_OVERHEAD_BYTES = 512 * 1024;
/** The version Status reports: the etcd API level this server implements. */
export const API_VERSION = "3.4.23";
const SNAPSHOT_CHUNK = 32 * 1024;

/**
 * etcd's v3 services (KV, Lease, Cluster, Maintenance, Watch through
 * WatchSession) as plain async methods over a V3Backend, shared by the gRPC
 * server and the JSON gateway. Requests are validated as etcd does; failures
 * are MvccErrors and V3RpcErrors that map to etcd's gRPC status and message.
 */
export class V3Services {
  /** Most operations per txn (etcd's --max-txn-ops). */
  readonly maxTxnOps: number;
  /** Largest proposed command in bytes (etcd's --max-request-bytes). */
  readonly maxRequestBytes: number;
  /** The server version Status reports. */
  readonly version: string;
  /** Sink of informational messages. */
  readonly log: (msg: string) => void;

  constructor(
    readonly backend: V3Backend,
    opts: V3ServiceOptions = {},
  ) {
    this.maxTxnOps = opts.maxTxnOps ?? 128;
    this.maxRequestBytes = opts.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
    this.version = opts.version ?? API_VERSION;
    this.log = opts.log ?? (() => {});
  }

  /** A full header: cluster_id, member_id, raft_term and the given revision. */
  header(revision: bigint | number): ResponseHeader {
    const h = this.backend.header();
    return {
      $typeName: "etcdserverpb.ResponseHeader",
      clusterId: h.clusterId,
      memberId: h.memberId,
      revision: typeof revision === "bigint" ? revision : BigInt(revision),
      raftTerm: h.raftTerm,
    };
  }

  private get sm() {
    return this.backend.sm;
  }

  /** Proposes a command and returns this member's apply result (header filled). */
  private async propose<T extends AnyResponse>(
    field: number,
    body: Uint8Array,
    signal: AbortSignal,
  ): Promise<T> {
    const cmd = envelope(this.backend.newRequestId(), field, body);
    if (cmd.length > this.maxRequestBytes) throw V3Errors.requestTooLarge();
    const r = await this.backend.propose(cmd, signal);
    if (r.error !== undefined) throw r.error;
    const resp = r.response as T;
    resp.header = this.header(resp.header?.revision ?? 0n);
    return resp;
  }

  // ---- KV ----------------------------------------------------------------------

  /** KV.Range: linearizable (a read barrier first) unless `serializable`. */
  async range(req: RangeRequest, signal: AbortSignal): Promise<RangeResponse> {
    validateRange(req);
    if (!req.serializable) await this.backend.readIndex(signal);
    const resp = this.sm.range(null, req);
    resp.header = this.header(resp.header!.revision);
    return resp;
  }

  /** KV.Put, through raft (`raw`: the request's bytes as received, to skip re-encoding). */
  put(req: PutRequest, signal: AbortSignal, raw?: Uint8Array): Promise<PutResponse> {
    validatePut(req);
    return this.propose(Field.put, raw ?? toBinary(Schemas.put, req), signal);
  }

  /** KV.DeleteRange, through raft. */
  deleteRange(req: DeleteRangeRequest, signal: AbortSignal, raw?: Uint8Array): Promise<DeleteRangeResponse> {
    validateDelete(req);
    return this.propose(Field.deleteRange, raw ?? toBinary(Schemas.deleteRange, req), signal);
  }

  /** KV.Txn: through raft, or as a read (after a barrier unless serializable) when it writes nothing. */
  async txn(req: TxnRequest, signal: AbortSignal, raw?: Uint8Array): Promise<TxnResponse> {
    validateTxn(req, this.maxTxnOps);
    if (isTxnReadOnly(req)) {
      // Served locally, after a read barrier unless every Range is serializable.
      if (!allSerializable(req)) await this.backend.readIndex(signal);
      const resp = this.sm.txnReadOnly(req);
      resp.header = this.header(resp.header!.revision);
      return resp;
    }
    return this.propose(Field.txn, raw ?? toBinary(Schemas.txn, req), signal);
  }

  /** KV.Compact, through raft. */
  compact(req: CompactionRequest, signal: AbortSignal, raw?: Uint8Array): Promise<CompactionResponse> {
    return this.propose(Field.compaction, raw ?? toBinary(Schemas.compaction, req), signal);
  }

  // ---- Lease ----------------------------------------------------------------------

  /** Lease.LeaseGrant, through raft (an ID is chosen here when the request gives 0). */
  leaseGrant(req: LeaseGrantRequest, signal: AbortSignal): Promise<LeaseGrantResponse> {
    if (req.TTL > BigInt(MAX_LEASE_TTL)) throw new MvccError(MvccErrorCode.LeaseTtlTooLarge);
    // The receiving member picks the ID before proposing, so every member applies the same one.
    const body = req.ID === 0n ? { ...req, ID: this.backend.newLeaseId() } : req;
    return this.propose(Field.leaseGrant, toBinary(Schemas.leaseGrant, body), signal);
  }

  /** Lease.LeaseRevoke, through raft. */
  leaseRevoke(req: LeaseRevokeRequest, signal: AbortSignal, raw?: Uint8Array): Promise<LeaseRevokeResponse> {
    return this.propose(Field.leaseRevoke, raw ?? toBinary(Schemas.leaseRevoke, req), signal);
  }

  /** One keep-alive: the granted TTL, or TTL 0 (not an error) for an unknown or expiring lease. */
  async leaseKeepAlive(req: LeaseKeepAliveRequest, signal: AbortSignal): Promise<LeaseKeepAliveResponse> {
    let ttl = 0;
    try {
      ttl = await this.backend.leaseRenew(req.ID, signal);
    } catch (e) {
      if (!(e instanceof MvccError && e.code === MvccErrorCode.LeaseNotFound)) throw e;
    }
    return {
      $typeName: "etcdserverpb.LeaseKeepAliveResponse",
      header: this.header(this.sm.rev),
      ID: req.ID,
      TTL: BigInt(ttl),
    };
  }

  /** Lease.LeaseTimeToLive, answered by the leader (TTL -1 for an unknown lease, as etcd). */
  async leaseTimeToLive(req: LeaseTimeToLiveRequest, signal: AbortSignal): Promise<LeaseTimeToLiveResponse> {
    const t = await this.backend.leaseTimeToLive(req.ID, req.keys, signal);
    return {
      $typeName: "etcdserverpb.LeaseTimeToLiveResponse",
      header: this.header(this.sm.rev),
      ID: req.ID,
      TTL: t === undefined ? -1n : BigInt(t.ttl),
      grantedTTL: t === undefined ? 0n : BigInt(t.grantedTtl),
      keys: t === undefined || !req.keys ? [] : t.keys,
    };
  }

  /** Lease.LeaseLeases: every lease ID, from the local state. */
  leaseLeases(): LeaseLeasesResponse {
    return {
      $typeName: "etcdserverpb.LeaseLeasesResponse",
      header: this.header(this.sm.rev),
      leases: this.sm.lessor.list().map((l) => ({ $typeName: "etcdserverpb.LeaseStatus", ID: l.id })),
    };
  }

  // ---- Cluster (headers carry revision 0, as etcd's) --------------------------------

  private members(ms: MemberInfo[]): Member[] {
    return ms.map(toMember);
  }

  /** Cluster.MemberList. */
  async memberList(signal: AbortSignal): Promise<MemberListResponse> {
    const members = this.members(await this.backend.memberList(signal));
    return { $typeName: "etcdserverpb.MemberListResponse", header: this.header(0), members };
  }

  /** Cluster.MemberAdd (peer URLs validated as etcd does). */
  async memberAdd(req: MemberAddRequest, signal: AbortSignal): Promise<MemberAddResponse> {
    const urls = validatePeerUrls(req.peerURLs);
    const r = await this.backend.memberAdd(urls, req.isLearner, signal);
    return {
      $typeName: "etcdserverpb.MemberAddResponse",
      header: this.header(0),
      member: { ...toMember(r.member), name: "", clientURLs: [] },
      members: this.members(r.members),
    };
  }

  /** Cluster.MemberRemove. */
  async memberRemove(req: MemberRemoveRequest, signal: AbortSignal): Promise<MemberRemoveResponse> {
    const members = this.members(await this.backend.memberRemove(req.ID, signal));
    return { $typeName: "etcdserverpb.MemberRemoveResponse", header: this.header(0), members };
  }

  /** Cluster.MemberUpdate. */
  async memberUpdate(req: MemberUpdateRequest, signal: AbortSignal): Promise<MemberUpdateResponse> {
    const urls = validatePeerUrls(req.peerURLs);
    const members = this.members(await this.backend.memberUpdate(req.ID, urls, signal));
    return { $typeName: "etcdserverpb.MemberUpdateResponse", header: this.header(0), members };
  }

  /** Cluster.MemberPromote. */
  async memberPromote(req: MemberPromoteRequest, signal: AbortSignal): Promise<MemberPromoteResponse> {
    const members = this.members(await this.backend.memberPromote(req.ID, signal));
    return { $typeName: "etcdserverpb.MemberPromoteResponse", header: this.header(0), members };
  }

  // ---- Maintenance ----------------------------------------------------------------

  /** Maintenance.Alarm (GET reads locally; ACTIVATE/DEACTIVATE go through raft). */
  async alarm(req: AlarmRequest, signal: AbortSignal): Promise<AlarmResponse> {
    if (req.action === AlarmRequest_AlarmAction.GET) {
      return {
        $typeName: "etcdserverpb.AlarmResponse",
        header: this.header(this.sm.rev),
        alarms: this.sm.alarmList(req.alarm),
      };
    }
    return this.propose(Field.alarm, toBinary(Schemas.alarm, req), signal);
  }

  /** Maintenance.Status of this member. */
  status(): StatusResponse {
    const s = this.backend.status();
    const errors: string[] = [];
    if (!this.backend.hasLeader()) errors.push("etcdserver: no leader");
    for (const a of this.sm.alarmList()) errors.push(alarmText(a));
    return {
      $typeName: "etcdserverpb.StatusResponse",
      header: this.header(this.sm.rev),
      version: this.version,
      dbSize: BigInt(s.dbSize),
      leader: s.leader,
      raftIndex: s.raftIndex,
      raftTerm: s.raftTerm,
      raftAppliedIndex: s.raftAppliedIndex,
      errors,
      dbSizeInUse: BigInt(s.dbSizeInUse),
      isLearner: s.isLearner,
      storageVersion: "",
      dbSizeQuota: 0n,
      downgradeInfo: undefined,
    };
  }

  /** The store is in memory: there is no file to defragment. Succeeds, and says so in the log. */
  defragment(): DefragmentResponse {
    this.log("defragment: nothing to do, the v3 store is held in memory");
    return { $typeName: "etcdserverpb.DefragmentResponse", header: this.header(this.sm.rev) };
  }

  /** Maintenance.Hash: a hash of the whole backend image (mvcc's imageHash; etcd hashes its bbolt file). */
  async hash(): Promise<HashResponse> {
    const rev = this.sm.rev;
    const h = await imageHash(this.backend.snapshot());
    return { $typeName: "etcdserverpb.HashResponse", header: this.header(rev), hash: h };
  }

  /** Maintenance.HashKV: etcd's hash of the key history up to a revision (0: current). */
  hashKV(req: HashKVRequest): HashKVResponse {
    const r = this.sm.hashKV(toSafeNumber(req.revision, "revision"));
    return {
      $typeName: "etcdserverpb.HashKVResponse",
      header: this.header(this.sm.rev),
      hash: r.hash,
      compactRevision: BigInt(r.compactRevision),
      hashRevision: BigInt(r.hashRevision),
    };
  }

  /**
   * The backend image in chunks of at most 32 KiB, zero-padded to a multiple
   * of 512 bytes, then its SHA-256 as the last message: the shape
   * `etcdctl snapshot save` checks (length mod 512 == 32). The image is
   * tsraft's snapshot format, not a bbolt file (see unwrapSnapshotFile).
   */
  async *snapshot(): AsyncGenerator<SnapshotResponse> {
    const img = this.backend.snapshot();
    const total = Math.ceil(img.size / 512) * 512;
    const sha = createHash("sha256");
    let sent = 0;
    let pending = new Uint8Array(0);
    const hdr = this.header(this.sm.rev);
    const msg = (blob: Uint8Array, remaining: number): SnapshotResponse => ({
      $typeName: "etcdserverpb.SnapshotResponse",
      header: hdr,
      remainingBytes: BigInt(remaining),
      blob,
      version: "",
    });
    for await (const c of img) {
      let buf = pending.length === 0 ? c : concat(pending, c);
      while (buf.length >= SNAPSHOT_CHUNK) {
        const out = buf.slice(0, SNAPSHOT_CHUNK);
        buf = buf.subarray(SNAPSHOT_CHUNK);
        sha.update(out);
        sent += out.length;
        yield msg(out, total - sent);
      }
      pending = buf.slice();
    }
    const tail = new Uint8Array(total - sent);
    tail.set(pending, 0);
    for (let off = 0; off < tail.length; off += SNAPSHOT_CHUNK) {
      const out = tail.subarray(off, Math.min(tail.length, off + SNAPSHOT_CHUNK));
      sha.update(out);
      sent += out.length;
      yield msg(out, total - sent);
    }
    yield msg(new Uint8Array(sha.digest()), 0);
  }

  /** Maintenance.MoveLeader (this member must lead). */
  async moveLeader(req: MoveLeaderRequest, signal: AbortSignal): Promise<MoveLeaderResponse> {
    await this.backend.moveLeader(req.targetID, signal);
    return { $typeName: "etcdserverpb.MoveLeaderResponse", header: this.header(this.sm.rev) };
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const o = new Uint8Array(a.length + b.length);
  o.set(a, 0);
  o.set(b, a.length);
  return o;
}

/**
 * The state-machine image inside a file that `etcdctl snapshot save` wrote
 * from this server (image, zero padding to a multiple of 512, SHA-256 of
 * both), for EtcdStateMachine.restore(). The SHA-256 is checked; the image's
 * own checksum is checked by restore.
 */
export function unwrapSnapshotFile(file: Uint8Array): Uint8Array {
  if (file.length < 32 || (file.length - 32) % 512 !== 0)
    throw new MvccError(MvccErrorCode.SnapshotCorrupt, "not a snapshot file (length)");
  const body = file.subarray(0, file.length - 32);
  const sum = createHash("sha256").update(body).digest();
  for (let i = 0; i < 32; i++)
    if (sum[i] !== file[file.length - 32 + i])
      throw new MvccError(MvccErrorCode.SnapshotCorrupt, "sha256 mismatch");
  // Strip the zero padding after the image's END entry: the image ends with
  // the 6-byte END entry (tag 5, length 4, crc); find the last non-padding byte.
  let end = body.length;
  while (end > 0 && body[end - 1] === 0) end--;
  // The crc itself may end in zero bytes: extend back to a valid END position.
  for (let cut = end; cut <= Math.min(body.length, end + 4); cut++) {
    if (cut >= 6 && body[cut - 6] === 5 && body[cut - 5] === 4) return body.subarray(0, cut);
  }
  throw new MvccError(MvccErrorCode.SnapshotCorrupt, "no end entry");
}

function toMember(m: MemberInfo): Member {
  return {
    $typeName: "etcdserverpb.Member",
    ID: m.id,
    name: m.name,
    peerURLs: m.peerURLs,
    clientURLs: m.clientURLs,
    isLearner: m.isLearner,
  };
}

/** etcd's member URL check: http/https/unix/unixs with host:port and no path; sorted. */
export function validatePeerUrls(urls: readonly string[]): string[] {
  if (urls.length === 0) throw V3Errors.memberBadUrls();
  const out: string[] = [];
  for (const raw of urls) {
    const s = raw.trim();
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      throw V3Errors.memberBadUrls();
    }
    if (!["http:", "https:", "unix:", "unixs:"].includes(u.protocol)) throw V3Errors.memberBadUrls();
    if (u.port === "" || u.hostname === "" || (u.pathname !== "" && u.pathname !== "/") || s.endsWith("/"))
      throw V3Errors.memberBadUrls();
    out.push(s);
  }
  return out.sort();
}

/** An alarm as protobuf compact text, as etcd's Status lists it: `memberID:<dec> alarm:<NAME> `. */
export function alarmText(a: AlarmMember): string {
  return `memberID:${a.memberID} alarm:${AlarmType[a.alarm] ?? a.alarm} `;
}

function allSerializable(t: TxnRequest): boolean {
  for (const list of [t.success, t.failure]) {
    for (const op of list) {
      const r = op.request;
      if (r.case === "requestRange" && !r.value.serializable) return false;
      if (r.case === "requestTxn" && !allSerializable(r.value)) return false;
    }
  }
  return true;
}

// ---- Watch --------------------------------------------------------------------------

/**
 * One Watch stream (spec §3.8): per-stream watch IDs from 0, create replies
 * in request order before any event, cancel replies only for known IDs,
 * stream-wide progress replies with watch_id -1, compaction cancels with
 * header revision 0 and no reason, fragmentation on request. `send` returns
 * false when the transport is full; the watchers pause until drained().
 * With `sendBytes` (gRPC), event deliveries go out as encoded
 * WatchResponses spliced from parts shared across watchers (watch_encode.ts).
 */
export class WatchSession {
  private readonly watchers = new Map<bigint, Watcher>();
  private readonly fragment = new Set<bigint>();
  /** Encoded watch_id field per watcher, for sendBytes. */
  private readonly idFields = new Map<bigint, Uint8Array>();
  private nextId = 0n;
  private closed = false;
  private readonly fragmentBytes: number;

  constructor(
    private readonly svc: V3Services,
    private readonly send: (resp: WatchResponse) => boolean,
    private readonly sendBytes?: (encoded: Uint8Array) => boolean,
  ) {
    this.fragmentBytes = svc.maxRequestBytes + GRPC_OVERHEAD_BYTES;
  }

  private resp(init: Partial<WatchResponse> & { header: ResponseHeader; watchId: bigint }): WatchResponse {
    return {
      $typeName: "etcdserverpb.WatchResponse",
      created: false,
      canceled: false,
      compactRevision: 0n,
      cancelReason: "",
      fragment: false,
      events: [],
      ...init,
    };
  }

  /** Handles one request of the stream (create, cancel or progress). */
  handle(req: WatchRequest): void {
    if (this.closed) return;
    const u = req.requestUnion;
    switch (u.case) {
      case "createRequest":
        this.create(u.value);
        return;
      case "cancelRequest": {
        const w = this.watchers.get(u.value.watchId);
        if (w === undefined) return; // unknown ID: no reply at all
        this.svc.backend.sm.hub.cancel(w);
        this.watchers.delete(u.value.watchId);
        this.fragment.delete(u.value.watchId);
        this.idFields.delete(u.value.watchId);
        this.send(
          this.resp({
            header: this.svc.header(this.svc.backend.sm.rev),
            watchId: u.value.watchId,
            canceled: true,
          }),
        );
        return;
      }
      case "progressRequest":
        this.send(this.resp({ header: this.svc.header(this.svc.backend.sm.rev), watchId: -1n }));
        return;
      default:
        return; // unknown or empty union: ignored
    }
  }

  private create(c: WatchCreateRequest): void {
    const sm = this.svc.backend.sm;
    const rev = sm.rev;
    const fail = (reason: string) =>
      this.send(
        this.resp({
          header: this.svc.header(rev),
          watchId: -1n,
          created: true,
          canceled: true,
          cancelReason: reason,
        }),
      );
    const key = c.key.length === 0 ? "\0" : keyToString(c.key);
    const rawEnd = keyToString(c.rangeEnd);
    const end = rawEnd.length === 0 ? undefined : rawEnd === "\0" ? null : rawEnd;
    if (typeof end === "string" && key >= end) return void fail("mvcc: watcher range is empty");
    if (c.startRevision < 0n) return void fail("etcdserver: mvcc: required revision has been compacted");
    let id = c.watchId;
    if (id !== 0n) {
      if (this.watchers.has(id)) return void fail("mvcc: duplicate watch ID provided on the WatchStream");
    } else {
      while (this.watchers.has(this.nextId)) this.nextId++;
      id = this.nextId++;
    }
    let startRev: number;
    try {
      startRev = toSafeNumber(c.startRevision, "start_revision");
    } catch (e) {
      return void fail((e as Error).message);
    }
    // The created reply goes out first; the hub delivers nothing before watch() returns.
    this.send(this.resp({ header: this.svc.header(rev), watchId: id, created: true }));
    const noPut = c.filters.includes(0);
    const noDelete = c.filters.includes(1);
    const w = sm.hub.watch(
      { key, end, startRev, prevKv: c.prevKv, noPut, noDelete, progressNotify: c.progressNotify },
      this.sink,
    );
    w.id = id;
    this.watchers.set(id, w);
    if (c.fragment) this.fragment.add(id);
  }

  private readonly sink: WatchSink = {
    events: (w: Watcher, evs: WatchEvent[], headerRev: number): boolean => {
      if (this.closed) return false;
      if (this.sendBytes !== undefined && !(evs.length > 1 && this.fragment.has(w.id))) {
        let idf = this.idFields.get(w.id);
        if (idf === undefined) this.idFields.set(w.id, (idf = watchIdField(w.id)));
        const h = this.svc.backend.header();
        return this.sendBytes(splicer.encode(h.clusterId, h.memberId, h.raftTerm, headerRev, idf, evs));
      }
      const events = toEvents(evs);
      const r = this.resp({ header: this.svc.header(headerRev), watchId: w.id, events });
      if (this.fragment.has(w.id) && events.length > 1) return this.sendFragments(r, evs);
      return this.send(r);
    },
    compacted: (w: Watcher, compactRev: number) => {
      this.watchers.delete(w.id);
      this.fragment.delete(w.id);
      this.idFields.delete(w.id);
      if (this.closed) return;
      this.send(
        this.resp({
          header: this.svc.header(0),
          watchId: w.id,
          canceled: true,
          compactRevision: BigInt(compactRev),
        }),
      );
    },
    progress: (w: Watcher, rev: number) => {
      if (this.closed) return;
      this.send(this.resp({ header: this.svc.header(rev), watchId: w.id }));
    },
  };

  /** etcd's sendFragments: split a response of >= the limit into parts of >= 1 event each. */
  private sendFragments(r: WatchResponse, evs: WatchEvent[]): boolean {
    const size = (e: WatchEvent) =>
      e.kv.keyBytes.length +
      e.kv.value.length +
      (e.prev ? e.prev.keyBytes.length + e.prev.value.length + 40 : 0) +
      48;
    let total = 64;
    for (const e of evs) total += size(e);
    if (total < this.fragmentBytes) return this.send(r);
    let ok = true;
    let start = 0;
    while (start < r.events.length) {
      let acc = 64;
      let end = start;
      while (end < r.events.length) {
        const s = size(evs[end]!);
        if (end > start && acc + s >= this.fragmentBytes) break;
        acc += s;
        end++;
      }
      const last = end === r.events.length;
      ok = this.send({ ...r, events: r.events.slice(start, end), fragment: !last }) && ok;
      start = end;
    }
    return ok;
  }

  /** The transport can take more: resume every paused watcher of this stream. */
  drained(): void {
    for (const w of this.watchers.values()) this.svc.backend.sm.hub.resume(w);
  }

  /** The stream ended (client cancel or server shutdown): drop every watcher. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.watchers.values()) this.svc.backend.sm.hub.cancel(w);
    this.watchers.clear();
  }

  /** Watchers open on this stream. */
  get size(): number {
    return this.watchers.size;
  }
}
