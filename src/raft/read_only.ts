// Bookkeeping for ReadIndex requests awaiting a quorum of heartbeat acks
// (ReadOnlySafe).

import type { Message } from "../raftpb/index.ts";
import { RaftPanicError } from "./logger.ts";

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

export class ReadIndexStatus {
  req: Message;
  index: number;
  acks = new Map<bigint, boolean>();
  constructor(req: Message, index: number) {
    this.req = req;
    this.index = index;
  }
}

/** A map key for a request context (its bytes as a binary string). */
export function ctxKey(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
  return s;
}

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

  /** Records a heartbeat ack for the request with this context; returns its acks so far. */
  recvAck(id: bigint, context: Uint8Array): Map<bigint, boolean> {
    const rs = this.pending.get(ctxKey(context));
    if (rs === undefined) return new Map();
    rs.acks.set(id, true);
    return rs.acks;
  }

  /** Dequeues every request up to and including the one whose context `m` carries. */
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
