// The raft core's own benchmarks, with etcd's Go figures from
// shared/anchors/PERF.md (measured on machines of this kind; Go cannot run
// here, so the Go column is those published numbers):
//   - RawNode3Voters (the workload to replicate exactly; see voters.ts)
//   - BenchmarkRawNode/single-voter (propose "foo", Ready loop with faked acks)
//   - RawNode step of a MsgApp with 100 entries on a follower, and of a
//     MsgAppResp on a leader (no Go figure published)
//   - quorum CommittedIndex, Status and BasicStatus
import { discardLogger, Entry, Message, MessageType, RawNode } from "../src/index.ts";
import { MajorityConfig } from "../src/internal.ts";
import { median, quick, type Row, report, since } from "./lib.ts";
import { benchConfig, snapshotStorage, Voters } from "./voters.ts";

const rows: Row[] = [];
const SAMPLE_NS = quick ? 20e6 : 400e6;
const SAMPLES = quick ? 1 : 5;

/** Runs `op` (which does `per` units of work) repeatedly; ns per unit, median of samples. */
function timeIt(op: () => void, per: number): number {
  // Warm up (JIT) for about one sample.
  const w = process.hrtime.bigint();
  while (since(w) < SAMPLE_NS / 2) for (let i = 0; i < 16; i++) op();
  const results: number[] = [];
  for (let s = 0; s < SAMPLES; s++) {
    let n = 0;
    const t = process.hrtime.bigint();
    let el = 0;
    while (el < SAMPLE_NS) {
      for (let i = 0; i < 16; i++) op();
      n += 16;
      el = since(t);
    }
    results.push(el / (n * per));
  }
  return median(results);
}

// --- RawNode3Voters -----------------------------------------------------------
const goVoters: Record<string, number | null> = {
  "3/1": 7430,
  "3/16": 4400,
  "3/256": 3320,
  "256/1": 6640,
  "256/16": 4810,
  "256/256": 3770,
};
for (const size of [3, 256]) {
  for (const batch of [1, 16, 256]) {
    const v = new Voters(3);
    const data = new Uint8Array(size).fill(0x61);
    // Fewer operations per sample at large batches keep the samples comparable.
    const ns = timeIt(() => v.round(data, batch), batch);
    v.check();
    rows.push({
      name: `RawNode3Voters SIZE=${size} BATCH=${batch}`,
      ours: ns,
      unit: "ns/proposal",
      go: goVoters[`${size}/${batch}`] ?? null,
    });
  }
}

// --- BenchmarkRawNode/single-voter -------------------------------------------------
{
  // etcd's newTestConfig: default message size and inflight limits.
  const s = snapshotStorage([1n]);
  const rn = new RawNode({ id: 1n, electionTick: 10, heartbeatTick: 1, storage: s, logger: discardLogger });
  const foo = new TextEncoder().encode("foo");
  let applied = 0;
  let readies = 0;
  const stabilize = () => {
    while (rn.hasReady()) {
      readies++;
      const rd = rn.ready();
      const ce = rd.committedEntries;
      if (ce.length > 0) applied = ce[ce.length - 1]!.index;
      s.append(rd.entries);
      for (const m of rd.messages) {
        if (m.type === MessageType.MsgVote) {
          rn.step(Message.create({ type: MessageType.MsgVoteResp, to: m.from, from: m.to, term: m.term }));
        }
      }
      rn.advance(rd);
    }
  };
  rn.campaign();
  stabilize();
  let proposals = 0;
  const ns = timeIt(() => {
    rn.propose(foo);
    proposals++;
    stabilize();
  }, 1);
  if (applied !== rn.raft.raftLog.lastIndex()) throw new Error("single voter did not apply everything");
  rows.push({
    name: "RawNode single-voter (BenchmarkRawNode)",
    ours: ns,
    unit: "ns/op",
    go: 1870,
    note: `${(readies / proposals).toFixed(2)} ready/op`,
  });
}

// --- RawNode step: MsgApp with 100 entries on a follower ---------------------------
{
  const s = snapshotStorage([1n, 2n, 3n]);
  const rn = new RawNode(benchConfig(2n, s));
  const data = new Uint8Array(256).fill(0x62);
  let last = 1;
  const term = 2;
  // The leader (node 1) is at term 2; the follower learns of it from the first MsgApp.
  const mkApp = (): Message => {
    const ents: Entry[] = new Array(100);
    for (let i = 0; i < 100; i++) ents[i] = new Entry(term, last + 1 + i, 0, data);
    const m = Message.create({
      type: MessageType.MsgApp,
      from: 1n,
      to: 2n,
      term,
      logTerm: last === 1 ? 1 : term,
      index: last,
      entries: ents,
      commit: last,
    });
    last += 100;
    return m;
  };
  const drain = () => {
    const rd = rn.ready();
    if (rd.hardState.term !== 0) s.setHardState(rd.hardState);
    s.append(rd.entries);
    rn.advance(rd);
  };
  let stepNs = 0;
  let steps = 0;
  const one = () => {
    const m = mkApp();
    const t = process.hrtime.bigint();
    rn.step(m);
    stepNs += since(t);
    steps++;
    drain();
    // Keep the log from growing without bound.
    if (steps % 64 === 0) s.compact(rn.raft.raftLog.applied);
  };
  timeIt(one, 1); // warm-up and run; the figure is the step time alone
  stepNs = 0;
  steps = 0;
  const t0 = process.hrtime.bigint();
  while (since(t0) < SAMPLE_NS) one();
  rows.push({
    name: "RawNode.step MsgApp (100 x 256 B entries) on a follower",
    ours: stepNs / steps,
    unit: "ns/msg",
    go: null,
    note: "step only; Ready handling untimed",
  });
}

// --- RawNode step: MsgAppResp on a leader -------------------------------------------
{
  const s = snapshotStorage([1n, 2n, 3n]);
  const rn = new RawNode(benchConfig(1n, s));
  const drain = () => {
    while (rn.hasReady()) {
      const rd = rn.ready();
      if (rd.hardState.term !== 0) s.setHardState(rd.hardState);
      s.append(rd.entries);
      rn.advance(rd);
    }
  };
  rn.campaign();
  drain();
  const term = rn.raft.term;
  rn.step(Message.create({ type: MessageType.MsgVoteResp, from: 2n, to: 1n, term }));
  drain();
  const resp = (from: bigint, index: number) =>
    Message.create({ type: MessageType.MsgAppResp, from, to: 1n, term, index });
  // Bring both followers to the leader's last index (StateReplicate).
  let li = rn.raft.raftLog.lastIndex();
  rn.step(resp(2n, li));
  rn.step(resp(3n, li));
  drain();
  const data = new Uint8Array(256);
  let commitNs = 0;
  let plainNs = 0;
  let n = 0;
  const one = () => {
    rn.propose(data);
    drain();
    li++;
    const a = resp(2n, li);
    const b = resp(3n, li);
    let t = process.hrtime.bigint();
    rn.step(a); // quorum reached: commits and broadcasts the commit index
    commitNs += since(t);
    t = process.hrtime.bigint();
    rn.step(b); // already committed: progress update only
    plainNs += since(t);
    n++;
    drain();
    if (n % 256 === 0) s.compact(rn.raft.raftLog.applied);
  };
  timeIt(one, 1);
  commitNs = 0;
  plainNs = 0;
  n = 0;
  const t0 = process.hrtime.bigint();
  while (since(t0) < SAMPLE_NS) one();
  if (rn.raft.raftLog.committed !== li) throw new Error("leader did not commit");
  rows.push({
    name: "RawNode.step MsgAppResp on a leader (commits)",
    ours: commitNs / n,
    unit: "ns/msg",
    go: null,
    note: "quorum ack: commit + MsgApp to 2 followers",
  });
  rows.push({
    name: "RawNode.step MsgAppResp on a leader (no commit)",
    ours: plainNs / n,
    unit: "ns/msg",
    go: null,
    note: "progress update only",
  });
}

// --- quorum CommittedIndex ----------------------------------------------------------
for (const [n, go] of [
  [3, 64],
  [5, 103],
] as const) {
  const ids = Array.from({ length: n }, (_, i) => BigInt(i + 1));
  const c = new MajorityConfig(ids);
  const acked = new Map<bigint, number>(
    ids.map((id) => [id, Math.floor(Math.random() * Number.MAX_SAFE_INTEGER)]),
  );
  const l = { ackedIndex: (id: bigint) => acked.get(id) };
  let sink = 0;
  const ns = timeIt(() => {
    for (let i = 0; i < 64; i++) sink += c.committedIndex(l);
  }, 64);
  if (sink === -1) console.log(sink);
  rows.push({ name: `quorum CommittedIndex ${n} voters`, ours: ns, unit: "ns/op", go });
}

// --- Status / BasicStatus -----------------------------------------------------------
{
  const s = snapshotStorage([1n, 2n, 3n]);
  const rn = new RawNode({ id: 1n, electionTick: 3, heartbeatTick: 1, storage: s, logger: discardLogger });
  rn.raft.becomeCandidate();
  rn.raft.becomeLeader();
  let sink = 0;
  const st = timeIt(() => {
    sink += rn.status().applied;
  }, 1);
  const bst = timeIt(() => {
    for (let i = 0; i < 64; i++) sink += rn.basicStatus().applied;
  }, 64);
  if (sink === -1) console.log(sink);
  rows.push({ name: "Status (3 members, leader)", ours: st, unit: "ns/op", go: 1150 });
  rows.push({ name: "BasicStatus", ours: bst, unit: "ns/op", go: 6.5 });
}

report(rows);
