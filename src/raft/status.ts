// Snapshots of a raft instance's state for monitoring.

import type { HardState } from "../raftpb/index.ts";
import type { Progress, TrackerConfig } from "../tracker/index.ts";
import type { Raft, SoftState } from "./raft.ts";
import { stateTypeNames } from "./raft.ts";

/** Cheap status: no allocation beyond the object itself. */
export interface BasicStatus {
  id: bigint;
  hardState: HardState;
  softState: SoftState;
  applied: number;
  leadTransferee: bigint;
}

/** Full status: adds the configuration and, on the leader, a copy of every member's progress. */
export interface Status extends BasicStatus {
  config: TrackerConfig;
  /** Present on the leader only. */
  progress: Map<bigint, Progress> | null;
}

export function getBasicStatus(r: Raft): BasicStatus {
  return {
    id: r.id,
    hardState: r.hardState(),
    softState: r.softState(),
    applied: r.raftLog.applied,
    leadTransferee: r.leadTransferee,
  };
}

export function getStatus(r: Raft): Status {
  const s = getBasicStatus(r) as Status;
  s.progress = null;
  if (s.softState.raftState === 2) {
    const m = new Map<bigint, Progress>();
    r.trk.visit((id, pr) => {
      const c = pr.shallowCopy();
      c.inflights = pr.inflights.clone();
      m.set(id, c);
    });
    s.progress = m;
  }
  s.config = r.trk.config.clone();
  return s;
}

/** etcd's JSON rendering of a Status (IDs in hex). */
export function statusToJSON(s: Status): string {
  let j =
    `{"id":"${s.id.toString(16)}","term":${s.hardState.term},"vote":"${s.hardState.vote.toString(16)}",` +
    `"commit":${s.hardState.commit},"lead":"${s.softState.lead.toString(16)}",` +
    `"raftState":${JSON.stringify(stateTypeNames[s.softState.raftState])},"applied":${s.applied},"progress":{`;
  if (s.progress !== null) {
    const parts: string[] = [];
    for (const [id, pr] of s.progress) {
      const st = ["StateProbe", "StateReplicate", "StateSnapshot"][pr.state];
      parts.push(
        `"${id.toString(16)}":{"match":${pr.match},"next":${pr.next},"state":${JSON.stringify(st)}}`,
      );
    }
    j += parts.join(",");
  }
  return `${j}},"leadtransferee":"${s.leadTransferee.toString(16)}"}`;
}
