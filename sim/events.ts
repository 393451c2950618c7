// The simulator's events. Everything that happens in a run is one Ev popped
// from the EventHeap in (time, seq) order: a node's tick, its Ready being
// taken or persisted, a storage thread finishing, a message arriving, a
// client or fault operation, a phase change. Invariants:
//   - seq is unique and increasing in scheduling order, so events at equal
//     times run in the order they were scheduled (no tie is left to chance);
//   - an event for a node carries the node's incarnation (inc) when it was
//     scheduled; after a crash the node's inc moves on and the event is void
//     (Cluster.alive), exactly as a real crash loses timers and in-flight work.
// Ev is one monomorphic class for every kind; the fields a kind does not use
// keep their defaults.

import type { Timed } from "./heap.ts";
import type { SimNode } from "./node.ts";

export const EV_TICK = 0;
export const EV_READY = 1;
export const EV_PERSIST = 2;
export const EV_APPEND = 3;
export const EV_APPLY = 4;
export const EV_DELIVER = 5;
export const EV_CLIENT = 6;
export const EV_FAULT = 7;
export const EV_HEAL = 8;
export const EV_CHAOS = 9;
export const EV_PROBE = 10;
export const EV_DEADLINE = 11;
export const EV_RESTART = 12;
export const EV_SNAPSTATUS = 13;
export const EV_UNREACHABLE = 14;

/** One scheduled event; `kind` is one of the EV_* constants. */
export class Ev implements Timed {
  time = 0;
  seq = 0;
  kind = 0;
  /** The node the event belongs to (for EV_DELIVER: the sender). */
  node: SimNode | null = null;
  /** The node's incarnation when scheduled. */
  inc = 0;
  /** EV_DELIVER: the encoded message, and its link and type. */
  bytes: Uint8Array | null = null;
  from = 0n;
  to = 0n;
  mtype = 0;
  /** EV_DELIVER: the send sequence number; EV_PROBE/EV_DEADLINE: the heal epoch; EV_SNAPSTATUS: 1 finish, 0 failure. */
  num = 0;
}
