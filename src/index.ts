// tsraft: etcd's raft consensus algorithm in TypeScript. This entry point is
// the pure core (no I/O, runs in any JavaScript engine); the write-ahead log,
// snapshotter, transport and key-value server live in the subpath exports.

export * from "./confchange/index.ts";
export * from "./quorum/index.ts";
export * from "./raft/index.ts";
export * from "./raftpb/index.ts";
export * from "./tracker/index.ts";
