// On-disk state machines (StateMachine.persistedIndex, dragonboat's
// IOnDiskStateMachine): the state machine persists itself, so the host must
// not hand it a command it has already persisted (after a restart raft
// replays the log from the last snapshot, which is older), must not write a
// state image on local snapshots, and must still send and restore images
// when a follower needs a snapshot.
import assert from "node:assert/strict";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { json } from "node:stream/consumers";
import { test } from "node:test";
import { type AppliedCommand, Host, type HostConfig, type StateMachine } from "../../src/host/index.ts";
import { freePort, waitFor } from "../kv/support/cluster.ts";
import { fastTiming } from "./support.ts";

interface Image {
  count: number;
  sum: number;
  index: number;
}

/**
 * Counts commands (each a 4-byte command ID) and sums their IDs. Writes its
 * state and the index of the last command it applied to a file after every
 * apply batch (write + rename; no fsync: the tests stop members gracefully).
 * `seen` outlives the instance: it records every command ID that any
 * incarnation of this member was handed by apply.
 */
class DiskCounter implements StateMachine<number, "get", Image> {
  state: Image = { count: 0, sum: 0, index: 0 };
  /** Indexes of the commands this incarnation was handed. */
  readonly appliedIndexes: number[] = [];
  restores = 0;
  /** The persisted index found at construction (0 for a fresh member). */
  readonly loadedIndex: number;

  constructor(
    readonly file: string,
    readonly seen: number[],
  ) {
    if (existsSync(file)) this.state = JSON.parse(readFileSync(file, "utf8")) as Image;
    this.loadedIndex = this.state.index;
  }

  apply(cmds: readonly AppliedCommand[]): number[] {
    const out = cmds.map((c) => {
      const id = new DataView(c.data.buffer, c.data.byteOffset, 4).getUint32(0, true);
      this.seen.push(id);
      this.appliedIndexes.push(c.index);
      this.state = { count: this.state.count + 1, sum: this.state.sum + id, index: c.index };
      return this.state.count;
    });
    this.persist();
    return out;
  }

  persistedIndex(): number {
    return this.state.index;
  }

  snapshot(): AsyncIterable<Uint8Array> {
    return Readable.from([Buffer.from(JSON.stringify(this.state))]);
  }

  async restore(image: AsyncIterable<Uint8Array>): Promise<void> {
    this.state = (await json(image)) as Image;
    this.restores++;
    this.persist();
  }

  query(): Image {
    return this.state;
  }

  private persist(): void {
    writeFileSync(`${this.file}.tmp`, JSON.stringify(this.state));
    renameSync(`${this.file}.tmp`, this.file);
  }
}

function cmd(id: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, id, true);
  return b;
}

type H = Host<number, "get", Image>;

interface DiskCluster {
  dir: string;
  hosts: H[];
  sms: DiskCounter[];
  seen: number[][];
  configs: Array<HostConfig<number, "get", Image>>;
  leader(): Promise<H>;
  /** Starts member i again (after stop) with a new state machine instance on the same file. */
  restart(i: number): Promise<void>;
  close(): Promise<void>;
}

async function startDiskCluster(n: number, snapshot: { count: number; catchUpEntries: number }) {
  const dir = mkdtempSync(join(tmpdir(), "tsraft-host-ondisk-"));
  const ports = await Promise.all(Array.from({ length: n }, () => freePort()));
  const initialCluster = ports.map((p, i) => ({ name: `m${i + 1}`, peerURLs: [`http://127.0.0.1:${p}`] }));
  const seen = initialCluster.map(() => [] as number[]);
  const smFile = (i: number) => join(dir, `sm-m${i + 1}.json`);
  const sms = initialCluster.map((_, i) => new DiskCounter(smFile(i), seen[i]!));
  const configs = initialCluster.map((m, i) => ({
    name: m.name,
    dataDir: join(dir, m.name),
    stateMachine: sms[i]!,
    initialCluster,
    listenPeerURL: m.peerURLs[0]!,
    unsafeNoFsync: true,
    snapshot,
    ...fastTiming,
  }));
  const hosts = configs.map((cfg) => new Host(cfg));
  await Promise.all(hosts.map((h) => h.start()));
  const c: DiskCluster = {
    dir,
    hosts,
    sms,
    seen,
    configs,
    leader: () =>
      waitFor("a leader", async () => c.hosts.find((h) => h.leader() === h.id && h.leader() !== 0n)),
    restart: async (i) => {
      const sm = new DiskCounter(smFile(i), seen[i]!);
      c.sms[i] = sm;
      c.configs[i] = { ...c.configs[i]!, stateMachine: sm };
      c.hosts[i] = new Host(c.configs[i]!);
      await c.hosts[i]!.start();
    },
    close: async () => {
      await Promise.all(c.hosts.map((h) => h.stop(0)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return c;
}

function snapFiles(c: DiskCluster, i: number): { snaps: string[]; images: string[] } {
  const names = readdirSync(join(c.configs[i]!.dataDir, "member", "snap"));
  return {
    snaps: names.filter((f) => f.endsWith(".snap")),
    images: names.filter((f) => f.endsWith(".snap.db")),
  };
}

function duplicates(ids: readonly number[]): number[] {
  const once = new Set<number>();
  const twice: number[] = [];
  for (const id of ids) {
    if (once.has(id)) twice.push(id);
    once.add(id);
  }
  return twice;
}

/** Proposes commands from..to (inclusive) on `h`, `batch` at a time. */
async function proposeRange(h: H, from: number, to: number, batch = 10): Promise<void> {
  for (let id = from; id <= to; id += batch) {
    const ids = Array.from({ length: Math.min(batch, to - id + 1) }, (_, k) => id + k);
    await Promise.all(ids.map((x) => h.propose(cmd(x))));
  }
}

const sumTo = (n: number) => (n * (n + 1)) / 2;

test("on-disk host: local snapshots write no image; a restart replays only what is beyond the persisted index", async () => {
  // Catch-up entries beyond the whole run: the restarted member catches up from the
  // leader's log, never through a snapshot (the next test covers that).
  const c = await startDiskCluster(3, { count: 20, catchUpEntries: 1000 });
  try {
    const leader = await c.leader();
    await proposeRange(leader, 1, 50);
    const fi = c.hosts.findIndex((h) => h !== leader);
    // Keep going one at a time until the follower's last snapshot lies behind its persisted
    // index, so that raft's replay after the restart starts below what the state machine holds.
    let next = 51;
    await waitFor("every member applied", async () => c.sms.every((s) => s.state.count === next - 1));
    while (c.hosts[fi]!.status().snapshotIndex >= c.sms[fi]!.persistedIndex()) {
      await leader.propose(cmd(next++));
      await waitFor("the follower applied", async () => c.sms[fi]!.state.count === next - 1);
    }
    for (let i = 0; i < 3; i++) {
      const st = c.hosts[i]!.status();
      assert.ok(st.snapshotIndex >= 20, `m${i + 1} took a snapshot (at ${st.snapshotIndex})`);
      const files = snapFiles(c, i);
      assert.ok(files.snaps.length > 0, `m${i + 1} has .snap files`);
      assert.deepEqual(files.images, [], `m${i + 1} wrote no state image`);
    }

    const snapshotIndex = c.hosts[fi]!.status().snapshotIndex;
    await c.hosts[fi]!.stop();
    const persisted = c.sms[fi]!.persistedIndex();
    assert.ok(snapshotIndex < persisted, `snapshot ${snapshotIndex} < persisted ${persisted}`);

    await c.restart(fi);
    const sm = c.sms[fi]!;
    assert.equal(sm.loadedIndex, persisted);
    const last = next + 9;
    await proposeRange(leader, next, last);
    await waitFor("the restarted member caught up", async () => sm.state.count === last);
    assert.ok(sm.appliedIndexes.length > 0, "the restarted member applied the new commands");
    assert.ok(
      sm.appliedIndexes.every((ix) => ix > persisted),
      `after the restart apply was handed indexes ${sm.appliedIndexes.slice(0, 5)}…, some at or below ${persisted}`,
    );
    assert.deepEqual(duplicates(c.seen[fi]!), [], "no command applied twice across the restart");
    assert.equal(sm.state.sum, sumTo(last));
    assert.equal(sm.restores, 0, "no image restored: the state machine already held it");
    assert.deepEqual((await c.hosts[fi]!.read("get")).count, last);
  } finally {
    await c.close();
  }
});

test("on-disk host: a follower behind the compacted log gets a snapshot, restore() is called, later restarts replay nothing twice", async () => {
  const c = await startDiskCluster(3, { count: 10, catchUpEntries: 5 });
  try {
    const leader = await c.leader();
    await proposeRange(leader, 1, 10);
    const fi = c.hosts.findIndex((h) => h !== leader);
    await waitFor("the follower applied", async () => c.sms[fi]!.state.count === 10);
    await c.hosts[fi]!.stop();

    // 60 more while it is down: the leader snapshots and compacts far beyond its log.
    await proposeRange(leader, 11, 70);
    assert.ok(
      leader.status().snapshotIndex > c.sms[fi]!.persistedIndex() + 5,
      "the leader compacted past it",
    );
    assert.deepEqual(snapFiles(c, c.hosts.indexOf(leader)).images, [], "the leader keeps no image");

    await c.restart(fi);
    const sm = c.sms[fi]!;
    await waitFor("the follower caught up", async () => sm.state.count === 70);
    assert.ok(sm.restores >= 1, "restore() was called");
    assert.equal(sm.state.sum, sumTo(70));
    assert.ok(c.seen[fi]!.length < 70, "part of the state came in the image, not through apply");
    assert.deepEqual(duplicates(c.seen[fi]!), []);

    // More commands on top of the received snapshot, then a restart: the received
    // snapshot is the member's latest, its state machine holds more than that.
    await proposeRange(leader, 71, 75);
    await waitFor("the follower applied", async () => sm.state.count === 75);
    await c.hosts[fi]!.stop();
    const persisted = sm.persistedIndex();
    await c.restart(fi);
    await proposeRange(leader, 76, 80);
    const again = c.sms[fi]!;
    await waitFor("the restarted follower caught up", async () => again.state.count === 80);
    assert.equal(again.restores, 0, "nothing restored at the restart");
    assert.ok(again.appliedIndexes.every((ix) => ix > persisted));
    assert.deepEqual(duplicates(c.seen[fi]!), []);
    assert.equal(again.state.sum, sumTo(80));
  } finally {
    await c.close();
  }
});

/** An on-disk style state machine whose apply awaits its own (slow) write in the middle of a batch. */
class SlowWriter implements StateMachine<number, "get", boolean> {
  applying = false;
  count = 0;

  async apply(cmds: readonly AppliedCommand[]): Promise<number[]> {
    this.applying = true;
    const out: number[] = [];
    for (const _ of cmds) {
      await new Promise((r) => setTimeout(r, 5)); // the write of this command
      out.push(++this.count);
    }
    this.applying = false;
    return out;
  }

  persistedIndex(): number {
    return 0;
  }

  snapshot(): AsyncIterable<Uint8Array> {
    return Readable.from([Buffer.from(String(this.count))]);
  }

  async restore(): Promise<void> {}

  /** True when called while an apply is under way. */
  query(): boolean {
    return this.applying;
  }
}

// types.ts promises that the host calls the state machine's methods "one at a
// time, never concurrently". read() calls query() outside the Ready loop, so
// with an async apply() (what an on-disk state machine does) a serializable
// read could run query() while apply() awaits in the middle of a batch and
// see a half-applied batch; this test found that (the host now holds queries
// until the apply finishes).
test("host: query() never runs while an async apply() is in progress (StateMachine contract)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tsraft-host-ondisk-"));
  const url = `http://127.0.0.1:${await freePort()}`;
  const sm = new SlowWriter();
  const h = new Host<number, "get", boolean>({
    name: "a",
    dataDir: join(dir, "a"),
    stateMachine: sm,
    initialCluster: [{ name: "a", peerURLs: [url] }],
    listenPeerURL: url,
    unsafeNoFsync: true,
    ...fastTiming,
  });
  try {
    await h.start();
    await waitFor("a leader", async () => h.leader() === h.id);
    const writes = Array.from({ length: 20 }, () => h.propose(cmd(1)));
    let during = 0;
    let reads = 0;
    const until = Date.now() + 300;
    while (Date.now() < until) {
      if (await h.read("get", { consistency: "serializable" })) during++;
      reads++;
      await new Promise((r) => setTimeout(r, 2));
    }
    await Promise.all(writes);
    assert.equal(sm.count, 20);
    assert.equal(during, 0, `${during} of ${reads} serializable reads ran query() inside apply()`);
  } finally {
    await h.stop(0);
    rmSync(dir, { recursive: true, force: true });
  }
});
