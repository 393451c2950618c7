// describeReady and describeSoftState, in etcd's test-output formats.

import {
  describeEntries,
  describeHardState,
  describeMessage,
  describeSnapshot,
  type EntryFormatter,
  isEmptyHardState,
  isEmptySnap,
} from "../raftpb/index.ts";
import { type SoftState, stateTypeNames } from "./raft.ts";
import type { Ready } from "./rawnode.ts";

export function describeSoftState(ss: SoftState): string {
  return `Lead:${ss.lead} State:${stateTypeNames[ss.raftState]}`;
}

function goBytes(b: Uint8Array): string {
  return `[${Array.from(b).join(" ")}]`;
}

export function describeReady(rd: Ready, f?: EntryFormatter): string {
  let out = "";
  if (rd.softState !== null) out += `${describeSoftState(rd.softState)}\n`;
  if (!isEmptyHardState(rd.hardState)) out += `HardState ${describeHardState(rd.hardState)}\n`;
  if (rd.readStates.length > 0) {
    out += `ReadStates [${rd.readStates.map((rs) => `{${rs.index} ${goBytes(rs.requestCtx)}}`).join(" ")}]\n`;
  }
  if (rd.entries.length > 0) out += `Entries:\n${describeEntries(rd.entries, f)}`;
  if (!isEmptySnap(rd.snapshot)) out += `Snapshot ${describeSnapshot(rd.snapshot!)}\n`;
  if (rd.committedEntries.length > 0) out += `CommittedEntries:\n${describeEntries(rd.committedEntries, f)}`;
  if (rd.messages.length > 0) {
    out += "Messages:\n";
    for (const m of rd.messages) out += `${describeMessage(m, f)}\n`;
  }
  return out.length > 0 ? `Ready MustSync=${rd.mustSync}:\n${out}` : "<empty Ready>";
}
