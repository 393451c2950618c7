// The MVCC engine of tsraft's etcd v3 API: revisions, key history,
// compaction, leases, watches and etcd's apply semantics, as a pure and
// deterministic state machine (no Node built-ins) that a raft host drives.

export {
  ALL_KEYS_END,
  bytesCompare,
  bytesEqual,
  keyToString,
  normalizeEnd,
  prefixEnd,
  stringToKey,
} from "./bytes.ts";
export { crc32c } from "./crc32c.ts";
export { MvccError, MvccErrorCode, toSafeNumber } from "./errors.ts";
export { KeyIndex, KeyRev } from "./key_index.ts";
export { IdGenerator, Lease, Lessor, type LessorOptions, MAX_LEASE_TTL } from "./lessor.ts";
export { decodePutCommand, decodePutRequest, type PutCommand } from "./put_command.ts";
export {
  type AlarmState,
  type Capture,
  decodeSnapshot,
  encodeSnapshot,
  imageHash,
  type LeaseState,
  type SnapshotStream,
} from "./snapshot.ts";
export {
  type AnyResponse,
  type ApplyResult,
  EtcdStateMachine,
  type EtcdStateMachineOptions,
  toKeyValue,
} from "./state_machine.ts";
export {
  type ChangeListener,
  type LeaseAttacher,
  MemoryMvccStore,
  type MvccReader,
  type MvccStore,
  type RangeResult,
  type WriteTxn,
} from "./store.ts";
export {
  DEFAULT_MAX_TXN_OPS,
  isTxnReadOnly,
  txnHasPut,
  validateDelete,
  validatePut,
  validateRange,
  validateTxn,
} from "./validate.ts";
export {
  EventType,
  type Scheduler,
  WATCH_BATCH_MAX_REVS,
  type WatchEvent,
  Watcher,
  WatcherHub,
  type WatchOptions,
  type WatchSink,
} from "./watch.ts";
