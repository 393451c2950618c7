// tsraft/wal: etcd's write-ahead log (format-compatible), and DiskStorage,
// the durable raft Storage built on it and on the snapshotter.

export { crc32cUpdate } from "./crc.ts";
export { Decoder, type DecoderOptions, hasZeroSector, SECTOR_SIZE, type SegmentRef } from "./decoder.ts";
export { DiskStorage, type DiskStorageOptions, type PersistRequest, purgeSegments } from "./disk_storage.ts";
export { Encoder } from "./encoder.ts";
export { isCorruption, WalError, WalErrorCode } from "./errors.ts";
export { type FileSystem, nodeFileSystem } from "./fs.ts";
export {
  hex16,
  isValidSeq,
  isWalName,
  parseWalName,
  readWalNames,
  searchIndex,
  walExists,
  walName,
} from "./names.ts";
export {
  isEmptyHardState,
  type ReadAllResult,
  type Recovery,
  readWalMetadata,
  repair,
  SEGMENT_SIZE_BYTES,
  validSnapshotEntries,
  verify,
  WAL,
  WARN_SYNC_DURATION_MS,
  type WalOptions,
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
