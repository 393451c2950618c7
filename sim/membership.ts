// Membership: the configuration changes the clients propose (add a voter or
// a learner, promote, demote, remove, replace a voter; one at a time, or
// several through joint consensus, entered and left automatically or
// explicitly), the operator that shuts a removed member down once no member
// can still need its vote, and the detection of a membership deadlock.
//
// Invariants:
//   - a change is proposed only if it is valid for the leader's current
//     configuration (validated by raft's own Changer, as applying will), and
//     keeps between minVoters and 7 voters and at most 10 members;
//   - a new member gets a fresh ID (never reused) and starts empty before the
//     change is proposed, so the leader can catch it up by snapshot;
//   - a member is retired only after its removal committed and every member
//     of the most advanced configuration is up and has applied a
//     configuration without it;
//   - every draw comes from clientRng.

import {
  ConfChange,
  type ConfChangeI,
  ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeType,
  ConfChangeV2,
  compareIds,
  RaftError,
} from "../src/index.ts";
import { Changer, VoteResult } from "../src/internal.ts";
import type { Cluster } from "./cluster.ts";
import { describeCC } from "./describe.ts";
import { collectLeaseStats } from "./invariants.ts";
import type { SimNode } from "./node.ts";

export class Membership {
  constructor(private readonly c: Cluster) {}

  /**
   * Whether no node can win an election by raft's own rules: every live
   * voter needs, in its applied configuration, the vote of a node whose log
   * is more up to date (or that is down), and some such node has applied a
   * later configuration that no longer counts it as a voter, so it will not
   * campaign itself. Returns a description, or null.
   */
  membershipDeadlock(): string | null {
    const ahead = (a: { index: number; term: number }, b: { index: number; term: number }) =>
      a.term > b.term || (a.term === b.term && a.index > b.index);
    let blocker: string | null = null;
    let candidates = 0;
    for (const m of this.c.liveNodes()) {
      const r = m.raft!;
      if (!r.promotable()) continue;
      candidates++;
      const mine = r.raftLog.lastEntryID();
      const votes = new Map<bigint, boolean>();
      for (const id of r.trk.config.voters.ids()) {
        const v = this.c.nodes.get(id);
        const vr = v?.raft ?? null;
        const grant = id === m.id || (vr !== null && !ahead(vr.raftLog.lastEntryID(), mine));
        votes.set(id, grant);
        if (!grant && vr !== null && !vr.promotable() && vr.raftLog.committed > r.raftLog.committed) {
          blocker = `n${m.id} (config ${r.trk.config.toString()}, commit ${r.raftLog.committed}) needs n${id}, which applied a later config without itself (commit ${vr.raftLog.committed}) and has a longer log`;
        } else if (!grant && v !== undefined && v.retired && blocker === null) {
          blocker = `n${m.id} (config ${r.trk.config.toString()}) needs the vote of n${id}, which was removed and shut down`;
        }
      }
      if (r.trk.config.voters.voteResult(votes) === VoteResult.VoteWon) return null;
    }
    return candidates > 0 ? blocker : null;
  }

  /**
   * The operator shuts a removed node down once it is safe: it is not in
   * the configuration of the most advanced node, and every member of that
   * configuration is up and has applied a configuration without it (so no
   * member can still need its vote). A removed leader (without
   * stepDownOnRemoval) is stopped this way too, as etcd's server does.
   */
  retireRemoved(): void {
    let best: SimNode | null = null;
    for (const n of this.c.nodes.values()) {
      if (n.retired) continue;
      // A down node's configuration is unknown: wait until everyone is up.
      if (n.rn === null) return;
      if (best === null || n.sm.applied > best.sm.applied) best = n;
    }
    if (best === null || best.raft!.trk.config.voters.ids().size === 0) return;
    const progress = best.raft!.trk.progress;
    let candidate = false;
    for (const x of this.c.nodes.values()) {
      if (!x.retired && x.everMember && !progress.has(x.id)) {
        candidate = true;
        break;
      }
    }
    if (!candidate) return;
    const current = new Set(progress.keys());
    const configs: Set<bigint>[] = [];
    const members: SimNode[] = [];
    for (const id of current) {
      const m = this.c.nodes.get(id);
      if (m === undefined || m.rn === null) return;
      configs.push(new Set(m.raft!.trk.progress.keys()));
      members.push(m);
    }
    for (const x of [...this.c.nodes.values()]) {
      if (x.retired || !x.everMember || current.has(x.id)) continue;
      if (configs.some((c) => c.has(x.id))) continue;
      // Every member must have applied the removal itself: a member that just
      // restarted runs its snapshot's configuration, which may predate x,
      // until it re-applies its log; if it then misses the commit of x's
      // removal, only x can tell it (by refusing its vote with the commit).
      // Seeds 34384 and 44797 of --strict-lease failed without this.
      if (members.some((m) => !m.sm.removed.has(x.id))) continue;
      // Only a committed removal counts: a restarted node re-applies its log
      // and may briefly run a configuration older than one it had applied.
      if (!best.sm.removed.has(x.id)) continue;
      if (this.c.trace !== null)
        this.c.log(`operator: n${x.id} is out of every member's configuration; shutting it down`);
      collectLeaseStats(this.c.stats, x);
      x.crash();
      x.retired = true;
      this.c.fault("removed-member-shutdown");
    }
  }

  /** A member for a conf change to act on: in some profiles preferably the leader itself. */
  private pickMember(xs: bigint[], leader: bigint): bigint {
    const p = this.c.scenario.confChangeTargetsLeader;
    if (p > 0 && xs.includes(leader) && this.c.clientRng.chance(p)) return leader;
    return this.c.clientRng.pick(xs);
  }

  confChangeOp(): void {
    const l = this.c.leader();
    if (l === null) return;
    const rng = this.c.clientRng;
    const r = l.raft!;
    const pending = r.pendingConfIndex > r.raftLog.applied;
    // Mostly wait for the previous change; sometimes propose anyway to exercise raft's refusal.
    if (pending && !rng.chance(0.1)) return;
    const cfg = r.trk.config;
    const joint = cfg.voters.outgoing.size > 0;
    let cc: ConfChangeI;
    const newIds: bigint[] = [];
    if (joint) {
      if (cfg.autoLeave && !rng.chance(0.2)) return;
      cc = new ConfChangeV2();
    } else {
      const voters = [...cfg.voters.incoming.ids].sort(compareIds);
      const learners = [...(cfg.learners ?? [])].sort(compareIds);
      const used = new Set<bigint>();
      const changes: ConfChangeSingle[] = [];
      const count = rng.chance(0.35) ? rng.range(2, 3) : 1;
      for (let k = 0; k < count; k++) {
        const kind = rng.intn(7);
        const fresh = () => {
          const id = this.c.nextId++;
          newIds.push(id);
          return id;
        };
        const avail = (xs: bigint[]) => xs.filter((x) => !used.has(x));
        let single: [ConfChangeType, bigint] | null = null;
        if (kind === 0) single = [ConfChangeType.ConfChangeAddNode, fresh()];
        else if (kind === 1) single = [ConfChangeType.ConfChangeAddLearnerNode, fresh()];
        else if (kind <= 5) {
          // Promote a learner, remove a voter or a learner, demote a voter.
          const [type, pool] = (
            [
              [ConfChangeType.ConfChangeAddNode, learners],
              [ConfChangeType.ConfChangeRemoveNode, voters],
              [ConfChangeType.ConfChangeRemoveNode, learners],
              [ConfChangeType.ConfChangeAddLearnerNode, voters],
            ] as const
          )[kind - 2]!;
          const xs = avail(pool);
          if (xs.length > 0) single = [type, this.pickMember(xs, l.id)];
        } else if (avail(voters).length > 0) {
          // Replace a voter: remove one and add a fresh one.
          const v = this.pickMember(avail(voters), l.id);
          used.add(v);
          changes.push(single1(ConfChangeType.ConfChangeRemoveNode, v));
          single = [ConfChangeType.ConfChangeAddNode, fresh()];
        }
        if (single === null) continue;
        used.add(single[1]);
        changes.push(single1(single[0], single[1]));
      }
      if (changes.length === 0) return;
      const transition = rng.pick([
        ConfChangeTransition.ConfChangeTransitionAuto,
        ConfChangeTransition.ConfChangeTransitionAuto,
        ConfChangeTransition.ConfChangeTransitionJointImplicit,
        ConfChangeTransition.ConfChangeTransitionJointExplicit,
      ]);
      if (
        changes.length === 1 &&
        transition === ConfChangeTransition.ConfChangeTransitionAuto &&
        rng.chance(0.5)
      ) {
        cc = new ConfChange(changes[0]!.type, changes[0]!.nodeId);
      } else {
        cc = new ConfChangeV2(changes, transition);
      }
      // Validate against the leader's configuration exactly as applying will.
      const v2 = cc instanceof ConfChangeV2 ? cc : new ConfChangeV2(changes);
      let result: ReturnType<Changer["simple"]>;
      try {
        const chg = new Changer(r.trk, r.raftLog.lastIndex());
        const isJoint =
          v2.transition !== ConfChangeTransition.ConfChangeTransitionAuto || v2.changes.length > 1;
        result = isJoint
          ? chg.enterJoint(
              v2.transition !== ConfChangeTransition.ConfChangeTransitionJointExplicit,
              v2.changes,
            )
          : chg.simple(v2.changes);
      } catch {
        // Invalid for this configuration (e.g. a demotion outside joint consensus).
        return;
      }
      const nv = result.config.voters.incoming.size;
      const minV = Math.min(this.c.scenario.minVoters, cfg.voters.incoming.size);
      if (nv < minV || nv > 7 || result.progress.size > 10) return;
    }
    for (const id of newIds) this.c.startNode(this.c.newNode(id));
    this.c.touch(l);
    this.c.stats.confChangesProposed++;
    if (this.c.trace !== null) this.c.log(`n${l.id} proposeConfChange ${describeCC(cc)}`);
    try {
      l.rn!.proposeConfChange(cc);
    } catch (err) {
      if (!(err instanceof RaftError) || err.code !== "ERR_PROPOSAL_DROPPED") throw err;
      this.c.stats.proposalsDropped++;
    }
  }
}

function single1(type: ConfChangeType, id: bigint): ConfChangeSingle {
  return new ConfChangeSingle(type, id);
}
