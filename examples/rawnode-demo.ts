// An in-process demo of the raft core: three RawNodes with MemoryStorage
// exchange messages directly, elect a leader and commit a few entries.
// Run it with `npm run demo:rawnode`.
import {
  ConfState,
  discardLogger,
  formatId,
  MemoryStorage,
  type Message,
  RawNode,
  SeededRandom,
  Snapshot,
  SnapshotMetadata,
  seedFromId,
} from "tsraft";

// Node IDs are unsigned 64-bit values (bigint): etcd derives them from hashes.
const ids = [1n, 2n, 3n];
const text = new TextDecoder();
const nodes = new Map<bigint, { rn: RawNode; storage: MemoryStorage; applied: string[] }>();
for (const id of ids) {
  const storage = new MemoryStorage();
  // Every member starts from the same snapshot naming the three voters.
  storage.applySnapshot(new Snapshot(new Uint8Array(), new SnapshotMetadata(new ConfState(ids), 1, 1)));
  const rn = new RawNode({
    id,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    logger: discardLogger,
    random: new SeededRandom(seedFromId(id)),
  });
  nodes.set(id, { rn, storage, applied: [] });
}

// One round of the Ready loop on every node: persist, apply, then deliver messages.
function pump(): number {
  const inflight: Message[] = [];
  for (const [, n] of nodes) {
    while (n.rn.hasReady()) {
      const rd = n.rn.ready();
      if (rd.hardState.term !== 0) n.storage.setHardState(rd.hardState);
      n.storage.append(rd.entries);
      for (const e of rd.committedEntries) if (e.data.length > 0) n.applied.push(text.decode(e.data));
      inflight.push(...rd.messages);
      n.rn.advance(rd);
    }
  }
  for (const m of inflight) nodes.get(m.to)!.rn.step(m);
  return inflight.length;
}

const leader = nodes.get(1n)!;
leader.rn.campaign();
while (pump() > 0);
const st = leader.rn.status();
console.log(
  `node 1 is ${["follower", "candidate", "leader", "pre-candidate"][st.softState.raftState]} at term ${st.hardState.term}`,
);

for (const word of ["alpha", "bravo", "charlie"]) {
  leader.rn.propose(new TextEncoder().encode(word));
  while (pump() > 0);
}
for (const [id, n] of nodes) {
  const s = n.rn.basicStatus();
  console.log(`node ${formatId(id)}: commit=${s.hardState.commit} applied=[${n.applied.join(", ")}]`);
}
