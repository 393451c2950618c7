// Restoring a member's data directory from a state machine image, for a new
// cluster (etcd's `snapshot restore`): after a disaster, or to clone a
// cluster's data into another one.
//
// Every member of the new cluster is restored from the same image, each into
// its own directory, with the same initial cluster and token; then they are
// started as a restarting member would be (the directory says who it is). What
// is written is what a member of that cluster would hold had it bootstrapped,
// applied the image's state and snapshotted at once:
//
//   - the WAL's metadata: this member's ID and the cluster ID, derived from
//     the initial cluster and token exactly as a bootstrap derives them (so
//     the usual start-up check that the flags describe the directory holds);
//   - a raft snapshot at index N = the number of members, term 1, whose
//     ConfState makes every initial member a voter and whose data is the
//     host's membership. Index N is where a bootstrap's N conf changes would
//     have left the log (etcd's restore chooses the same), so a later member
//     added to the cluster starts after it;
//   - the hard state {term 1, commit N}: the snapshot is committed, nothing
//     is voted for, and the first election is for term 2;
//   - the image as `<N>.snap.db`, which the host hands to the state
//     machine's restore with index N when the member starts.
//
// The image's own idea of where it came from (the old cluster's IDs, its log
// index) plays no part: the state machine is told index N (StateMachine.restore's
// `at`). Members' client URLs are not known yet: each member publishes its
// own when it starts, as after a bootstrap.
//
// The directory is built under a temporary name beside `member/` and renamed
// into place once complete and synced, so a failed restore leaves no member
// data behind (only the temporary directory, which the next attempt removes).

import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fsyncDir, nodeFileSystem } from "../fileutil/index.ts";
import { ConfState, HardState, Snapshot, SnapshotMetadata } from "../raftpb/index.ts";
import { DiskStorage } from "../storage/index.ts";
import { HostError, HostErrorCode } from "./errors.ts";
import { hasMemberData, hostDefaults } from "./host.ts";
import { encodeWalMetadata, initialIdentity } from "./ids.ts";
import { Membership } from "./membership.ts";
import type { InitialMember, MemberInfo } from "./types.ts";

/** What restoreMember needs: the new cluster as a bootstrap would describe it, and the image. */
export interface RestoreMemberOptions {
  /** The member's data directory; it must not hold a member already. */
  dataDir: string;
  /** This member's name in `initialCluster`. */
  name: string;
  /** Every member of the new cluster (as HostConfig.initialCluster). */
  initialCluster: InitialMember[];
  /** As HostConfig.initialClusterToken (default "etcd-cluster"). */
  initialClusterToken?: string;
  /**
   * The state machine's image, as its snapshot() produced it. It is written
   * as given: check it first (e.g. restore it into a scratch state machine).
   */
  image: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  /** Skip fdatasync while writing (tests). */
  unsafeNoFsync?: boolean;
}

/** The member a restore wrote. */
export interface RestoredMember {
  /** This member's ID. */
  id: bigint;
  /** The new cluster's ID. */
  clusterId: bigint;
  /** The raft snapshot's index: the number of members. */
  index: number;
  /** The raft snapshot's term: 1. */
  term: number;
  /** The membership the snapshot holds. */
  members: MemberInfo[];
}

/** Writes a new member's data directory holding `image` (see the top of this file). */
export async function restoreMember(o: RestoreMemberOptions): Promise<RestoredMember> {
  const token = o.initialClusterToken ?? hostDefaults.initialClusterToken;
  const ident = initialIdentity(o.initialCluster, token, o.name);
  if (ident === null) {
    throw new HostError(
      HostErrorCode.InvalidArgument,
      `name ${JSON.stringify(o.name)} is not in the initial cluster`,
    );
  }
  const names = new Set(o.initialCluster.map((m) => m.name));
  const ids = new Set(ident.initial.map((m) => m.id));
  if (names.size !== o.initialCluster.length || ids.size !== ident.initial.length) {
    throw new HostError(
      HostErrorCode.InvalidArgument,
      "the initial cluster names a member twice (the same name, or the same peer URLs)",
    );
  }
  const memberDir = join(o.dataDir, "member");
  if (hasMemberData(o.dataDir) || existsSync(memberDir)) {
    throw new HostError(
      HostErrorCode.DataDir,
      `${memberDir} exists: a restore writes only a new data directory; refusing to touch it`,
    );
  }
  const tmp = join(o.dataDir, "member.restoring");
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true, mode: 0o700 });

  const index = ident.initial.length;
  const term = 1;
  const membership = new Membership();
  for (const m of ident.initial) membership.set(m);
  const storage = await DiskStorage.open(tmp, {
    metadata: encodeWalMetadata(ident.id, ident.clusterId),
    unsafeNoFsync: o.unsafeNoFsync === true,
  });
  try {
    await storage.snapshotter.saveDBFrom(o.image, index);
    await storage.save({
      hardState: new HardState(term, 0n, index),
      snapshot: new Snapshot(
        membership.encode(),
        new SnapshotMetadata(new ConfState(ident.initial.map((m) => m.id)), index, term),
      ),
      entries: [],
      mustSync: true,
    });
  } finally {
    await storage.close();
  }
  renameSync(tmp, memberDir);
  if (o.unsafeNoFsync !== true) await fsyncDir(nodeFileSystem, o.dataDir);
  return { id: ident.id, clusterId: ident.clusterId, index, term, members: membership.list() };
}
