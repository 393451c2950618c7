// The Changer applies membership changes to a tracker configuration, either
// one voter at a time ("simple") or through a joint configuration, checking
// etcd's invariants before anything is handed back.
//
// Why two ways. Changing the voters from C_old to C_new in one step is safe
// only if every majority of C_old intersects every majority of C_new, which
// holds when the two differ by at most one voter (adding or removing one).
// Any larger change, including replacing a voter (one removed, one added),
// goes through joint consensus: first C_old,new, where decisions need a
// majority of both (quorum/joint.ts), then C_new alone. Each step is itself
// safe, so every moment has intersecting quorums.
//
// When changes take effect. A configuration change is an entry in the log;
// raft switches to it when the application applies it (RawNode.
// applyConfChange), not when it is appended or committed. Raft (raft.ts
// propose) allows at most one unapplied change at a time
// (pendingConfIndex), so the configurations of two changes can never be in
// force concurrently. While joint, only the change that leaves the joint
// configuration is accepted.
//
// Leaving a joint configuration: an empty ConfChangeV2. With autoLeave (the
// default transitions ConfChangeTransitionAuto and ...JointImplicit), the
// leader proposes it itself as soon as it has applied the entry that entered
// the joint configuration (raft.ts appliedTo); with
// ConfChangeTransitionJointExplicit the application must propose it.
//
// Learners receive the log but never vote and never count for a quorum.
// A voter of the outgoing configuration cannot become a learner while the
// joint configuration lasts (it still votes in the outgoing half); it is
// staged in learnersNext and becomes a learner when the joint state is left.
//
// Invariants checked after every change (checkInvariants), as etcd does:
// - every voter (of either half), learner and staged learner has a Progress;
// - learnersNext members are outgoing voters, not yet marked as learners;
// - learners are in neither half of the voters, and are marked as learners;
// - autoLeave is only set while joint.
// The Changer works on copies (checkAndCopy) so that a refused change leaves
// the tracker as it was; the caller installs the result.

import { MajorityConfig } from "../quorum/index.ts";
import { ConfChangeSingle, ConfChangeType, type ConfState } from "../raftpb/index.ts";
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
  /** The current configuration; never modified here (see checkAndCopy). */
  tracker: ProgressTracker;
  /** The log's last index: new members are probed from there (see initProgress). */
  lastIndex: number;

  constructor(tracker: ProgressTracker, lastIndex: number) {
    this.tracker = tracker;
    this.lastIndex = lastIndex;
  }

  /**
   * Enters a joint configuration: the current voters become the outgoing
   * half, and the changes are applied to the incoming half (so incoming is
   * C_new and outgoing C_old). Refused when already joint, and for an empty
   * configuration: a joint state with no outgoing quorum would not protect
   * anything, and bootstrapping adds voters one at a time instead.
   */
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

  /**
   * Leaves a joint configuration: the outgoing half is dropped, staged
   * learners (learnersNext) become learners, and outgoing voters that are
   * neither incoming voters nor learners lose their Progress (they are no
   * longer members).
   */
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

  /**
   * Applies changes that alter the voters by at most one, outside joint
   * consensus (any number of learner changes is fine: learners are in no
   * quorum). More than one voter changed would break quorum intersection
   * between the old and the new configuration, so it is refused.
   */
  simple(ccs: readonly ConfChangeSingle[]): ChangeResult {
    const { config: cfg, progress } = this.checkAndCopy();
    if (isJoint(cfg)) throw new ConfChangeError("can't apply simple config change in joint config");
    this.apply(cfg, progress, ccs);
    if (symdiff(this.tracker.config.voters.incoming.ids, cfg.voters.incoming.ids) > 1) {
      throw new ConfChangeError("more than one voter changed without entering joint config");
    }
    return checkAndReturn(cfg, progress);
  }

  // Applies the changes to the incoming half (and the learner sets), in order.
  // The result must keep at least one voter: a configuration without voters
  // could never elect a leader or commit again.
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

  // Adds id as an incoming voter; a learner (or staged learner) is promoted
  // and keeps its Progress, so replication to it goes on where it was.
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

  // Adds id as a learner, or demotes a voter to one (keeping its Progress).
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

  // Removes id from the incoming half and the learner sets; removing a
  // non-member is a no-op (etcd accepts it too).
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

  // A copy of the current configuration and of every Progress (sharing the
  // inflights windows, which no change touches), checked first: a change
  // must not start from a configuration that already breaks the invariants.
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
 *
 * Replaying through the Changer, rather than assigning the sets, means a
 * ConfState from a snapshot or from storage passes the same checks as a
 * live change: a ConfState that no sequence of valid changes could produce
 * is refused. Without an outgoing half, the voters and learners are added
 * one simple change at a time, each valid on its own.
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
