// Shared helpers of the Node tests: storages, a Ready reader that does not
// block the test forever, and a way to let the node's loop run without time.
import {
  type Config,
  ConfState,
  discardLogger,
  MemoryStorage,
  type Node,
  type Ready,
  SeededRandom,
  Snapshot,
  SnapshotMetadata,
  seedFromId,
} from "../../src/index.ts";

/** A MemoryStorage whose configuration names `voters` (at index 0, like etcd's withPeers). */
export function storageWithPeers(...voters: bigint[]): MemoryStorage {
  const s = new MemoryStorage();
  s.applySnapshot(new Snapshot(new Uint8Array(), new SnapshotMetadata(new ConfState(voters), 0, 0)));
  return s;
}

export function testConfig(id: bigint, storage: MemoryStorage, extra: Partial<Config> = {}): Config {
  return {
    id,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    maxSizePerMsg: Number.POSITIVE_INFINITY,
    maxInflightMsgs: 256,
    logger: discardLogger,
    random: new SeededRandom(seedFromId(id)),
    ...extra,
  };
}

/** One trip around the event loop: every microtask turn of the node has run. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Reads Readys one at a time from a node (one iterator for the node's lifetime). */
export class Reader {
  private readonly it: AsyncIterator<Ready>;
  constructor(node: Node) {
    this.it = node.ready()[Symbol.asyncIterator]();
  }
  /** The next Ready; throws if none arrives within `rounds` trips around the event loop. */
  async next(rounds = 50): Promise<Ready> {
    const p = this.it.next();
    let got: IteratorResult<Ready> | null = null;
    void p.then((r) => {
      got = r;
    });
    for (let i = 0; i < rounds && got === null; i++) await flush();
    if (got === null) throw new Error("no Ready");
    const r = got as IteratorResult<Ready>;
    if (r.done) throw new Error("ready() ended");
    return r.value;
  }
  /**
   * True if a Ready is available now. A pending read is left behind when
   * there is none; it ends when the node stops.
   */
  async hasReady(): Promise<boolean> {
    let got = false;
    void this.it.next().then(() => {
      got = true;
    });
    await flush();
    await flush();
    return got;
  }
}

/** Whether a promise has settled after the loop ran: "resolved", "rejected" or "pending". */
export async function state(p: Promise<unknown>): Promise<"resolved" | "rejected" | "pending"> {
  let s: "resolved" | "rejected" | "pending" = "pending";
  p.then(
    () => {
      s = "resolved";
    },
    () => {
      s = "rejected";
    },
  );
  await flush();
  return s;
}

/** Handles a Ready the simplest way: persist into storage, then advance. */
export function persist(storage: MemoryStorage, rd: Ready): void {
  if (rd.hardState.term !== 0 || rd.hardState.vote !== 0n || rd.hardState.commit !== 0)
    storage.setHardState(rd.hardState);
  if (rd.snapshot !== null && rd.snapshot.metadata.index !== 0) storage.applySnapshot(rd.snapshot);
  storage.append(rd.entries);
}

/** Records unhandled rejections during a test file. */
export function watchUnhandled(): unknown[] {
  const seen: unknown[] = [];
  process.on("unhandledRejection", (err) => seen.push(err));
  return seen;
}
