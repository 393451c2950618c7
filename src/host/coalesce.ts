// Folding one Ready's messages to the same peer into fewer messages.
//
// etcd's raft appends each proposal as it is stepped and sends it at once
// (bcastAppend), and broadcasts every advance of the commit index as an
// empty MsgApp. A Ready taken after a busy turn therefore holds several
// MsgApps for each follower, each continuing the one before, and commit
// broadcasts between them; each is encoded, decoded and stepped on its own,
// and the follower answers each with a MsgAppResp, which the leader decodes
// and steps in turn. Under 16 writers a leader's Ready carried ~4 MsgApps per
// follower for ~2 new entries.
//
// Raft is safe under lost, duplicated and reordered messages, so the host
// may replace messages by others whose effect on the receiver is the same as
// receiving the originals in order:
//
//   - MsgApp b that continues MsgApp a to the same peer in the same term
//     (b.index is a's last index and b.logTerm that entry's term) folds into
//     one MsgApp: a's index and logTerm, a's entries then b's, b's commit
//     (the leader's commit index only grows within a term). The follower
//     appends the same entries and learns the same commit index; it answers
//     once, with the index it would have answered b with. The leader's
//     inflight window frees everything at or below an acknowledged index, so
//     the one answer frees both sends. An empty MsgApp (a commit broadcast)
//     folds into the MsgApp that follows it at its index, and into the one
//     before it that ends there.
//   - Of consecutive accepting MsgAppResps to the same peer in the same term,
//     only the highest index is sent: the leader takes an acknowledgement of
//     index i as one of every index below it, and ignores a lower one after
//     it.
//
// Only messages adjacent in the sequence sent to one peer are folded, so the
// order of everything sent to a peer is kept. A folded MsgApp holds at most
// COALESCE_MAX_BYTES of entry data, raft's own limit per message on this
// host, so a follower never receives a message larger than it would without
// folding by more than one entry.

import { type Entry, type Message, MessageType } from "../raftpb/index.ts";

/** The most entry data (bytes) one folded MsgApp carries; the host's maxSizePerMsg. */
export const COALESCE_MAX_BYTES = 1024 * 1024;

/**
 * Returns `msgs` with the foldable messages to each peer folded (see the file
 * comment); `msgs` itself when nothing folds. The input messages are not
 * modified.
 */
export function coalesceMessages(msgs: readonly Message[]): readonly Message[] {
  if (msgs.length < 2) return msgs;
  let out: Message[] | null = null;
  // The position in `out` of the last message to each peer.
  const last = new Map<bigint, number>();
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i]!;
    const k = last.get(m.to);
    const prev = k === undefined ? undefined : (out ?? msgs)[k]!;
    const folded = prev === undefined ? null : fold(prev, m);
    if (folded !== null) {
      if (out === null) out = msgs.slice(0, i);
      out[k!] = folded;
      continue;
    }
    if (out !== null) out.push(m);
    last.set(m.to, out === null ? i : out.length - 1);
  }
  return out ?? msgs;
}

/** The one message equivalent to `a` then `b` (both to the same peer), or null. */
function fold(a: Message, b: Message): Message | null {
  if (a.type !== b.type || a.term !== b.term || a.from !== b.from) return null;
  if (a.type === MessageType.MsgApp) {
    const n = a.entries.length;
    const lastIndex = a.index + n;
    const lastTerm = n === 0 ? a.logTerm : a.entries[n - 1]!.term;
    if (b.index !== lastIndex || b.logTerm !== lastTerm) return null;
    if (b.entries.length === 0 && b.commit <= a.commit) return a;
    if (n > 0 && b.entries.length > 0 && dataBytes(a.entries) + dataBytes(b.entries) > COALESCE_MAX_BYTES) {
      return null;
    }
    const m = a.clone();
    m.entries = n === 0 ? b.entries : b.entries.length === 0 ? a.entries : a.entries.concat(b.entries);
    m.commit = Math.max(a.commit, b.commit);
    return m;
  }
  if (a.type === MessageType.MsgAppResp) {
    if (a.reject || b.reject) return null;
    return b.index >= a.index ? b : a;
  }
  return null;
}

function dataBytes(ents: readonly Entry[]): number {
  let n = 0;
  for (let i = 0; i < ents.length; i++) n += ents[i]!.data.length;
  return n;
}
