// The trace's words: one compact line per message, Ready, entry list and
// configuration change, and the per-node summary printed with a failure.
// Only formatting lives here; nothing in this file draws randomness or
// changes state, so tracing a run never changes it (test/sim/determinism).

import {
  ConfChange,
  type ConfChangeI,
  type Entry,
  EntryType,
  type HardState,
  isEmptyHardState,
  isEmptySnap,
  type Message,
  MessageType,
  messageTypeNames,
  type Snapshot,
  StateType,
} from "../src/index.ts";
import type { SimNode } from "./node.ts";
import { describeOp } from "./state_machine.ts";

/** One line per node: role, term, log and configuration (printed with a failing trace). */
export function describeCluster(nodes: Iterable<SimNode>): string[] {
  const out: string[] = [];
  for (const n of nodes) {
    const r = n.raft;
    if (r === null) {
      out.push(
        `  n${n.id}: down (durable last=${n.storage.lastIndex()} hs=${fmtHS(n.storage.initialState().hardState)})`,
      );
      continue;
    }
    const log = r.raftLog;
    const prs: string[] = [];
    if (r.state === StateType.StateLeader) {
      r.trk.visit((id, pr) => prs.push(`${id}:${pr.toString()}`));
    }
    out.push(
      `  n${n.id}: ${["follower", "candidate", "leader", "precandidate"][r.state]} term=${r.term} vote=${r.vote} ` +
        `lead=${r.lead} first=${log.firstIndex()} last=${log.lastIndex()} commit=${log.committed} ` +
        `applied=${log.applied} sm=${n.sm.applied} cfg=${r.trk.config.toString()} transferee=${r.leadTransferee} ` +
        `elapsed=${r.electionElapsed}/${r.randomizedElectionTimeout}${n.async ? " async" : ""}` +
        (prs.length > 0 ? `\n      ${prs.join("\n      ")}` : ""),
    );
  }
  return out;
}

function fmtHS(hs: HardState): string {
  return `${hs.term}/${hs.vote}/${hs.commit}`;
}

export function describeCC(cc: ConfChangeI): string {
  const names = ["v", "r", "u", "l"];
  if (cc instanceof ConfChange) return `v1 ${names[cc.type]}${cc.nodeId}`;
  if (cc.changes.length === 0) return "v2 leave-joint";
  const tr = ["auto", "implicit", "explicit"][cc.transition];
  return `v2 ${tr} ${cc.changes.map((c) => `${names[c.type]}${c.nodeId}`).join(" ")}`;
}

function describeEntries(ents: readonly Entry[]): string {
  if (ents.length === 0) return "";
  const parts = ents.slice(0, 4).map((e) => {
    const what =
      e.type === EntryType.EntryNormal
        ? describeOp(e.data)
        : e.type === EntryType.EntryConfChange
          ? "cc"
          : "cc2";
    return `${e.index}/${e.term}:${what}`;
  });
  if (ents.length > 4) parts.push(`..${ents[ents.length - 1]!.index}`);
  return `[${parts.join(" ")}]`;
}

export function describeMessage(m: Message): string {
  let s = `${messageTypeNames[m.type]} ${m.from}->${m.to} t${m.term}`;
  switch (m.type) {
    case MessageType.MsgApp:
      s += ` prev=${m.index}/${m.logTerm} commit=${m.commit} ${describeEntries(m.entries)}`;
      break;
    case MessageType.MsgAppResp:
      s += ` idx=${m.index}${m.reject ? ` reject hint=${m.rejectHint}/${m.logTerm}` : ""}`;
      break;
    case MessageType.MsgVote:
    case MessageType.MsgPreVote:
      s += ` last=${m.index}/${m.logTerm}`;
      break;
    case MessageType.MsgVoteResp:
    case MessageType.MsgPreVoteResp:
      s += m.reject ? " reject" : " grant";
      break;
    case MessageType.MsgHeartbeat:
      s += ` commit=${m.commit}`;
      break;
    case MessageType.MsgSnap:
      s += ` snap=${m.snapshot?.metadata.index}/${m.snapshot?.metadata.term}`;
      break;
    case MessageType.MsgProp:
      s += ` ${describeEntries(m.entries)}`;
      break;
    case MessageType.MsgReadIndexResp:
      s += ` idx=${m.index}`;
      break;
  }
  return s;
}

export function describeReady(
  hs: HardState,
  ents: readonly Entry[],
  snap: Snapshot | null,
  committed: readonly Entry[],
  msgs: readonly Message[],
): string {
  const parts: string[] = [];
  if (!isEmptyHardState(hs)) parts.push(`hs=${hs.term}/${hs.vote}/${hs.commit}`);
  if (ents.length > 0) parts.push(`ents=${describeEntries(ents)}`);
  if (!isEmptySnap(snap)) parts.push(`snap=${snap!.metadata.index}/${snap!.metadata.term}`);
  if (committed.length > 0)
    parts.push(`apply=${committed[0]!.index}..${committed[committed.length - 1]!.index}`);
  if (msgs.length > 0) parts.push(`msgs=${msgs.map((m) => messageTypeNames[m.type]!.slice(3)).join(",")}`);
  return parts.join(" ");
}
