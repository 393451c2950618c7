// The Node API end to end: three members in one process, each running the
// whole Ready loop (persist, send, apply committed entries and conf changes,
// advance) over an in-memory "network". test/node/cluster.test.ts drives the
// same code with a manual clock; run it yourself with
//   node --conditions=source --import tsx examples/node-cluster.ts
// (`--conditions=source` resolves the package's own "tsraft" export to src/
// without a build).
import {
  ConfChange,
  ConfChangeType,
  type ConfState,
  type Entry,
  EntryType,
  formatId,
  isEmptyHardState,
  isEmptySnap,
  MemoryStorage,
  type Message,
  MessageType,
  type Node,
  None,
  type Peer,
  SeededRandom,
  SnapshotStatus,
  seedFromId,
  startNode,
} from "tsraft";
import { decodeConfChange, decodeConfChangeV2 } from "tsraft/wire";

/** What a member's Ready loop talks to besides raft. */
export interface Member {
  node: Node;
  storage: MemoryStorage;
  /** Sends messages to their `to` members (never blocks). */
  send(msgs: readonly Message[]): void;
  /** Applies a committed normal entry to the state machine. */
  apply(entry: Entry): void;
  /** The configuration after the last applied conf change (record it in snapshots). */
  confState: ConfState | null;
}

/**
 * The Ready loop of one member; it returns when the node stops. The order
 * matters: everything raft asks to persist (snapshot, hard state, entries) is
 * written before any message leaves, because the messages may promise that
 * it is durable (a vote, an append acknowledgement). With a real disk, write
 * them with fsync when rd.mustSync is true.
 */
export async function runReadyLoop(m: Member): Promise<void> {
  const { node, storage } = m;
  for await (const rd of node.ready()) {
    // 1. Persist.
    if (!isEmptySnap(rd.snapshot)) {
      storage.applySnapshot(rd.snapshot!);
      // ...and restore the state machine from rd.snapshot.data here.
    }
    if (!isEmptyHardState(rd.hardState)) storage.setHardState(rd.hardState);
    storage.append(rd.entries);
    // 2. Send.
    m.send(rd.messages);
    // 3. Apply, in log order; conf changes go back to raft.
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.EntryNormal) {
        // Empty entries are the no-ops a new leader appends.
        if (e.data.length > 0) m.apply(e);
      } else {
        const cc =
          e.type === EntryType.EntryConfChange ? decodeConfChange(e.data) : decodeConfChangeV2(e.data);
        m.confState = node.applyConfChange(cc);
      }
    }
    // 4. Tell raft this Ready is done; the next one follows.
    node.advance();
  }
}

const ignore = () => {};

/** Three (or more) Node members over an in-memory network that can be partitioned. */
export class InProcessCluster {
  readonly members = new Map<bigint, Member & { applied: string[]; loop: Promise<void> }>();
  /** Members cut off from everyone else. */
  readonly isolated = new Set<bigint>();
  private readonly decoder = new TextDecoder();

  constructor(ids: bigint[], opts: { checkQuorum?: boolean; preVote?: boolean } = {}) {
    const peers: Peer[] = ids.map((id) => ({ id }));
    for (const id of ids) this.add(id, peers, opts);
  }

  /** Starts member `id`; `peers` empty for a member joining an existing cluster. */
  add(id: bigint, peers: Peer[], opts: { checkQuorum?: boolean; preVote?: boolean } = {}): void {
    const storage = new MemoryStorage();
    const node = startNode(
      {
        id,
        electionTick: 10,
        heartbeatTick: 1,
        storage,
        checkQuorum: opts.checkQuorum ?? false,
        preVote: opts.preVote ?? false,
        random: new SeededRandom(seedFromId(id)),
        logger: quietLogger,
      },
      peers,
    );
    const member = {
      node,
      storage,
      confState: null,
      applied: [] as string[],
      send: (msgs: readonly Message[]) => this.deliver(id, msgs),
      apply: (e: Entry) => member.applied.push(this.decoder.decode(e.data)),
      loop: Promise.resolve(),
    };
    member.loop = runReadyLoop(member);
    this.members.set(id, member);
  }

  private deliver(from: bigint, msgs: readonly Message[]): void {
    for (const m of msgs) {
      const to = this.members.get(m.to);
      const cut = this.isolated.has(from) || this.isolated.has(m.to);
      if (to === undefined || cut) {
        this.members.get(from)?.node.reportUnreachable(m.to);
        continue;
      }
      // A real transport would ignore or log failures (the peer may be stopped).
      to.node.step(m).catch(ignore);
      if (m.type === MessageType.MsgSnap)
        this.members.get(from)?.node.reportSnapshot(m.to, SnapshotStatus.SnapshotFinish);
    }
  }

  tickAll(): void {
    for (const m of this.members.values()) m.node.tick();
  }

  /** The member every non-isolated member agrees is leader, or None (0n). */
  leader(): bigint {
    let lead: bigint | null = null;
    for (const [id, m] of this.members) {
      if (this.isolated.has(id)) continue;
      const l = m.node.status().softState.lead;
      if (lead === null) lead = l;
      else if (lead !== l) return None;
    }
    return lead ?? None;
  }

  async stop(): Promise<void> {
    for (const m of this.members.values()) await m.node.stop();
    await Promise.all([...this.members.values()].map((m) => m.loop));
  }
}

const quietLogger = {
  debug: ignore,
  info: ignore,
  warning: ignore,
  error: ignore,
  fatal: (msg: string): never => {
    throw new Error(msg);
  },
  panic: (msg: string): never => {
    throw new Error(msg);
  },
};

/** Lets every queued turn, Ready and delivery run (one trip around the event loop). */
export function flush(): Promise<void> {
  // setImmediate in Node; browsers only have setTimeout.
  const later: (f: () => void) => unknown = globalThis.setImmediate ?? ((f) => setTimeout(f, 0));
  return new Promise((resolve) => later(resolve));
}

/** Ticks the cluster (and lets it work) until `done()` or `maxTicks`; returns whether it got there. */
export async function tickUntil(c: InProcessCluster, done: () => boolean, maxTicks = 500): Promise<boolean> {
  for (let i = 0; i < maxTicks; i++) {
    if (done()) return true;
    c.tickAll();
    await flush();
  }
  return done();
}

export async function main(): Promise<void> {
  const enc = new TextEncoder();
  const c = new InProcessCluster([1n, 2n, 3n]);
  if (!(await tickUntil(c, () => c.leader() !== None))) throw new Error("no leader elected");
  const lead = c.leader();
  // IDs print in hex, as etcd prints member IDs.
  console.log(`member ${formatId(lead)} is leader`);
  const leader = c.members.get(lead)!.node;
  for (const word of ["alpha", "bravo", "charlie"]) await leader.propose(enc.encode(word));
  // Grow the cluster: member 4 starts empty and catches up from the leader.
  c.add(4n, []);
  await leader.proposeConfChange(new ConfChange(ConfChangeType.ConfChangeAddNode, 4n));
  await leader.propose(enc.encode("delta"));
  const all = () => [...c.members.values()].every((m) => m.applied.length === 4);
  if (!(await tickUntil(c, all))) throw new Error("not every member applied everything");
  for (const [id, m] of c.members) {
    const voters = m.confState?.voters.map(formatId).join(",") ?? "-";
    console.log(`member ${formatId(id)}: applied [${m.applied.join(", ")}], voters ${voters}`);
  }
  await c.stop();
}

// Run when started directly with node (the browser test imports main instead).
if (typeof process !== "undefined" && import.meta.url === `file://${process.argv[1]}`) await main();
