// Backups of tsraft-kv: the files `etcdctl snapshot save` writes from a
// member, inspected and restored into a new cluster (what etcdctl's
// `snapshot status` and `snapshot restore` do for etcd's bbolt files).
//
// Such a file is the member's MVCC image (tsraft's snapshot format, see
// src/mvcc/snapshot.ts), zero-padded to a multiple of 512 bytes and followed
// by its SHA-256 (Maintenance.Snapshot in src/v3rpc). A bare image, such as
// `member/snap/<index>.snap.db` copied out of a data directory, is read with
// `bare: true` (etcdctl's --skip-hash-check).
//
// A file that does not check out is a SnapshotCorrupt error naming the file;
// it is found before anything is written: restoreSnapshot first restores the
// whole image into a scratch state machine (checksum, structure, leases and
// their keys), then writes the data directory (tsraft/host's restoreMember).

import { readFileSync } from "node:fs";
import { type InitialMember, type RestoredMember, restoreMember } from "../host/index.ts";
import { decodeSnapshot, EtcdStateMachine, imageHash, MvccError, MvccErrorCode } from "../mvcc/index.ts";
import { unwrapSnapshotFile } from "../v3rpc/index.ts";

/** What `snapshot status` reports of an image (etcdctl's fields). */
export interface SnapshotFileStatus {
  /** The image's hash (mvcc's imageHash: what Maintenance.Hash answers for that state). */
  hash: number;
  /** The store's revision. */
  revision: number;
  /** Key versions kept: live keys, older versions not compacted yet, deletions. */
  totalKey: number;
  /** The image's size in bytes (without padding and checksum). */
  totalSize: number;
}

/**
 * The MVCC image in the file at `path`: unwrapped from what `etcdctl snapshot
 * save` wrote (its SHA-256 checked), or the whole file with `bare`. Only the
 * wrapping is checked here; snapshotFileStatus and restoreSnapshot check the
 * image. Throws Node's error when the file cannot be read.
 */
export function readSnapshotFile(path: string, opts: { bare?: boolean } = {}): Uint8Array {
  const bytes = readFileSync(path);
  if (opts.bare === true) return bytes;
  try {
    return unwrapSnapshotFile(bytes);
  } catch (err) {
    throw corrupt(
      path,
      err,
      "not a snapshot file as etcdctl snapshot save writes it; a bare image needs --skip-hash-check",
    );
  }
}

/** Decodes (and so checks) a whole image; `name` (a file name) goes into errors. */
export async function snapshotFileStatus(image: Uint8Array, name: string): Promise<SnapshotFileStatus> {
  try {
    const cap = await decodeSnapshot([image]);
    return {
      hash: await imageHash([image]),
      revision: cap.rev,
      totalKey: cap.records.length,
      totalSize: image.length,
    };
  } catch (err) {
    throw corrupt(name, err);
  }
}

/** Where and as whom restoreSnapshot writes a member (as KvMember's settings of the same names). */
export interface RestoreSnapshotOptions {
  /** The new member's data directory; it must not hold a member. */
  dataDir: string;
  /** This member's name in `initialCluster`. */
  name: string;
  /** Every member of the new cluster. */
  initialCluster: InitialMember[];
  /** The new cluster's token (default "etcd-cluster"). */
  clusterToken?: string;
  /** Skip fdatasync while writing (tests). */
  unsafeNoFsync?: boolean;
}

/**
 * Checks a whole image (restored into a scratch state machine), then writes
 * a new member's data directory holding it (tsraft/host's restoreMember):
 * run it for every member of the new cluster, then start each with the same
 * name, initial cluster and token. `name` (a file name) goes into errors.
 */
export async function restoreSnapshot(
  image: Uint8Array,
  name: string,
  o: RestoreSnapshotOptions,
): Promise<RestoredMember> {
  try {
    await new EtcdStateMachine().restore([image]);
  } catch (err) {
    throw corrupt(name, err);
  }
  return restoreMember({
    dataDir: o.dataDir,
    name: o.name,
    initialCluster: o.initialCluster,
    ...(o.clusterToken !== undefined ? { initialClusterToken: o.clusterToken } : {}),
    image: [image],
    ...(o.unsafeNoFsync !== undefined ? { unsafeNoFsync: o.unsafeNoFsync } : {}),
  });
}

/** A damaged image as one SnapshotCorrupt error that names the file (other errors pass through). */
function corrupt(name: string, err: unknown, hint?: string): unknown {
  if (!(err instanceof MvccError) || err.code !== MvccErrorCode.SnapshotCorrupt) return err;
  const prefix = `${err.etcdMessage}: `;
  const detail = err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
  return new MvccError(
    MvccErrorCode.SnapshotCorrupt,
    `${name}: ${detail}${hint === undefined ? "" : ` (${hint})`}`,
  );
}
