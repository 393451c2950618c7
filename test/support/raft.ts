// Helpers for white-box tests of a single raft state machine: build one over
// MemoryStorage, feed it messages, and collect what it sends after the
// entries it appended are "persisted".
import {
  type Config,
  ConfState,
  discardLogger,
  Entry,
  EntryType,
  isEmptySnap,
  MemoryStorage,
  Message,
  type MessageInit,
  MessageType,
  SeededRandom,
  Snapshot,
  SnapshotMetadata,
  seedFromId,
} from "../../src/index.ts";
import { Raft, utf8 } from "../../src/internal.ts";

export const { MsgHup, MsgBeat, MsgProp, MsgApp, MsgAppResp, MsgVote, MsgVoteResp, MsgSnap } = MessageType;
export const { MsgHeartbeat, MsgHeartbeatResp, MsgUnreachable, MsgSnapStatus, MsgCheckQuorum } = MessageType;
export const { MsgTransferLeader, MsgTimeoutNow, MsgReadIndex, MsgReadIndexResp } = MessageType;
export const { MsgPreVote, MsgPreVoteResp, MsgForgetLeader } = MessageType;

/** A MemoryStorage bootstrapped with the given membership at index 0. */
export function newStorage(voters: readonly bigint[], learners: readonly bigint[] = []): MemoryStorage {
  const s = new MemoryStorage();
  s.applySnapshot(
    new Snapshot(new Uint8Array(0), new SnapshotMetadata(new ConfState([...voters], [...learners]))),
  );
  return s;
}

export type TestConfig = Partial<Omit<Config, "id" | "storage">>;

/** A raft state machine over `storage` with quiet logging and seeded timeouts. */
export function newRaft(
  id: bigint,
  storage: MemoryStorage,
  opts: TestConfig & { electionTick?: number; heartbeatTick?: number } = {},
): Raft {
  return new Raft({
    electionTick: 10,
    heartbeatTick: 1,
    logger: discardLogger,
    random: new SeededRandom(seedFromId(id)),
    maxSizePerMsg: Number.POSITIVE_INFINITY,
    maxInflightMsgs: 256,
    ...opts,
    id,
    storage,
  });
}

/** A raft over a fresh storage bootstrapped with `voters`. */
export function raftWith(id: bigint, voters: readonly bigint[], opts: TestConfig = {}): Raft {
  return newRaft(id, newStorage(voters), opts);
}

/** Entries with the given terms at indexes 1, 2, ... */
export function entsWithTerms(...terms: number[]): Entry[] {
  return terms.map((t, i) => new Entry(t, i + 1));
}

/** A MemoryStorage holding entries with the given terms (and membership). */
export function storageWithTerms(voters: readonly bigint[], ...terms: number[]): MemoryStorage {
  const s = newStorage(voters);
  s.append(entsWithTerms(...terms));
  return s;
}

export function msg(init: MessageInit): Message {
  return Message.create(init);
}

export function prop(from: bigint, ...data: string[]): Message {
  return Message.create({
    type: MsgProp,
    from,
    to: from,
    entries: data.map((d) => new Entry(0, 0, EntryType.EntryNormal, utf8(d))),
  });
}

export function hup(id: bigint): Message {
  return Message.create({ type: MsgHup, from: id, to: id });
}

/**
 * Pretends the application persisted everything raft produced: unstable
 * entries and snapshot go to `storage`, self-addressed responses are stepped
 * back in, and the messages for peers are returned (and cleared).
 */
export function readMessages(r: Raft): Message[] {
  for (;;) {
    persistUnstable(r);
    const after = r.msgsAfterAppend;
    if (after.length === 0) break;
    r.msgsAfterAppend = [];
    for (const m of after) {
      if (m.to === r.id) r.step(m);
      else r.msgs.push(m);
    }
  }
  const msgs = r.msgs;
  r.msgs = [];
  return msgs;
}

/** Writes the unstable snapshot and entries into the raft's MemoryStorage and marks them stable. */
export function persistUnstable(r: Raft): void {
  const log = r.raftLog;
  const storage = log.storage as MemoryStorage;
  const snap = log.unstable.snapshot;
  if (!isEmptySnap(snap)) {
    storage.applySnapshot(snap!);
    log.stableSnapTo(snap!.metadata.index);
  }
  const ents = log.unstable.entries;
  if (ents.length > 0) {
    storage.append(ents);
    const last = ents[ents.length - 1]!;
    log.stableTo(last.index, last.term);
  }
}

/** Ticks r n times. */
export function tickN(r: Raft, n: number): void {
  for (let i = 0; i < n; i++) r.tick();
}

/** Makes r leader of a cluster in which every peer grants the vote (peers are simulated). */
export function becomeLeader(r: Raft): void {
  r.becomeCandidate();
  r.becomeLeader();
  readMessages(r);
}

/** Messages of one type. */
export function ofType(msgs: readonly Message[], t: MessageType): Message[] {
  return msgs.filter((m) => m.type === t);
}

/** The terms of every entry in r's log, from index 1 (firstIndex must be 1). */
export function logTerms(r: Raft): number[] {
  return r.raftLog.allEntries().map((e) => e.term);
}

export const text = (s: string) => utf8(s);
