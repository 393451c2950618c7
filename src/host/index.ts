// tsraft/host: one member of one raft group running your state machine.
// You write apply/snapshot/restore (StateMachine); the host runs the raft
// loop, the WAL and snapshots, the peer transport, proposals with exactly-once
// answers, linearizable reads, membership changes and shutdown.
// See docs/host.md.

export { HostError, HostErrorCode } from "./errors.ts";
export { Host, hasMemberData, hostDefaults } from "./host.ts";
// Internal helpers (the WAL metadata and conf-change context encodings, the
// /members parser of a join, the ID of a member being added) are imported from
// their files by the host itself and are not part of the package API.
export { clusterIdFor, hexId, memberIdFor } from "./ids.ts";
export { HostMetrics } from "./metrics.ts";
export { type RestoredMember, type RestoreMemberOptions, restoreMember } from "./restore.ts";
export type {
  AppliedCommand,
  FollowerProgress,
  HostConfig,
  HostEvents,
  HostStatus,
  InitialMember,
  MemberInfo,
  ProposeOptions,
  ReadConsistency,
  ReadOptions,
  SnapshotPolicy,
  StateMachine,
} from "./types.ts";
