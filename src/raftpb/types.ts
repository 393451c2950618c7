// The raftpb data types: the messages etcd's raft exchanges and persists.
//
// Terms and indexes are JS numbers (safe non-negative integers). Node IDs are
// exact unsigned 64-bit `bigint`s: etcd derives member IDs from SHA-1 hashes,
// so real IDs use the whole 64-bit range and a number would round them.
// Every class carries a `present` bit set (bit N = protobuf field number N was
// set explicitly). It lets the codec reproduce etcd's explicit-presence (P37)
// encoding byte for byte and keep "absent" apart from "present but empty" for
// bytes fields. Code that builds messages can ignore it: a field with a
// non-default value is always encoded.

/** Placeholder node ID meaning "no node" (no leader, no vote). */
export const None = 0n;
/** Target of MsgStorageAppend messages (async storage writes): 2^64-1, as in etcd; never a node ID. */
export const LocalAppendThread = 0xffff_ffff_ffff_ffffn;
/** Target of MsgStorageApply messages (async storage writes): 2^64-2, as in etcd; never a node ID. */
export const LocalApplyThread = 0xffff_ffff_ffff_fffen;

/** A zero-length byte array shared by every empty bytes field. */
export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

export const EntryType = {
  EntryNormal: 0,
  EntryConfChange: 1,
  EntryConfChangeV2: 2,
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];
export const entryTypeNames: readonly string[] = ["EntryNormal", "EntryConfChange", "EntryConfChangeV2"];

export const MessageType = {
  MsgHup: 0,
  MsgBeat: 1,
  MsgProp: 2,
  MsgApp: 3,
  MsgAppResp: 4,
  MsgVote: 5,
  MsgVoteResp: 6,
  MsgSnap: 7,
  MsgHeartbeat: 8,
  MsgHeartbeatResp: 9,
  MsgUnreachable: 10,
  MsgSnapStatus: 11,
  MsgCheckQuorum: 12,
  MsgTransferLeader: 13,
  MsgTimeoutNow: 14,
  MsgReadIndex: 15,
  MsgReadIndexResp: 16,
  MsgPreVote: 17,
  MsgPreVoteResp: 18,
  MsgStorageAppend: 19,
  MsgStorageAppendResp: 20,
  MsgStorageApply: 21,
  MsgStorageApplyResp: 22,
  MsgForgetLeader: 23,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];
export const messageTypeNames: readonly string[] = Object.keys(MessageType);

/** Parses a message type name (`MsgApp`); undefined when unknown. */
export function messageTypeFromName(name: string): MessageType | undefined {
  const i = messageTypeNames.indexOf(name);
  return i < 0 ? undefined : (i as MessageType);
}

export const ConfChangeTransition = {
  ConfChangeTransitionAuto: 0,
  ConfChangeTransitionJointImplicit: 1,
  ConfChangeTransitionJointExplicit: 2,
} as const;
export type ConfChangeTransition = (typeof ConfChangeTransition)[keyof typeof ConfChangeTransition];
export const confChangeTransitionNames: readonly string[] = Object.keys(ConfChangeTransition);

export const ConfChangeType = {
  ConfChangeAddNode: 0,
  ConfChangeRemoveNode: 1,
  ConfChangeUpdateNode: 2,
  ConfChangeAddLearnerNode: 3,
} as const;
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType];
export const confChangeTypeNames: readonly string[] = Object.keys(ConfChangeType);

/** One raft log entry. `data` aliases whatever buffer it was given or decoded from. */
export class Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
  present: number;

  constructor(term = 0, index = 0, type: EntryType = EntryType.EntryNormal, data: Uint8Array = EMPTY_BYTES) {
    this.term = term;
    this.index = index;
    this.type = type;
    this.data = data;
    this.present = 0;
  }
}

/** The persistent state raft must save before sending messages. */
export class HardState {
  term: number;
  vote: bigint;
  commit: number;
  present: number;

  // raft always sets all three fields, so a constructed HardState marks them present.
  constructor(term = 0, vote = 0n, commit = 0) {
    this.term = term;
    this.vote = vote;
    this.commit = commit;
    this.present = HARD_STATE_ALL;
  }
}
const HARD_STATE_ALL = (1 << 1) | (1 << 2) | (1 << 3);

/** The membership configuration recorded in snapshots and returned by applyConfChange. */
export class ConfState {
  voters: bigint[];
  learners: bigint[];
  votersOutgoing: bigint[];
  learnersNext: bigint[];
  autoLeave: boolean;
  present: number;

  constructor(
    voters: bigint[] = [],
    learners: bigint[] = [],
    votersOutgoing: bigint[] = [],
    learnersNext: bigint[] = [],
    autoLeave = false,
  ) {
    this.voters = voters;
    this.learners = learners;
    this.votersOutgoing = votersOutgoing;
    this.learnersNext = learnersNext;
    this.autoLeave = autoLeave;
    this.present = 0;
  }
}

export class SnapshotMetadata {
  confState: ConfState;
  index: number;
  term: number;
  present: number;

  constructor(confState: ConfState = new ConfState(), index = 0, term = 0) {
    this.confState = confState;
    this.index = index;
    this.term = term;
    this.present = 0;
  }
}

export class Snapshot {
  data: Uint8Array;
  metadata: SnapshotMetadata;
  present: number;

  constructor(data: Uint8Array = EMPTY_BYTES, metadata: SnapshotMetadata = new SnapshotMetadata()) {
    this.data = data;
    this.metadata = metadata;
    this.present = 0;
  }
}

/** Shared, frozen empty list used as the default `entries`/`responses` of a Message. */
export const NO_ENTRIES: Entry[] = Object.freeze([]) as unknown as Entry[];
export const NO_MESSAGES: Message[] = Object.freeze([]) as unknown as Message[];

/** Every field of a Message, for `Message.create`. */
export interface MessageInit {
  type?: MessageType;
  to?: bigint;
  from?: bigint;
  term?: number;
  logTerm?: number;
  index?: number;
  entries?: Entry[];
  commit?: number;
  vote?: bigint;
  snapshot?: Snapshot | null;
  reject?: boolean;
  rejectHint?: number;
  context?: Uint8Array;
  responses?: Message[];
}

/**
 * A raft message. All fields are always initialised in the same order so that
 * V8 keeps one hidden class for every message.
 */
export class Message {
  type: MessageType = MessageType.MsgHup;
  to = 0n;
  from = 0n;
  term = 0;
  logTerm = 0;
  index = 0;
  entries: Entry[] = NO_ENTRIES;
  commit = 0;
  /** An ID: MsgStorageAppend carries the HardState's vote here (field 13). */
  vote = 0n;
  snapshot: Snapshot | null = null;
  reject = false;
  rejectHint = 0;
  context: Uint8Array = EMPTY_BYTES;
  responses: Message[] = NO_MESSAGES;
  present = 0;

  static create(init: MessageInit): Message {
    const m = new Message();
    if (init.type !== undefined) m.type = init.type;
    if (init.to !== undefined) m.to = init.to;
    if (init.from !== undefined) m.from = init.from;
    if (init.term !== undefined) m.term = init.term;
    if (init.logTerm !== undefined) m.logTerm = init.logTerm;
    if (init.index !== undefined) m.index = init.index;
    if (init.entries !== undefined) m.entries = init.entries;
    if (init.commit !== undefined) m.commit = init.commit;
    if (init.vote !== undefined) m.vote = init.vote;
    if (init.snapshot !== undefined) m.snapshot = init.snapshot;
    if (init.reject !== undefined) m.reject = init.reject;
    if (init.rejectHint !== undefined) m.rejectHint = init.rejectHint;
    if (init.context !== undefined) m.context = init.context;
    if (init.responses !== undefined) m.responses = init.responses;
    return m;
  }

  /** A shallow copy: the entries, snapshot and responses are shared. */
  clone(): Message {
    const m = new Message();
    m.type = this.type;
    m.to = this.to;
    m.from = this.from;
    m.term = this.term;
    m.logTerm = this.logTerm;
    m.index = this.index;
    m.entries = this.entries;
    m.commit = this.commit;
    m.vote = this.vote;
    m.snapshot = this.snapshot;
    m.reject = this.reject;
    m.rejectHint = this.rejectHint;
    m.context = this.context;
    m.responses = this.responses;
    m.present = this.present;
    return m;
  }
}

/** The legacy (V1) membership change; etcd puts its request ID in `id`. */
export class ConfChange {
  /** etcd's request ID: a full 64-bit value (member bits, time and a counter). */
  id: bigint;
  type: ConfChangeType;
  nodeId: bigint;
  context: Uint8Array;
  present: number;

  constructor(
    type: ConfChangeType = ConfChangeType.ConfChangeAddNode,
    nodeId = 0n,
    context: Uint8Array = EMPTY_BYTES,
    id = 0n,
  ) {
    this.id = id;
    this.type = type;
    this.nodeId = nodeId;
    this.context = context;
    this.present = 0;
  }
}

export class ConfChangeSingle {
  type: ConfChangeType;
  nodeId: bigint;
  present: number;

  constructor(type: ConfChangeType = ConfChangeType.ConfChangeAddNode, nodeId = 0n) {
    this.type = type;
    this.nodeId = nodeId;
    this.present = 0;
  }
}

export class ConfChangeV2 {
  transition: ConfChangeTransition;
  changes: ConfChangeSingle[];
  context: Uint8Array;
  present: number;

  constructor(
    changes: ConfChangeSingle[] = [],
    transition: ConfChangeTransition = ConfChangeTransition.ConfChangeTransitionAuto,
    context: Uint8Array = EMPTY_BYTES,
  ) {
    this.transition = transition;
    this.changes = changes;
    this.context = context;
    this.present = 0;
  }
}

/** Either form of membership change. */
export type ConfChangeI = ConfChange | ConfChangeV2;

export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === 0n && hs.commit === 0;
}

export function isHardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export function isEmptySnap(s: Snapshot | null | undefined): boolean {
  return s == null || s.metadata.index === 0;
}

/** An all-zero HardState, the value raft uses for "nothing to persist". */
export const emptyHardState = (): HardState => new HardState(0, 0n, 0);
