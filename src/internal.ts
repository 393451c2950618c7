// tsraft/internal: the building blocks of the raft core, exported for
// white-box tests, simulators and tools that drive the algorithm directly:
// the Raft state machine (mutable public fields), its log (RaftLog, Unstable),
// the progress tracker and quorum arithmetic, conf-change application and
// lease internals. No stability promise: these names follow the algorithm's
// implementation, not the library's API. Pure like the core.

export {
  type ChangeResult,
  Changer,
  restore,
} from "./confchange/index.ts";
export {
  type AckedIndexer,
  ackScratch,
  INFINITE_INDEX,
  type Index,
  JointConfig,
  MajorityConfig,
  MapAckIndexer,
  majorityIndex,
  setString,
  VoteResult,
  voteResultNames,
} from "./quorum/index.ts";
export {
  cloneSnapshot,
  confChangeToMsg,
  decodeRoundCtx,
  encodeRoundCtx,
  getBasicStatus,
  getStatus,
  isLocalMsgTarget,
  LeaderLease,
  limitSize,
  noLimit,
  Raft,
  RaftLog,
  type ResolvedConfig,
  resolveConfig,
  TERM_UNAVAILABLE,
  Unstable,
} from "./raft/index.ts";
export {
  confStatesEquivalent,
  describeTarget,
  EMPTY_BYTES,
  isHardStateEqual,
  messageTypeFromName,
  NO_ENTRIES,
  NO_MESSAGES,
  quoteBytes,
  utf8,
} from "./raftpb/index.ts";
export {
  Inflights,
  Progress,
  ProgressMap,
  ProgressTracker,
  TrackerConfig,
} from "./tracker/index.ts";
