// tsraft/storage: DiskStorage, the durable raft Storage. It sits above tsraft/wal
// and tsraft/snap (it owns one of each under its directory), so neither of
// those needs to know about the other.

export { DiskStorage, type DiskStorageOptions, type PersistRequest, purgeSegments } from "./disk_storage.ts";
