// The watcher hub (spec §3.8), after etcd's watchableStore.
//
// A watcher wants every change to its key range from `nextRev` on. It is
// either *synced* (nextRev = current + 1, or a future start revision): the
// hub hands it each write transaction's events as the transaction commits;
// or *unsynced*: it is replaying history from the store's revision log in
// batches of at most 1000 revisions (etcd's watchBatchMaxRevs), until it
// catches up and becomes synced. A consumer that cannot take more (a slow
// gRPC stream) returns false from its sink: the watcher is *paused*, misses
// nothing (history stays in the revision log until compaction) and resumes
// replaying when the consumer calls resume(). A watcher that needs history
// older than the compaction revision gets one compacted notice and is removed.
//
// Invariants: events reach a watcher in revision order, then sub-revision
// order, never twice, never skipped while it lives; nothing is delivered
// before the hub returns from watch() (catch-up is scheduled), so the
// caller can send its "created" reply first.

import type { KeyRev } from "./key_index.ts";
import type { MvccStore } from "./store.ts";

/** etcd's cap on revisions per catch-up response. */
export const WATCH_BATCH_MAX_REVS = 1000;
/** Revisions replayed per scheduled catch-up step before yielding to the event loop. */
const CATCHUP_BUDGET_REVS = 10_000;

/** mvccpb.Event.EventType numbers. */
export const EventType = { Put: 0, Delete: 1 } as const;

/** One change delivered to a watcher. */
export interface WatchEvent {
  /** EventType.Put or EventType.Delete. */
  readonly type: 0 | 1;
  /** The new version (PUT) or the tombstone (DELETE: key and revision only). */
  readonly kv: KeyRev;
  /** The version before the event, when the watcher asked for prev_kv and it is still held. */
  readonly prev: KeyRev | undefined;
}

/** Where a watcher's events go (the gRPC Watch stream implements it). */
export interface WatchSink {
  /**
   * Events for watcher w, all at revisions >= w's previous delivery.
   * `headerRev` is what etcd puts in the response header: the events'
   * revision when live, the current revision when replaying. Return false
   * to pause the watcher until resume().
   */
  events(w: Watcher, events: WatchEvent[], headerRev: number): boolean;
  /** w needed history below the compaction revision; it has been removed. */
  compacted(w: Watcher, compactRev: number): void;
  /** Progress notification: w is caught up at `rev` (spec: progress_notify). */
  progress(w: Watcher, rev: number): void;
}

/** What to watch and how (etcd's WatchCreateRequest, keys as binary strings). */
export interface WatchOptions {
  /** First key (binary string). */
  key: string;
  /** undefined = single key, null = no upper bound, else exclusive end. */
  end: string | null | undefined;
  /** First revision wanted; 0 = after the current revision. */
  startRev: number;
  /** Deliver the previous version with each event (when still held). */
  prevKv?: boolean;
  /** Filter out PUT events. */
  noPut?: boolean;
  /** Filter out DELETE events. */
  noDelete?: boolean;
  /** Send progress notifications while idle. */
  progressNotify?: boolean;
}

/** One watcher registered in a WatcherHub (created by WatcherHub.watch). */
export class Watcher {
  /** The next revision this watcher needs. */
  nextRev: number;
  /** Caught up: it gets live events; otherwise history is being replayed to it. */
  synced = false;
  /** Its sink asked for a pause (events returned false); resume() lifts it. */
  paused = false;
  /** Cancelled or compacted away; it gets nothing more. */
  removed = false;
  /** An event went out since the last progress tick. */
  sentSinceTick = false;
  /** Free for the consumer (e.g. the stream's watch ID). */
  id = 0n;
  constructor(
    readonly key: string,
    readonly end: string | null | undefined,
    startRev: number,
    readonly prevKv: boolean,
    readonly noPut: boolean,
    readonly noDelete: boolean,
    readonly progressNotify: boolean,
    readonly sink: WatchSink,
  ) {
    this.nextRev = startRev;
  }

  /** Whether key `k` (binary string) is in the watched key or range. */
  contains(k: string): boolean {
    if (this.end === undefined) return k === this.key;
    return k >= this.key && (this.end === null || k < this.end);
  }
}

/** Runs `fn` later (not synchronously): how the hub schedules history replay. */
export type Scheduler = (fn: () => void) => void;

/**
 * etcd's watchable store: delivers every committed change to the watchers
 * whose key or range it touches, in revision order, replaying history to
 * watchers that start in the past (in scheduled steps) before they get live
 * events.
 */
export class WatcherHub {
  /** Synced single-key watchers by key, and synced range watchers. */
  private readonly byKey = new Map<string, Set<Watcher>>();
  private readonly ranged = new Set<Watcher>();
  private readonly unsynced = new Set<Watcher>();
  private scheduled = false;
  private readonly schedule: Scheduler;

  constructor(
    private readonly store: MvccStore,
    schedule?: Scheduler,
  ) {
    this.schedule = schedule ?? ((fn) => setTimeout(fn, 0));
    store.onChange((rev, changes) => this.notify(rev, changes));
  }

  /** Watchers registered (synced or not). */
  get watcherCount(): number {
    let n = this.ranged.size + this.unsynced.size;
    for (const s of this.byKey.values()) n += s.size;
    return n;
  }

  /** Registers a watcher; a start revision at or below the current one replays history first. */
  watch(opts: WatchOptions, sink: WatchSink): Watcher {
    const cur = this.store.rev;
    const start = opts.startRev > 0 ? opts.startRev : cur + 1;
    const w = new Watcher(
      opts.key,
      opts.end,
      start,
      opts.prevKv ?? false,
      opts.noPut ?? false,
      opts.noDelete ?? false,
      opts.progressNotify ?? false,
      sink,
    );
    if (start > cur) this.addSynced(w);
    else this.addUnsynced(w);
    return w;
  }

  /** Removes a watcher (idempotent); it gets nothing more. */
  cancel(w: Watcher): void {
    if (w.removed) return;
    w.removed = true;
    if (w.synced) this.removeSynced(w);
    else this.unsynced.delete(w);
  }

  /** The consumer of a paused watcher can take more again. */
  resume(w: Watcher): void {
    if (w.removed || !w.paused) return;
    w.paused = false;
    this.kick();
  }

  /**
   * Progress notifications: every synced, unpaused watcher that asked for
   * them and got no event since the previous call hears the current
   * revision. The caller drives the interval (etcd: 10 min by default).
   */
  progressTick(): void {
    const rev = this.store.rev;
    const visit = (w: Watcher) => {
      if (!w.progressNotify || w.paused) return;
      if (!w.sentSinceTick) w.sink.progress(w, rev);
      w.sentSinceTick = false;
    };
    for (const s of this.byKey.values()) for (const w of s) visit(w);
    for (const w of this.ranged) visit(w);
  }

  /**
   * The store's state was replaced (snapshot restore): every synced watcher
   * re-checks against the new history (replaying what it missed, or hearing
   * that the history it needs is compacted).
   */
  afterRestore(): void {
    const all: Watcher[] = [...this.ranged];
    for (const s of this.byKey.values()) all.push(...s);
    for (const w of all) {
      if (w.nextRev > this.store.rev + 1) continue; // still waiting for a future revision
      this.removeSynced(w);
      this.unsynced.add(w);
    }
    this.kick();
  }

  /** True when every given watcher is synced (etcd 3.4.25+ defers progress requests until then). */
  allSynced(ws: Iterable<Watcher>): boolean {
    for (const w of ws) if (!w.removed && !w.synced) return false;
    return true;
  }

  private addSynced(w: Watcher): void {
    w.synced = true;
    if (w.end === undefined) {
      let s = this.byKey.get(w.key);
      if (s === undefined) this.byKey.set(w.key, (s = new Set()));
      s.add(w);
    } else this.ranged.add(w);
  }

  private removeSynced(w: Watcher): void {
    w.synced = false;
    if (w.end === undefined) {
      const s = this.byKey.get(w.key);
      if (s !== undefined) {
        s.delete(w);
        if (s.size === 0) this.byKey.delete(w.key);
      }
    } else this.ranged.delete(w);
  }

  private addUnsynced(w: Watcher): void {
    w.synced = false;
    this.unsynced.add(w);
    this.kick();
  }

  private kick(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(() => {
      this.scheduled = false;
      this.catchUp();
    });
  }

  private toEvent(w: Watcher, kr: KeyRev): WatchEvent | undefined {
    if (kr.tombstone ? w.noDelete : w.noPut) return undefined;
    let prev: KeyRev | undefined;
    // A creation has no previous version (etcd's IsCreateEvent); otherwise
    // the version live at rev-1, unless that revision is compacted.
    if (w.prevKv && (kr.tombstone || kr.createRevision !== kr.main))
      prev = this.store.versionBefore(kr.key, kr.main);
    return { type: kr.tombstone ? 1 : 0, kv: kr, prev };
  }

  /** A write transaction committed at `rev`: live delivery to synced watchers. */
  private notify(rev: number, changes: readonly KeyRev[]): void {
    let perWatcher: Map<Watcher, WatchEvent[]> | undefined;
    const add = (w: Watcher, kr: KeyRev) => {
      if (w.paused || w.removed || rev < w.nextRev) return;
      const ev = this.toEvent(w, kr);
      if (ev === undefined) return;
      perWatcher ??= new Map();
      let evs = perWatcher.get(w);
      if (evs === undefined) perWatcher.set(w, (evs = []));
      evs.push(ev);
    };
    for (const kr of changes) {
      const s = this.byKey.get(kr.key);
      if (s !== undefined) for (const w of s) add(w, kr);
      if (this.ranged.size > 0) for (const w of this.ranged) if (w.contains(kr.key)) add(w, kr);
    }
    // Watchers with nothing to deliver (filtered out, or not in range) still move past this revision.
    if (perWatcher !== undefined) {
      for (const [w, evs] of perWatcher) {
        if (w.removed) continue;
        w.nextRev = rev + 1;
        w.sentSinceTick = true;
        if (!w.sink.events(w, evs, rev)) this.pause(w);
      }
    }
  }

  private pause(w: Watcher): void {
    if (w.removed) return;
    w.paused = true;
    if (w.synced) {
      this.removeSynced(w);
      this.unsynced.add(w);
    }
  }

  /** Replays history to unsynced watchers, in bounded steps. */
  private catchUp(): void {
    let budget = CATCHUP_BUDGET_REVS;
    for (const w of [...this.unsynced]) {
      if (budget <= 0) break;
      if (w.removed || w.paused) continue;
      budget -= this.catchUpOne(w, budget);
    }
    for (const w of this.unsynced) {
      if (!w.paused && !w.removed) {
        this.kick();
        break;
      }
    }
  }

  /** Returns the number of revisions it replayed. */
  private catchUpOne(w: Watcher, budget: number): number {
    const store = this.store;
    if (w.nextRev < store.compactRev) {
      this.unsynced.delete(w);
      w.removed = true;
      w.sink.compacted(w, store.compactRev);
      return 1;
    }
    // Revisions below the log's start that are not compacted hold no changes
    // (revision 1 is the empty store): start replaying at the log's start.
    if (w.nextRev < store.logStart) w.nextRev = store.logStart;
    let done = 0;
    while (done < budget && !w.paused && !w.removed) {
      const cur = store.rev;
      if (w.nextRev > cur) {
        this.unsynced.delete(w);
        this.addSynced(w);
        return done;
      }
      const to = Math.min(cur, w.nextRev + WATCH_BATCH_MAX_REVS - 1);
      const evs: WatchEvent[] = [];
      store.changesBetween(w.nextRev, to, (_rev, changes) => {
        for (const kr of changes) {
          if (!w.contains(kr.key)) continue;
          const ev = this.toEvent(w, kr);
          if (ev !== undefined) evs.push(ev);
        }
      });
      done += to - w.nextRev + 1;
      w.nextRev = to + 1;
      if (evs.length > 0) {
        w.sentSinceTick = true;
        if (!w.sink.events(w, evs, cur)) w.paused = true;
      }
    }
    return done;
  }
}
