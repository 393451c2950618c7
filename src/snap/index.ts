// tsraft/snap: etcd's snapshotter (format-compatible `.snap` and `.snap.db` files).

export { SnapError, SnapErrorCode } from "./errors.ts";
export { decodeSnapFile, encodeSnapFile } from "./snappb.ts";
export {
  BROKEN_SUFFIX,
  DB_SUFFIX,
  dbName,
  parseSnapName,
  readSnapFile,
  SNAP_SUFFIX,
  type SnapFileStatus,
  type SnapshotPosition,
  Snapshotter,
  type SnapshotterOptions,
  snapName,
} from "./snapshotter.ts";
