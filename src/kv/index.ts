// tsraft/kv: the replicated key-value server as a library. `KvMember` is one
// member (raft Node + DiskStorage + rafthttp Transport + HTTP client API);
// the `tsraft-kv` CLI (src/cli/tsraft-kv.ts) is a thin wrapper around it.

export { clusterIdFor, decodeWalMetadata, encodeWalMetadata, memberIdFor } from "../host/index.ts";
export { type ApplyResult, Command, decodeCommand, encodeCommand, Op } from "./command.ts";
export { KvConfigError, KvError, KvErrorCode } from "./errors.ts";
export { type ApiLimits, createClientHandler, defaultLimits } from "./http_api.ts";
export {
  type InitialMember,
  KvMember,
  type LeaderEvent,
  type MemberConfig,
  memberDefaults,
} from "./member.ts";
export {
  type KeyValue,
  KvStore,
  type StoreCapture,
  serializeSnapshot,
  serializeSnapshotAsync,
} from "./store.ts";
export type {
  FollowerProgress,
  KvBackend,
  MemberInfo,
  ReadOptions,
  ServerStatus,
  WriteOptions,
  WriteResult,
} from "./types.ts";
