// Memory: what MemoryStorage retains per entry beyond the payload bytes
// (target <= 150 bytes), and heap stability over 1,000,000 proposals through
// the RawNode3Voters cluster with periodic compaction (target: no growth).
// Go publishes no figure for either.

import { getHeapStatistics } from "node:v8";
import {
  CompactMemoryStorage,
  Entry,
  EntryType,
  MemoryStorage,
  Message,
  MessageType,
  type Storage,
} from "../src/index.ts";
import { decodeMessage, encodeMessage } from "../src/wire.ts";
import { gc, quick, type Row, report } from "./lib.ts";
import { Voters } from "./voters.ts";

const rows: Row[] = [];

// V8 heap plus ArrayBuffer backing stores (payloads live outside the V8 heap).
function memory(): number {
  gc();
  return getHeapStatistics().used_heap_size + process.memoryUsage().arrayBuffers;
}

const N = quick ? 50_000 : 1_000_000;
const PAYLOAD = 64;

/** Bytes retained per entry beyond its payload, for entries made by `make(i)`. */
function perEntry(
  make: (i: number) => Entry[],
  storage: () => Storage & { append(e: Entry[]): void } = () => new MemoryStorage(),
): number {
  let s: (Storage & { append(e: Entry[]): void }) | null = storage();
  const before = memory();
  for (let i = 0; i < N; i += 1000) s.append(make(i + 1));
  const after = memory();
  const per = (after - before) / N - PAYLOAD;
  if (s.lastIndex() !== N) throw new Error("append failed");
  s = null;
  return per;
}

const ownPayload = (first: number) => {
  const ents: Entry[] = [];
  for (let i = 0; i < 1000; i++)
    ents.push(new Entry(1, first + i, EntryType.EntryNormal, new Uint8Array(PAYLOAD)));
  return ents;
};

// Each entry owns its payload (what a leader holds: the proposer's Uint8Array).
rows.push({
  name: "MemoryStorage bytes/entry beyond payload (own Uint8Array each)",
  ours: perEntry((first) => {
    const ents: Entry[] = [];
    for (let i = 0; i < 1000; i++)
      ents.push(new Entry(1, first + i, EntryType.EntryNormal, new Uint8Array(PAYLOAD)));
    return ents;
  }),
  unit: "B/entry",
  go: null,
  note: `${N.toLocaleString("en-US")} entries of ${PAYLOAD} B; target <= 150 (includes the Uint8Array + ArrayBuffer objects)`,
});

// Entries decoded from a MsgApp (what a follower holds: views into the message buffer).
rows.push({
  name: "MemoryStorage bytes/entry beyond payload (decoded MsgApp)",
  ours: perEntry((first) => {
    const ents: Entry[] = [];
    for (let i = 0; i < 1000; i++)
      ents.push(new Entry(1, first + i, EntryType.EntryNormal, new Uint8Array(PAYLOAD)));
    const wire = encodeMessage(Message.create({ type: MessageType.MsgApp, entries: ents }));
    return decodeMessage(wire).entries;
  }),
  unit: "B/entry",
  go: null,
  note: "views into one buffer per 1000 entries; target <= 150",
});

// The Entry objects alone (payload shared): raft's own share.
const shared = new Uint8Array(PAYLOAD);
rows.push({
  name: "MemoryStorage bytes/entry, Entry object + slot only",
  ours:
    perEntry((first) => {
      const ents: Entry[] = [];
      for (let i = 0; i < 1000; i++) ents.push(new Entry(1, first + i, EntryType.EntryNormal, shared));
      return ents;
    }) + PAYLOAD,
  unit: "B/entry",
  go: null,
  note: "one shared payload",
});

// CompactMemoryStorage: the same entries, older ones packed (payload bytes copied).
rows.push({
  name: "CompactMemoryStorage bytes/entry beyond payload (own Uint8Array each)",
  ours: perEntry(ownPayload, () => new CompactMemoryStorage()),
  unit: "B/entry",
  go: null,
  note: "newest 4096 entries kept as objects, the rest packed; target <= 150",
});

// --- heap over 1,000,000 proposals with compaction ------------------------------------
{
  const v = new Voters(3);
  const data = new Uint8Array(128).fill(0x64);
  const batch = 16;
  const checkpoints: number[] = [];
  const total = quick ? 100_000 : 1_000_000;
  const every = total / 10;
  for (let p = 0; p < total; p += batch) {
    v.round(data, batch);
    if ((p + batch) % 10_000 < batch) {
      for (let i = 0; i < 3; i++) {
        const applied = v.applied[i]!;
        if (applied > v.storages[i]!.firstIndex()) v.storages[i]!.compact(applied);
      }
    }
    if ((p + batch) % every < batch) checkpoints.push(memory());
  }
  v.check();
  const growth = checkpoints.at(-1)! - checkpoints[0]!;
  rows.push({
    name: `heap growth over ${total.toLocaleString("en-US")} proposals, compaction every 10k`,
    ours: growth / 1e6,
    unit: "MB",
    go: null,
    note: `from the ${(every / 1000).toFixed(0)}k-th proposal on; checkpoints (MB): ${checkpoints
      .map((c) => (c / 1e6).toFixed(1))
      .join(" ")}`,
  });
}

report(rows);
