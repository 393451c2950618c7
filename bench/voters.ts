// The RawNode3Voters workload of shared/anchors/PERF.md, exactly: three
// RawNode voters in one thread, each with a MemoryStorage starting from a
// snapshot at (index 1, term 1) naming all three; ElectionTick=10,
// HeartbeatTick=1, MaxSizePerMsg unlimited, MaxInflightMsgs=256, logging
// discarded. Node 1 campaigns and the cluster is stabilized; then each
// iteration proposes BATCH entries of SIZE bytes on node 1 and stabilizes.
import {
  CompactMemoryStorage,
  type Config,
  ConfState,
  discardLogger,
  MemoryStorage,
  type Message,
  RawNode,
  Snapshot,
  SnapshotMetadata,
} from "../src/index.ts";

/** MemoryStorage or CompactMemoryStorage. */
export type MemStorage = MemoryStorage | CompactMemoryStorage;

/** A MemoryStorage starting from a snapshot at (index, term) whose configuration names `voters`. */
export function snapshotStorage(voters: bigint[], index = 1, term = 1, compact = false): MemStorage {
  const s = compact ? new CompactMemoryStorage() : new MemoryStorage();
  s.applySnapshot(
    new Snapshot(new Uint8Array(), new SnapshotMetadata(new ConfState(voters.slice()), index, term)),
  );
  return s;
}

/** The benchmarks' raft configuration: ElectionTick=10, HeartbeatTick=1, no message size limit, 256 in flight. */
export function benchConfig(id: bigint, storage: MemStorage, extra: Partial<Config> = {}): Config {
  return {
    id,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    maxSizePerMsg: Number.POSITIVE_INFINITY,
    maxInflightMsgs: 256,
    logger: discardLogger,
    ...extra,
  };
}

export class Voters {
  readonly nodes: RawNode[] = [];
  readonly storages: MemStorage[] = [];
  /** Last committed index seen in a Ready, per node. */
  readonly applied: number[] = [];
  private readonly msgs: Message[] = [];

  /** `compact`: CompactMemoryStorage instead of MemoryStorage (not the PERF.md workload). */
  constructor(n = 3, compact = false) {
    const ids = Array.from({ length: n }, (_, i) => BigInt(i + 1));
    for (const id of ids) {
      const s = snapshotStorage(ids, 1, 1, compact);
      this.storages.push(s);
      this.nodes.push(new RawNode(benchConfig(id, s)));
      this.applied.push(0);
    }
    this.nodes[0]!.campaign();
    this.stabilize();
  }

  /**
   * One pass per round over the nodes that have a Ready: persist, note the
   * last committed index, collect messages, advance; then deliver every
   * collected message. Stops after a round that produced no messages.
   */
  stabilize(): void {
    const nodes = this.nodes;
    const msgs = this.msgs;
    for (;;) {
      for (let i = 0; i < nodes.length; i++) {
        const rn = nodes[i]!;
        if (!rn.hasReady()) continue;
        const rd = rn.ready();
        const s = this.storages[i]!;
        const hs = rd.hardState;
        if (hs.term !== 0 || hs.vote !== 0n || hs.commit !== 0) s.setHardState(hs);
        s.append(rd.entries);
        const ce = rd.committedEntries;
        if (ce.length > 0) this.applied[i] = ce[ce.length - 1]!.index;
        const ms = rd.messages;
        for (let j = 0; j < ms.length; j++) msgs.push(ms[j]!);
        rn.advance(rd);
      }
      if (msgs.length === 0) return;
      for (let j = 0; j < msgs.length; j++) {
        const m = msgs[j]!;
        // Node i has ID i + 1 (a small bigint: Number() is exact and allocates nothing).
        nodes[Number(m.to) - 1]!.step(m);
      }
      msgs.length = 0;
    }
  }

  /** Proposes `batch` entries carrying `data` on node 1, then stabilizes. */
  round(data: Uint8Array, batch: number): void {
    const leader = this.nodes[0]!;
    for (let i = 0; i < batch; i++) leader.propose(data);
    this.stabilize();
  }

  /** Throws unless every node applied everything up to node 1's last index. */
  check(): void {
    const last = this.nodes[0]!.raft.raftLog.lastIndex();
    for (let i = 0; i < this.nodes.length; i++) {
      if (this.applied[i] !== last) throw new Error(`node ${i + 1} applied ${this.applied[i]} of ${last}`);
    }
  }
}
