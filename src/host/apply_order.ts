// Which committed entries of a Ready may be applied before the Ready's own
// writes are durable.
//
// etcd's server hands committed entries to its applier before it saves the
// Ready's entries and hard state, so the apply (and the client's answer)
// overlaps the WAL's fdatasync. That is safe for an entry this member has
// already made durable; it is not for an entry written by this very Ready: a
// single voter commits its own entries as it appends them, and answering
// before they are synced loses acknowledged writes in a crash (the
// single-member bug etcd-io/etcd#14370). Entries this Ready rewrites (a
// follower's conflicting tail) are excluded too, and a Ready with a
// snapshot applies nothing early: the snapshot is restored first.
//
// The prefix also ends before the first membership change. Its waiter
// resolves when it is applied, and raft refuses (turns into an empty entry)
// a new membership change proposed before raft itself counts the previous
// one as applied, which is only at advance(), after the save: a caller that
// chained two changes would see the second one time out.

import type { Ready } from "../raft/index.ts";
import { EntryType, isEmptySnap } from "../raftpb/index.ts";

/**
 * How many of `rd.committedEntries`, from the start, may be applied while
 * `rd` is being persisted: those at or below `durableIndex` (the last index
 * the storage had made durable before this Ready) and before the first entry
 * this Ready writes, and before the first membership change; 0 when the
 * Ready carries a snapshot.
 */
export function durableCommittedPrefix(
  rd: Pick<Ready, "committedEntries" | "entries" | "snapshot">,
  durableIndex: number,
): number {
  const ce = rd.committedEntries;
  if (ce.length === 0) return 0;
  if (!isEmptySnap(rd.snapshot)) return 0;
  let limit = durableIndex;
  if (rd.entries.length > 0) limit = Math.min(limit, rd.entries[0]!.index - 1);
  let n = 0;
  while (n < ce.length && ce[n]!.index <= limit && ce[n]!.type === EntryType.EntryNormal) n++;
  return n;
}

/**
 * Whether `rd` writes a single entry and it is the only one not yet
 * committed (`commit`: the commit index this member knows): one write in
 * flight, nothing else waiting to be batched with it. The WAL then syncs on
 * the event loop's thread (WalSaveOptions.inlineSync) and spares the thread
 * pool's round trip. Under concurrent writes a Ready carries several entries
 * or earlier ones are still uncommitted, and the sync stays in the pool so
 * that requests keep arriving, and batching, while the disk works.
 */
export function isLoneWrite(rd: Pick<Ready, "entries">, commit: number): boolean {
  return rd.entries.length === 1 && rd.entries[0]!.index - commit <= 1;
}
