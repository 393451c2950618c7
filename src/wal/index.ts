// tsraft/wal: etcd's write-ahead log (format-compatible). DiskStorage, the
// durable raft Storage built on it and on the snapshotter, is in tsraft/storage
// (src/storage, the folder above wal and snap).

// Re-exported from fileutil (their home since the wal/snap split), so that
// `import { crc32cUpdate, type FileSystem } from "tsraft/wal"` keeps working.
export { crc32cUpdate, type FileSystem, hex16, nodeFileSystem } from "../fileutil/index.ts";
export { Decoder, type DecoderOptions, hasZeroSector, SECTOR_SIZE, type SegmentRef } from "./decoder.ts";
export { Encoder } from "./encoder.ts";
export { isCorruption, WalError, WalErrorCode } from "./errors.ts";
export {
  isValidSeq,
  isWalName,
  parseWalName,
  readWalNames,
  searchIndex,
  walExists,
  walName,
} from "./names.ts";
export {
  SEGMENT_SIZE_BYTES,
  WARN_SYNC_DURATION_MS,
  type WalOptions,
  type WalSaveOptions,
} from "./options.ts";
export { repair } from "./repair.ts";
export {
  checkIndex,
  isEmptyHardState,
  type ReadAllResult,
  type Recovery,
  readWalMetadata,
  validSnapshotEntries,
  verify,
  WAL,
} from "./wal.ts";
export {
  decodeRecord,
  decodeWalSnapshot,
  encodeRecord,
  encodeWalSnapshot,
  RecordType,
  recordTypeNames,
  WalRecord,
  WalSnapshot,
} from "./walpb.ts";
