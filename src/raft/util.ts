// Small helpers shared across the raft core.

import { type Entry, entrySize, LocalAppendThread, LocalApplyThread, MessageType } from "../raftpb/index.ts";
import { RaftPanicError } from "./logger.ts";

/** "No limit" for byte-size options. */
export const noLimit = Number.POSITIVE_INFINITY;

const localMsgs = new Uint8Array(24);
for (const t of [
  MessageType.MsgHup,
  MessageType.MsgBeat,
  MessageType.MsgUnreachable,
  MessageType.MsgSnapStatus,
  MessageType.MsgCheckQuorum,
  MessageType.MsgStorageAppend,
  MessageType.MsgStorageAppendResp,
  MessageType.MsgStorageApply,
  MessageType.MsgStorageApplyResp,
])
  localMsgs[t] = 1;

const responseMsgs = new Uint8Array(24);
for (const t of [
  MessageType.MsgAppResp,
  MessageType.MsgVoteResp,
  MessageType.MsgHeartbeatResp,
  MessageType.MsgUnreachable,
  MessageType.MsgReadIndexResp,
  MessageType.MsgPreVoteResp,
  MessageType.MsgStorageAppendResp,
  MessageType.MsgStorageApplyResp,
])
  responseMsgs[t] = 1;

/** Message types that never cross the network. */
export function isLocalMsg(t: MessageType): boolean {
  return localMsgs[t] === 1;
}

export function isResponseMsg(t: MessageType): boolean {
  return responseMsgs[t] === 1;
}

export function isLocalMsgTarget(id: bigint): boolean {
  return id === LocalAppendThread || id === LocalApplyThread;
}

export function voteRespMsgType(t: MessageType): MessageType {
  switch (t) {
    case MessageType.MsgVote:
      return MessageType.MsgVoteResp;
    case MessageType.MsgPreVote:
      return MessageType.MsgPreVoteResp;
    default:
      throw new RaftPanicError(`not a vote message: ${t}`);
  }
}

/** Total encoded size of entries. */
export function entsSize(ents: readonly Entry[]): number {
  let s = 0;
  for (let i = 0; i < ents.length; i++) s += entrySize(ents[i]!);
  return s;
}

/**
 * The longest prefix of `ents` whose encoded size stays within maxSize; never
 * empty if `ents` is not (the first entry is always included).
 */
export function limitSize(ents: Entry[], maxSize: number): Entry[] {
  if (ents.length === 0 || maxSize === noLimit) return ents;
  let size = entrySize(ents[0]!);
  for (let limit = 1; limit < ents.length; limit++) {
    size += entrySize(ents[limit]!);
    if (size > maxSize) return ents.slice(0, limit);
  }
  return ents;
}

export function payloadsSize(ents: readonly Entry[]): number {
  let s = 0;
  for (let i = 0; i < ents.length; i++) s += ents[i]!.data.length;
  return s;
}
