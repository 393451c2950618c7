// Bookkeeping for ReadIndex requests awaiting a quorum of heartbeat acks
// (ReadOnlySafe).
//
// ReadIndex serves linearizable reads without writing to the log. The leader
// answers a read with an index: once the application has applied up to that
// index, it may read its state machine and the result reflects every write
// that completed before the read started. Two things must hold for that:
//
// 1. The index must cover every committed write. A leader's commit index is
//    only known to be complete once an entry of its own term is committed:
//    a fresh leader holds every committed entry (Leader Completeness) but
//    may not yet know which of them are committed (its predecessor may have
//    committed more than it told anyone). The empty entry each leader
//    appends on election settles that; until it commits, raft.ts queues
//    read requests (pendingReadIndexMessages) and answers them after the
//    first commit of the term.
// 2. The node must still be the leader when the request arrived: a leader
//    cut off from the others may have been replaced, and the new leader may
//    have committed writes it does not know about. With ReadOnlySafe the
//    leader proves it with a round of heartbeats carrying the request's
//    context, sent after the request arrived. Once a quorum acknowledged
//    that round, no leader of a later term was elected before the
//    acknowledgements: it would have needed the votes of a quorum, and one
//    member of that quorum acknowledged us afterwards, which a member that
//    has moved to a later term never does. So no write committed elsewhere
//    before the request arrived, and the commit index recorded with the
//    request was complete.
//    ReadOnlyLeaseBased skips the round and trusts that no one else can be
//    elected within an election timeout of the last quorum contact (needs
//    CheckQuorum and bounded clock drift; see docs/leases.md, and lease.ts
//    for the strict variant).
//
// This file keeps the requests of the second kind between the heartbeat
// round and the quorum of acks. Acks for a later request also confirm every
// earlier one (the later round went out after the earlier requests arrived),
// so requests are released in arrival order up to the acknowledged one.

import type { Message } from "../raftpb/index.ts";
import { RaftPanicError } from "./logger.ts";

/** How the leader confirms it is still the leader before answering a read (see above). */
export const ReadOnlyOption = { ReadOnlySafe: 0, ReadOnlyLeaseBased: 1 } as const;
export type ReadOnlyOption = (typeof ReadOnlyOption)[keyof typeof ReadOnlyOption];

/** The answer to a read request: reads at `index` or later are linearizable. */
export class ReadState {
  index: number;
  requestCtx: Uint8Array;
  constructor(index: number, requestCtx: Uint8Array) {
    this.index = index;
    this.requestCtx = requestCtx;
  }
}

/** A read request waiting for its heartbeat round to be acknowledged by a quorum. */
export class ReadIndexStatus {
  /** The MsgReadIndex as received (from a follower, or local with from = None or our ID). */
  req: Message;
  /** The leader's commit index when the request arrived: the index the reader must wait for. */
  index: number;
  /** The voters that acknowledged the round (the leader counts itself at once). */
  acks = new Map<bigint, boolean>();
  constructor(req: Message, index: number) {
    this.req = req;
    this.index = index;
  }
}

/**
 * A map key for a request context (its bytes as a binary string). Contexts
 * identify requests: two requests with the same context are the same read
 * (the second is ignored while the first is pending), as in etcd.
 */
export function ctxKey(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
  return s;
}

/**
 * The pending ReadOnlySafe requests of a leader. Invariant: `queue` holds the
 * keys of `pending`, each once, in arrival order. A new leader starts with an
 * empty one (raft.ts builds it in reset()).
 */
export class ReadOnly {
  readonly option: ReadOnlyOption;
  private pending = new Map<string, ReadIndexStatus>();
  private queue: string[] = [];

  constructor(option: ReadOnlyOption) {
    this.option = option;
  }

  /** Queues a read request (m.entries[0].data is its context) at the given commit index. */
  addRequest(index: number, m: Message): void {
    const k = ctxKey(m.entries[0]!.data);
    if (this.pending.has(k)) return;
    this.pending.set(k, new ReadIndexStatus(m, index));
    this.queue.push(k);
  }

  /**
   * Records a heartbeat ack for the request with this context; returns its
   * acks so far (empty for an unknown or already released context: a late or
   * duplicate ack). The caller decides with the voters' quorum rule.
   */
  recvAck(id: bigint, context: Uint8Array): Map<bigint, boolean> {
    const rs = this.pending.get(ctxKey(context));
    if (rs === undefined) return new Map();
    rs.acks.set(id, true);
    return rs.acks;
  }

  /**
   * Dequeues every request up to and including the one whose context `m`
   * carries, and returns them oldest first; nothing if that context is not
   * pending. Earlier requests are released with it because the round that
   * confirmed it was sent after they arrived.
   */
  advance(m: Message): ReadIndexStatus[] {
    const ctx = ctxKey(m.context);
    const rss: ReadIndexStatus[] = [];
    let i = 0;
    let found = false;
    for (const k of this.queue) {
      i++;
      const rs = this.pending.get(k);
      if (rs === undefined) throw new RaftPanicError("cannot find corresponding read state from pending map");
      rss.push(rs);
      if (k === ctx) {
        found = true;
        break;
      }
    }
    if (!found) return [];
    this.queue = this.queue.slice(i);
    for (const rs of rss) this.pending.delete(ctxKey(rs.req.entries[0]!.data));
    return rss;
  }

  /** The context of the newest pending request, or null. */
  lastPendingRequestCtx(): Uint8Array | null {
    if (this.queue.length === 0) return null;
    return this.pending.get(this.queue[this.queue.length - 1]!)!.req.entries[0]!.data;
  }

  pendingCount(): number {
    return this.queue.length;
  }
}
