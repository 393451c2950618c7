// raftpb codec throughput: tsraft's hand-written etcd-identical codec against
// protobufjs (a general-purpose protobuf library) compiled from the same
// raft.proto schema, in the same process and run.
import protobuf from "protobufjs";
import { decodeMessage, Entry, encodeMessage, Message, MessageType } from "../src/raftpb/index.ts";
import { printTable } from "./support/table.ts";
import { fmt, measure } from "./support/timing.ts";

const RAFT_PROTO = `
syntax = "proto2";
package raftpb;
message Entry { optional uint64 Term = 2; optional uint64 Index = 3; optional int32 Type = 1; optional bytes Data = 4; }
message ConfState { repeated uint64 voters = 1; repeated uint64 learners = 2; repeated uint64 voters_outgoing = 3;
  repeated uint64 learners_next = 4; optional bool auto_leave = 5; }
message SnapshotMetadata { optional ConfState conf_state = 1; optional uint64 index = 2; optional uint64 term = 3; }
message Snapshot { optional bytes data = 1; optional SnapshotMetadata metadata = 2; }
message Message { optional int32 type = 1; optional uint64 to = 2; optional uint64 from = 3; optional uint64 term = 4;
  optional uint64 logTerm = 5; optional uint64 index = 6; repeated Entry entries = 7; optional uint64 commit = 8;
  optional uint64 vote = 13; optional Snapshot snapshot = 9; optional bool reject = 10; optional uint64 rejectHint = 11;
  optional bytes context = 12; repeated Message responses = 14; }
`;

const root = protobuf.parse(RAFT_PROTO).root;
const PbMessage = root.lookupType("raftpb.Message");

const payload = new Uint8Array(128).fill(7);
const ents: Entry[] = [];
for (let i = 0; i < 100; i++) ents.push(new Entry(5, 1001 + i, 0, payload));
const msgApp = Message.create({
  type: MessageType.MsgApp,
  to: 2n,
  from: 1n,
  term: 5,
  logTerm: 5,
  index: 1000,
  entries: ents,
  commit: 999,
});
const heartbeat = Message.create({ type: MessageType.MsgHeartbeat, to: 2n, from: 1n, term: 5, commit: 1100 });

function pbObject(m: Message) {
  return PbMessage.create({
    type: m.type,
    to: m.to,
    from: m.from,
    term: m.term,
    logTerm: m.logTerm,
    index: m.index,
    commit: m.commit,
    entries: m.entries.map((e) => ({ Term: e.term, Index: e.index, Data: e.data })),
  });
}

interface Row {
  name: string;
  ours: number;
  theirs: number;
  bytes: number;
}

const rows: Row[] = [];
let sink = 0;
for (const [name, m] of [
  ["MsgApp 100x128B", msgApp],
  ["MsgHeartbeat", heartbeat],
] as const) {
  const ourBytes = encodeMessage(m);
  const pbObj = pbObject(m);
  const pbBytes = PbMessage.encode(pbObj).finish();
  // Both encodings carry the same fields; protobufjs writes zero-valued
  // fields it was given, so sizes may differ by a few bytes.
  const encOurs = measure(() => {
    sink += encodeMessage(m).length;
  });
  const encTheirs = measure(() => {
    sink += PbMessage.encode(pbObj).finish().length;
  });
  const decOurs = measure(() => {
    sink += decodeMessage(ourBytes).index;
  });
  const decTheirs = measure(() => {
    sink += (PbMessage.decode(pbBytes) as unknown as { index: number }).index | 0;
  });
  rows.push({
    name: `encode ${name}`,
    ours: encOurs.nsPerOp,
    theirs: encTheirs.nsPerOp,
    bytes: ourBytes.length,
  });
  rows.push({
    name: `decode ${name}`,
    ours: decOurs.nsPerOp,
    theirs: decTheirs.nsPerOp,
    bytes: ourBytes.length,
  });
}

console.log("raftpb codec vs protobufjs (same run, same messages)\n");
printTable(
  ["operation", "bytes", "tsraft ns/msg", "tsraft MB/s", "protobufjs ns/msg", "protobufjs MB/s", "speedup"],
  rows.map((r) => [
    r.name,
    fmt(r.bytes),
    fmt(r.ours),
    fmt((r.bytes / r.ours) * 1000, 1),
    fmt(r.theirs),
    fmt((r.bytes / r.theirs) * 1000, 1),
    `${fmt(r.theirs / r.ours, 2)}x`,
  ]),
);
if (sink === 42) console.log("");
