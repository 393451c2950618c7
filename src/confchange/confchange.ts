// The Changer applies membership changes to a tracker configuration, either
// one voter at a time ("simple") or through a joint configuration, checking
// etcd's invariants before anything is handed back.

import { MajorityConfig } from "../quorum/index.ts";
import { ConfChangeSingle, ConfChangeType, type ConfState } from "../raftpb/types.ts";
import { Progress, ProgressMap, type ProgressTracker, type TrackerConfig } from "../tracker/index.ts";

/** A membership change that cannot be applied; the message is etcd's. */
export class ConfChangeError extends Error {
  readonly code = "ERR_CONF_CHANGE";
  constructor(message: string) {
    super(message);
    this.name = "ConfChangeError";
  }
}

export interface ChangeResult {
  config: TrackerConfig;
  progress: ProgressMap;
}

function addTo(set: Set<bigint> | null, id: bigint): Set<bigint> {
  const s = set ?? new Set<bigint>();
  s.add(id);
  return s;
}

function deleteFrom(set: Set<bigint> | null, id: bigint): Set<bigint> | null {
  if (set === null) return null;
  set.delete(id);
  return set.size === 0 ? null : set;
}

function isJoint(cfg: TrackerConfig): boolean {
  return cfg.voters.outgoing.size > 0;
}

function symdiff(a: Set<bigint>, b: Set<bigint>): number {
  let n = 0;
  for (const id of a) if (!b.has(id)) n++;
  for (const id of b) if (!a.has(id)) n++;
  return n;
}

export class Changer {
  tracker: ProgressTracker;
  lastIndex: number;

  constructor(tracker: ProgressTracker, lastIndex: number) {
    this.tracker = tracker;
    this.lastIndex = lastIndex;
  }

  /** Enters a joint configuration: the current voters become the outgoing half. */
  enterJoint(autoLeave: boolean, ccs: readonly ConfChangeSingle[]): ChangeResult {
    const { config: cfg, progress } = this.checkAndCopy();
    if (isJoint(cfg)) throw new ConfChangeError("config is already joint");
    if (cfg.voters.incoming.size === 0) {
      // Adding to an empty config is fine (bootstrap), joint consensus is not.
      throw new ConfChangeError("can't make a zero-voter config joint");
    }
    cfg.voters.outgoing = new MajorityConfig(cfg.voters.incoming.ids);
    this.apply(cfg, progress, ccs);
    cfg.autoLeave = autoLeave;
    return checkAndReturn(cfg, progress);
  }

  /** Leaves a joint configuration, promoting staged learners and dropping departed voters. */
  leaveJoint(): ChangeResult {
    const { config: cfg, progress } = this.checkAndCopy();
    if (!isJoint(cfg)) throw new ConfChangeError("can't leave a non-joint config");
    if (cfg.learnersNext !== null) {
      for (const id of cfg.learnersNext) {
        cfg.learners = addTo(cfg.learners, id);
        progress.get(id)!.isLearner = true;
      }
    }
    cfg.learnersNext = null;
    for (const id of cfg.voters.outgoing.ids) {
      const isVoter = cfg.voters.incoming.has(id);
      const isLearner = cfg.learners?.has(id) === true;
      if (!isVoter && !isLearner) progress.delete(id);
    }
    cfg.voters.outgoing = new MajorityConfig();
    cfg.autoLeave = false;
    return checkAndReturn(cfg, progress);
  }

  /** Applies changes that alter the voters by at most one, outside joint consensus. */
  simple(ccs: readonly ConfChangeSingle[]): ChangeResult {
    const { config: cfg, progress } = this.checkAndCopy();
    if (isJoint(cfg)) throw new ConfChangeError("can't apply simple config change in joint config");
    this.apply(cfg, progress, ccs);
    if (symdiff(this.tracker.config.voters.incoming.ids, cfg.voters.incoming.ids) > 1) {
      throw new ConfChangeError("more than one voter changed without entering joint config");
    }
    return checkAndReturn(cfg, progress);
  }

  private apply(cfg: TrackerConfig, progress: ProgressMap, ccs: readonly ConfChangeSingle[]): void {
    for (const cc of ccs) {
      // etcd zeroes the node ID of changes it decided not to apply.
      if (cc.nodeId === 0n) continue;
      switch (cc.type) {
        case ConfChangeType.ConfChangeAddNode:
          this.makeVoter(cfg, progress, cc.nodeId);
          break;
        case ConfChangeType.ConfChangeAddLearnerNode:
          this.makeLearner(cfg, progress, cc.nodeId);
          break;
        case ConfChangeType.ConfChangeRemoveNode:
          this.remove(cfg, progress, cc.nodeId);
          break;
        case ConfChangeType.ConfChangeUpdateNode:
          break;
        default:
          throw new ConfChangeError(`unexpected conf type ${cc.type}`);
      }
    }
    if (cfg.voters.incoming.size === 0) throw new ConfChangeError("removed all voters");
  }

  private makeVoter(cfg: TrackerConfig, progress: ProgressMap, id: bigint): void {
    const pr = progress.get(id);
    if (pr === undefined) {
      this.initProgress(cfg, progress, id, false);
      return;
    }
    pr.isLearner = false;
    cfg.learners = deleteFrom(cfg.learners, id);
    cfg.learnersNext = deleteFrom(cfg.learnersNext, id);
    cfg.voters.incoming.ids.add(id);
  }

  private makeLearner(cfg: TrackerConfig, progress: ProgressMap, id: bigint): void {
    const pr = progress.get(id);
    if (pr === undefined) {
      this.initProgress(cfg, progress, id, true);
      return;
    }
    if (pr.isLearner) return;
    // Remove it as a voter of the incoming config but keep its progress.
    this.remove(cfg, progress, id);
    progress.set(id, pr);
    // A voter of the outgoing config can only become a learner once the
    // joint config is left; stage it until then.
    if (cfg.voters.outgoing.has(id)) {
      cfg.learnersNext = addTo(cfg.learnersNext, id);
    } else {
      pr.isLearner = true;
      cfg.learners = addTo(cfg.learners, id);
    }
  }

  private remove(cfg: TrackerConfig, progress: ProgressMap, id: bigint): void {
    if (!progress.has(id)) return;
    cfg.voters.incoming.ids.delete(id);
    cfg.learners = deleteFrom(cfg.learners, id);
    cfg.learnersNext = deleteFrom(cfg.learnersNext, id);
    // A voter of the outgoing config keeps its progress until the joint config is left.
    if (!cfg.voters.outgoing.has(id)) progress.delete(id);
  }

  private initProgress(cfg: TrackerConfig, progress: ProgressMap, id: bigint, isLearner: boolean): void {
    if (isLearner) cfg.learners = addTo(cfg.learners, id);
    else cfg.voters.incoming.ids.add(id);
    // Probe from the last index; a brand-new member is marked recently active
    // so that CheckQuorum does not count it against the leader right away.
    progress.set(id, new Progress(Math.max(this.lastIndex, 1), this.tracker.newInflights(), isLearner, true));
  }

  private checkAndCopy(): ChangeResult {
    const cfg = this.tracker.config.clone();
    const progress = new ProgressMap();
    for (const [id, pr] of this.tracker.progress) progress.set(id, pr.shallowCopy());
    return checkAndReturn(cfg, progress);
  }
}

function checkInvariants(cfg: TrackerConfig, progress: ProgressMap): void {
  for (const ids of [cfg.voters.ids(), cfg.learners ?? [], cfg.learnersNext ?? []]) {
    for (const id of ids) {
      if (!progress.has(id)) throw new ConfChangeError(`no progress for ${id}`);
    }
  }
  for (const id of cfg.learnersNext ?? []) {
    if (!cfg.voters.outgoing.has(id))
      throw new ConfChangeError(`${id} is in LearnersNext, but not Voters[1]`);
    if (progress.get(id)!.isLearner) {
      throw new ConfChangeError(`${id} is in LearnersNext, but is already marked as learner`);
    }
  }
  for (const id of cfg.learners ?? []) {
    if (cfg.voters.outgoing.has(id)) throw new ConfChangeError(`${id} is in Learners and Voters[1]`);
    if (cfg.voters.incoming.has(id)) throw new ConfChangeError(`${id} is in Learners and Voters[0]`);
    if (!progress.get(id)!.isLearner) {
      throw new ConfChangeError(`${id} is in Learners, but is not marked as learner`);
    }
  }
  if (!isJoint(cfg) && cfg.autoLeave) throw new ConfChangeError("AutoLeave must be false when not joint");
}

function checkAndReturn(config: TrackerConfig, progress: ProgressMap): ChangeResult {
  checkInvariants(config, progress);
  return { config, progress };
}

/**
 * Rebuilds a configuration from a ConfState by replaying changes from an
 * empty config: the outgoing voters one by one, then (if joint) entering the
 * joint state with the incoming voters and learners.
 */
export function restore(chg: Changer, cs: ConfState): ChangeResult {
  const single = (type: ConfChangeType, nodeId: bigint) => new ConfChangeSingle(type, nodeId);
  const outgoing: ConfChangeSingle[] = cs.votersOutgoing.map((id) =>
    single(ConfChangeType.ConfChangeAddNode, id),
  );
  const incoming: ConfChangeSingle[] = [
    ...cs.votersOutgoing.map((id) => single(ConfChangeType.ConfChangeRemoveNode, id)),
    ...cs.voters.map((id) => single(ConfChangeType.ConfChangeAddNode, id)),
    ...cs.learners.map((id) => single(ConfChangeType.ConfChangeAddLearnerNode, id)),
    ...cs.learnersNext.map((id) => single(ConfChangeType.ConfChangeAddLearnerNode, id)),
  ];
  const tracker = chg.tracker;
  const step = (r: ChangeResult) => {
    tracker.setConfig(r.config, r.progress);
  };
  if (outgoing.length === 0) {
    for (const cc of incoming) step(chg.simple([cc]));
  } else {
    for (const cc of outgoing) step(chg.simple([cc]));
    step(chg.enterJoint(cs.autoLeave, incoming));
  }
  return { config: tracker.config, progress: tracker.progress };
}
