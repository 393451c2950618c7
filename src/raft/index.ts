// The raft consensus core: the state machine, RawNode, storage and status.

export { CompactMemoryStorage, type CompactMemoryStorageOptions } from "./compact_storage.ts";
export { describeReady, describeSoftState } from "./describe.ts";
export {
  ConfigError,
  ErrCompacted,
  ErrProposalDropped,
  ErrSnapOutOfDate,
  ErrSnapshotTemporarilyUnavailable,
  ErrStepLocalMsg,
  ErrStepPeerNotFound,
  ErrStopped,
  ErrUnavailable,
  RaftError,
  StorageError,
} from "./errors.ts";
export { decodeRoundCtx, encodeRoundCtx, LeaderLease, type LeaseSafety } from "./lease.ts";
export { RaftLog, TERM_UNAVAILABLE } from "./log.ts";
export { Unstable } from "./log_unstable.ts";
export * from "./logger.ts";
export {
  AbortError,
  type AbortListenerObject,
  type AbortSignalLike,
  ErrAdvanceAsync,
  ErrReadyBusy,
  type Node,
  restartNode,
  startNode,
} from "./node.ts";
export {
  type Config,
  confChangeToMsg,
  Raft,
  type ResolvedConfig,
  resolveConfig,
  SoftState,
  StateType,
  stateTypeNames,
} from "./raft.ts";
export { RandomArgumentError, type RandomSource, SeededRandom, seedFromId, Xoshiro128 } from "./rand.ts";
export {
  ErrInvalidMessage,
  isEmptyReady,
  mustSync,
  type Peer,
  ProgressType,
  RawNode,
  Ready,
  SnapshotStatus,
} from "./rawnode.ts";
export { ReadOnlyOption, ReadState } from "./read_only.ts";
export { type BasicStatus, getBasicStatus, getStatus, type Status, statusToJSON } from "./status.ts";
export { cloneSnapshot, MemoryStorage, type Storage } from "./storage.ts";
export { isLocalMsg, isLocalMsgTarget, isResponseMsg, limitSize, noLimit } from "./util.ts";
