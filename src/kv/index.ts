// tsraft/kv: the replicated key-value server as a library. `KvMember` is one
// member: etcd's MVCC store as a state machine on the host (tsraft/host),
// etcd's v3 API (gRPC and JSON gateway) and the REST API on one client port.
// The `tsraft-kv` CLI (src/cli/tsraft-kv.ts) is a thin wrapper around it.

export {
  type RestoreSnapshotOptions,
  readSnapshotFile,
  restoreSnapshot,
  type SnapshotFileStatus,
  snapshotFileStatus,
} from "./backup.ts";
export { KvConfigError, KvError, KvErrorCode } from "./errors.ts";
export { type ApiLimits, createClientHandler, defaultLimits } from "./http_api.ts";
export {
  type InitialMember,
  KvMember,
  type LeaderEvent,
  type MemberConfig,
  memberDefaults,
} from "./member.ts";
export type {
  FollowerProgress,
  KeyValue,
  KvBackend,
  MemberInfo,
  RangePage,
  ReadOptions,
  ServerStatus,
  WriteOptions,
  WriteResult,
} from "./types.ts";
export { HostV3Backend } from "./v3_backend.ts";
