// etcd's Lock and Election services (v3lockpb.Lock, v3electionpb.Election;
// spec Appendix E), which jetcd's Lock and Election clients and the JSON
// gateway's /v3/lock/* and /v3/election/* paths call. etcd serves them by
// running its client-side recipes (clientv3/concurrency's Mutex and Election)
// against itself; here the same steps run on V3Services directly, so the keys
// written, the revisions compared and the waits are etcd's:
//
//   Lock(name, lease)      one Txn puts `<name>/<lease hex>` (empty, with the
//                          lease) unless it exists, and reads the oldest key
//                          under `<name>/`; if that is not ours, wait until
//                          every key under the prefix created before ours is
//                          deleted (waitDeletes). Returns our key.
//   Unlock(key)            deletes the key.
//   Campaign(name, lease, value)
//                          the same put (with the value; an existing key of
//                          this lease gets the new value by Proclaim), then
//                          the same wait. Returns the leader key (name, key,
//                          its create revision, lease).
//   Proclaim(leader, value) puts the value if the key still has the leader's
//                          create revision, else "election: not leader".
//   Leader(name)           the oldest key under `<name>/`, else "election:
//                          no leader".
//   Observe(name)          a stream of the leader's key-value: each new
//                          leader, then each change of its value.
//   Resign(leader)         deletes the key if it still has the leader's
//                          create revision.
//
// Waiting is a watch on this member's state machine for the DELETE of the
// next older key, then a fresh linearizable read, until no older key is left.
// A Lock or Campaign whose caller goes away (the call is cancelled) deletes
// its key, as etcd does, so an abandoned waiter never acquires the lock. The
// caller's lease is used as given and is not kept alive (the caller must); a
// lease of 0 gets a fresh 60 s lease, as etcd's session does. Beyond etcd
// 3.4 (as etcd 3.5 does): a Lock whose lease expired while it waited fails
// with "mutex: session is expired" instead of returning a key that is gone.
// Errors are UNKNOWN with etcd's messages, as etcd's own client turns them
// (asClientError).

import {
  type CampaignRequest,
  type CampaignResponse,
  Compare_CompareResult,
  Compare_CompareTarget,
  CompareSchema,
  create,
  DeleteRangeRequestSchema,
  type KeyValue,
  type LeaderKey,
  type LeaderRequest,
  type LeaderResponse,
  LeaseGrantRequestSchema,
  type LockRequest,
  type LockResponse,
  type ProclaimRequest,
  type ProclaimResponse,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  RangeRequestSchema,
  type RequestOp,
  RequestOpSchema,
  type ResignRequest,
  type ResignResponse,
  type ResponseHeader,
  TxnRequestSchema,
  type TxnResponse,
  type UnlockRequest,
  type UnlockResponse,
} from "../etcdpb/index.ts";
import {
  bytesEqual,
  EventType,
  type KeyRev,
  keyToString,
  prefixEnd,
  toKeyValue,
  type Watcher,
} from "../mvcc/index.ts";
import { NO_CANCEL } from "./backend.ts";
import { GrpcCode, toStatus, V3Errors, V3RpcError } from "./errors.ts";
import type { V3Services } from "./services.ts";

/** The TTL of the lease a Lock or Campaign with lease 0 gets (etcd's default session TTL). */
const DEFAULT_SESSION_TTL = 60n;

const SLASH = 0x2f;
const noop = () => {};

/** Lock and Election over V3Services (see the top of this file). */
export class V3Concurrency {
  constructor(private readonly svc: V3Services) {}

  // ---- Lock ---------------------------------------------------------------------

  /** v3lockpb.Lock: blocks until the caller's lease holds the lock `name`. */
  lock(req: LockRequest, signal: AbortSignal): Promise<LockResponse> {
    return asClientError(this.lockNow(req, signal));
  }

  private async lockNow(req: LockRequest, signal: AbortSignal): Promise<LockResponse> {
    const lease = await this.sessionLease(req.lease, signal);
    const pfx = withSlash(req.name);
    const myKey = keyOf(pfx, lease);
    const resp = await this.svc.txn(
      create(TxnRequestSchema, {
        compare: [createRevisionIs(myKey, 0n)],
        success: [putOp(myKey, new Uint8Array(0), lease), firstCreateOp(pfx)],
        failure: [getOp(myKey), firstCreateOp(pfx)],
      }),
      signal,
    );
    const myRev = resp.succeeded ? resp.header!.revision : rangeKvs(resp, 0)[0]!.createRevision;
    const owner = rangeKvs(resp, 1);
    if (owner.length === 0 || owner[0]!.createRevision === myRev) {
      return { $typeName: "v3lockpb.LockResponse", header: resp.header, key: myKey };
    }
    let header: ResponseHeader;
    try {
      header = await this.waitDeletes(pfx, myRev - 1n, signal);
      // The lease may have expired while we waited: then our key is gone too.
      const mine = await this.svc.range(create(RangeRequestSchema, { key: myKey }), signal);
      if (mine.kvs.length === 0) throw V3Errors.mutexSessionExpired();
    } catch (err) {
      // Give up our place, so that an abandoned waiter never holds the lock.
      await this.svc.deleteRange(deleteReq(myKey), NO_CANCEL).catch(noop);
      throw err;
    }
    return { $typeName: "v3lockpb.LockResponse", header, key: myKey };
  }

  /** v3lockpb.Unlock: deletes the ownership key. */
  unlock(req: UnlockRequest, signal: AbortSignal): Promise<UnlockResponse> {
    return asClientError(this.unlockNow(req, signal));
  }

  private async unlockNow(req: UnlockRequest, signal: AbortSignal): Promise<UnlockResponse> {
    const resp = await this.svc.deleteRange(deleteReq(req.key), signal);
    return { $typeName: "v3lockpb.UnlockResponse", header: resp.header };
  }

  // ---- Election -------------------------------------------------------------------

  /** v3electionpb.Campaign: blocks until the caller's lease leads the election `name`. */
  campaign(req: CampaignRequest, signal: AbortSignal): Promise<CampaignResponse> {
    return asClientError(this.campaignNow(req, signal));
  }

  private async campaignNow(req: CampaignRequest, signal: AbortSignal): Promise<CampaignResponse> {
    const lease = await this.sessionLease(req.lease, signal);
    const pfx = withSlash(req.name);
    const key = keyOf(pfx, lease);
    const resp = await this.svc.txn(
      create(TxnRequestSchema, {
        compare: [createRevisionIs(key, 0n)],
        success: [putOp(key, req.value, lease)],
        failure: [getOp(key)],
      }),
      signal,
    );
    let rev = resp.header!.revision;
    if (!resp.succeeded) {
      const kv = rangeKvs(resp, 0)[0]!;
      rev = kv.createRevision;
      if (!bytesEqual(kv.value, req.value)) {
        try {
          await this.proclaimAt(key, rev, lease, req.value, signal);
        } catch (err) {
          await this.resignAt(key, rev, NO_CANCEL).catch(noop);
          throw err;
        }
      }
    }
    try {
      await this.waitDeletes(pfx, rev - 1n, signal);
    } catch (err) {
      if (signal.aborted) await this.resignAt(key, rev, NO_CANCEL).catch(noop);
      throw err;
    }
    return {
      $typeName: "v3electionpb.CampaignResponse",
      header: resp.header,
      leader: { $typeName: "v3electionpb.LeaderKey", name: req.name, key, rev, lease },
    };
  }

  /** v3electionpb.Proclaim: a new value, while the caller still leads. */
  proclaim(req: ProclaimRequest, signal: AbortSignal): Promise<ProclaimResponse> {
    return asClientError(this.proclaimNow(req, signal));
  }

  private async proclaimNow(req: ProclaimRequest, signal: AbortSignal): Promise<ProclaimResponse> {
    const l = leaderOf(req.leader);
    const header = await this.proclaimAt(l.key, l.rev, l.lease, req.value, signal);
    return { $typeName: "v3electionpb.ProclaimResponse", header };
  }

  /** v3electionpb.Resign: gives up leadership (nothing if the key is not the leader's any more). */
  resign(req: ResignRequest, signal: AbortSignal): Promise<ResignResponse> {
    return asClientError(this.resignNow(req, signal));
  }

  private async resignNow(req: ResignRequest, signal: AbortSignal): Promise<ResignResponse> {
    const l = leaderOf(req.leader);
    const header = await this.resignAt(l.key, l.rev, signal);
    return { $typeName: "v3electionpb.ResignResponse", header };
  }

  /** v3electionpb.Leader: the current leader's key-value. */
  leader(req: LeaderRequest, signal: AbortSignal): Promise<LeaderResponse> {
    return asClientError(this.leaderNow(req, signal));
  }

  private async leaderNow(req: LeaderRequest, signal: AbortSignal): Promise<LeaderResponse> {
    const r = await this.svc.range(firstCreateReq(withSlash(req.name)), signal);
    if (r.kvs.length === 0) throw V3Errors.electionNoLeader();
    return { $typeName: "v3electionpb.LeaderResponse", header: r.header, kv: r.kvs[0] };
  }

  /**
   * v3electionpb.Observe: sends the leader's key-value, then each change of
   * its value, then the next leader's once it is deleted, until `signal`
   * fires. `send` returns false when the stream wants no more for now; the
   * next response then waits for `drained`.
   */
  observe(
    req: LeaderRequest,
    send: (resp: LeaderResponse) => boolean,
    drained: () => Promise<void>,
    signal: AbortSignal,
  ): Promise<void> {
    return asClientError(this.observeNow(req, send, drained, signal));
  }

  private async observeNow(
    req: LeaderRequest,
    send: (resp: LeaderResponse) => boolean,
    drained: () => Promise<void>,
    signal: AbortSignal,
  ): Promise<void> {
    const pfx = withSlash(req.name);
    const emit = async (rev: bigint, kv: KeyValue) => {
      const ok = send({ $typeName: "v3electionpb.LeaderResponse", header: this.svc.header(rev), kv });
      if (!ok) await drained();
    };
    while (!signal.aborted) {
      const r = await this.svc.range(firstCreateReq(pfx), signal);
      let kv: KeyValue;
      let rev: bigint;
      if (r.kvs.length > 0) {
        kv = r.kvs[0]!;
        rev = r.header!.revision;
      } else {
        // No leader yet: the first key put under the prefix is the leader.
        const first = await this.nextEvent(
          keyToString(pfx),
          keyToString(prefixEnd(pfx)),
          r.header!.revision,
          "put",
          signal,
        );
        if (first === null) continue;
        kv = toKeyValue(first.kv);
        rev = BigInt(first.kv.main);
      }
      await emit(rev, kv);
      // That leader's value changes until its key is deleted.
      let from = rev + 1n;
      for (;;) {
        const ev = await this.nextEvent(keyToString(kv.key), undefined, from, "any", signal);
        if (ev === null || ev.type === EventType.Delete) break;
        await emit(ev.headerRev, toKeyValue(ev.kv));
        from = BigInt(ev.kv.main) + 1n;
      }
    }
    throw signal.reason ?? abortError();
  }

  // ---- the shared steps -------------------------------------------------------------

  private async proclaimAt(
    key: Uint8Array,
    rev: bigint,
    lease: bigint,
    value: Uint8Array,
    signal: AbortSignal,
  ): Promise<ResponseHeader | undefined> {
    const resp = await this.svc.txn(
      create(TxnRequestSchema, {
        compare: [createRevisionIs(key, rev)],
        success: [putOp(key, value, lease)],
      }),
      signal,
    );
    if (!resp.succeeded) throw V3Errors.electionNotLeader();
    return resp.header;
  }

  private async resignAt(
    key: Uint8Array,
    rev: bigint,
    signal: AbortSignal,
  ): Promise<ResponseHeader | undefined> {
    const resp = await this.svc.txn(
      create(TxnRequestSchema, {
        compare: [createRevisionIs(key, rev)],
        success: [
          create(RequestOpSchema, { request: { case: "requestDeleteRange", value: deleteReq(key) } }),
        ],
      }),
      signal,
    );
    return resp.header;
  }

  /** The lease a Lock or Campaign uses: the caller's, or for 0 a fresh one (etcd's session). */
  private async sessionLease(lease: bigint, signal: AbortSignal): Promise<bigint> {
    if (lease !== 0n) return lease;
    const g = await this.svc.leaseGrant(
      create(LeaseGrantRequestSchema, { TTL: DEFAULT_SESSION_TTL }),
      signal,
    );
    return g.ID;
  }

  /**
   * Resolves once no key under `pfx` was created at or before `maxCreateRev`:
   * reads the newest such key, waits for its deletion, reads again. Returns
   * the header of the read that found none.
   */
  private async waitDeletes(
    pfx: Uint8Array,
    maxCreateRev: bigint,
    signal: AbortSignal,
  ): Promise<ResponseHeader> {
    for (;;) {
      const r = await this.svc.range(
        create(RangeRequestSchema, {
          key: pfx,
          rangeEnd: prefixEnd(pfx),
          sortTarget: RangeRequest_SortTarget.CREATE,
          sortOrder: RangeRequest_SortOrder.DESCEND,
          limit: 1n,
          maxCreateRevision: maxCreateRev,
        }),
        signal,
      );
      if (r.kvs.length === 0) return r.header!;
      await this.nextEvent(keyToString(r.kvs[0]!.key), undefined, r.header!.revision, "delete", signal);
    }
  }

  /**
   * The first event from revision `from` on (`end` as WatchOptions.end) of
   * the kind asked for, watched on this member's state machine; null when
   * history below `from` was compacted meanwhile (whatever was awaited may
   * have happened: the caller reads again).
   */
  private nextEvent(
    key: string,
    end: string | undefined,
    from: bigint,
    kind: "put" | "delete" | "any",
    signal: AbortSignal,
  ): Promise<Change | null> {
    const hub = this.svc.backend.sm.hub;
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason ?? abortError());
        return;
      }
      let w: Watcher | undefined;
      let finished = false;
      const finish = (v: Change | null) => {
        finished = true;
        if (w !== undefined) hub.cancel(w);
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      };
      const onAbort = () => {
        finished = true;
        if (w !== undefined) hub.cancel(w);
        reject(signal.reason ?? abortError());
      };
      w = hub.watch(
        { key, end, startRev: Number(from), noPut: kind === "delete", noDelete: kind === "put" },
        {
          events: (_w, evs, headerRev) => {
            if (!finished && evs.length > 0)
              finish({ type: evs[0]!.type, kv: evs[0]!.kv, headerRev: BigInt(headerRev) });
            return true;
          },
          compacted: () => {
            if (!finished) finish(null);
          },
          progress: noop,
        },
      );
      if (finished) hub.cancel(w);
      else signal.addEventListener("abort", onAbort, { once: true });
    });
  }
}

/** One change a waiter saw: the event's type, the version, and the header revision it came with. */
interface Change {
  type: 0 | 1;
  kv: KeyRev;
  headerRev: bigint;
}

function withSlash(name: Uint8Array): Uint8Array {
  const b = new Uint8Array(name.length + 1);
  b.set(name, 0);
  b[name.length] = SLASH;
  return b;
}

/** `<prefix><lease in lower-case hex>`, as clientv3's Mutex and Election name their keys. */
function keyOf(pfx: Uint8Array, lease: bigint): Uint8Array {
  const hex = new TextEncoder().encode(BigInt.asUintN(64, lease).toString(16));
  const b = new Uint8Array(pfx.length + hex.length);
  b.set(pfx, 0);
  b.set(hex, pfx.length);
  return b;
}

function createRevisionIs(key: Uint8Array, rev: bigint) {
  return create(CompareSchema, {
    key,
    target: Compare_CompareTarget.CREATE,
    result: Compare_CompareResult.EQUAL,
    targetUnion: { case: "createRevision", value: rev },
  });
}

function putOp(key: Uint8Array, value: Uint8Array, lease: bigint): RequestOp {
  return create(RequestOpSchema, { request: { case: "requestPut", value: { key, value, lease } } });
}

function getOp(key: Uint8Array): RequestOp {
  return create(RequestOpSchema, { request: { case: "requestRange", value: { key } } });
}

/** The oldest key under the prefix (clientv3's WithFirstCreate). */
function firstCreateReq(pfx: Uint8Array) {
  return create(RangeRequestSchema, {
    key: pfx,
    rangeEnd: prefixEnd(pfx),
    sortTarget: RangeRequest_SortTarget.CREATE,
    sortOrder: RangeRequest_SortOrder.ASCEND,
    limit: 1n,
  });
}

function firstCreateOp(pfx: Uint8Array): RequestOp {
  return create(RequestOpSchema, { request: { case: "requestRange", value: firstCreateReq(pfx) } });
}

function deleteReq(key: Uint8Array) {
  return create(DeleteRangeRequestSchema, { key });
}

/** The key-values of the i-th response of a Txn, which must be a Range. */
function rangeKvs(resp: TxnResponse, i: number): KeyValue[] {
  const r = resp.responses[i]?.response;
  return r?.case === "responseRange" ? r.value.kvs : [];
}

/** The leader key of a Proclaim or Resign; etcd refuses a request without one. */
function leaderOf(l: LeaderKey | undefined): LeaderKey {
  if (l === undefined) throw V3Errors.missingLeaderKey();
  return l;
}

/**
 * etcd runs these services through its own Go client, which turns every
 * gRPC error into a plain error with the same message: the caller sees
 * UNKNOWN and etcd's message ("etcdserver: requested lease not found" with
 * code UNKNOWN, not NOT_FOUND). Cancellation stays what it is.
 */
function asClientError<T>(p: Promise<T>): Promise<T> {
  return p.catch((err: unknown) => {
    const st = toStatus(err);
    if (st.code === GrpcCode.CANCELLED || st.code === GrpcCode.UNKNOWN) throw err;
    throw new V3RpcError(GrpcCode.UNKNOWN, st.message);
  });
}

function abortError(): Error {
  return new DOMException("The operation was aborted", "AbortError");
}
