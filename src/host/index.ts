// tsraft/host: one member of one raft group running your state machine.
// You write apply/snapshot/restore (StateMachine); the host runs the raft
// loop, the WAL and snapshots, the peer transport, proposals with exactly-once
// answers, linearizable reads, membership changes and shutdown.
// See docs/host.md.

export { HostError, HostErrorCode } from "./errors.ts";
export { Host, hasMemberData, hostDefaults } from "./host.ts";
export {
  clusterIdFor,
  decodeWalMetadata,
  encodeWalMetadata,
  hexId,
  memberIdFor,
  newMemberId,
} from "./ids.ts";
export { parseMembersJson } from "./join.ts";
export { decodeMemberContext, encodeMemberContext } from "./membership.ts";
export { HostMetrics } from "./metrics.ts";
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
