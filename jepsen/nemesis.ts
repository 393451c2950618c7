// Faults, one at a time, on a schedule drawn from the seed. Each fault is
// injected, held, and healed before the next one; between faults the
// cluster runs undisturbed for a while. Kinds:
//   kill        SIGKILL a member (the leader half of the time), restart it
//               after a moment;
//   pause       SIGSTOP a member (the leader half of the time) for several
//               election timeouts, then SIGCONT;
//   partition   cut the network (isolate one member, possibly the leader;
//               split into a majority and a minority; with 5 members, a
//               bridge), by dropping or freezing traffic, then heal;
//   flap        kill a member, restart it, and as soon as it serves
//               requests kill it again, a few times, while the clients send
//               it most of their requests: in-flight requests of one
//               incarnation meet the next one's (the pattern behind issue
//               13's restart bug). Meanwhile the member's log catch-up stream
//               from the leader is delayed a few hundred ms after each start
//               (see Network.holdResponses), so that entries left by the
//               previous incarnation arrive while the new one's first
//               requests wait;
//   membership  remove a member, wipe its data, add it back with --join
//               (as a voter, or as a learner then promoted). Only when every
//               member is up, so a quorum always remains.

import type { Cluster, Member } from "./cluster.ts";
import { adminRequest, sleep } from "./cluster.ts";
import { ClusterSetupError } from "./errors.ts";
import type { CutMode } from "./proxy.ts";
import type { Prng } from "./rng.ts";

export const FAULT_KINDS = ["kill", "pause", "partition", "flap", "membership"] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultEvent {
  kind: FaultKind;
  /** ms since the run began */
  start: number;
  end: number;
  detail: string;
  /** Processes killed by this fault (flap kills several times). */
  kills: number;
}

export interface NemesisOptions {
  kinds: FaultKind[];
  /** The members' election timeout in ms (tick × election ticks). */
  electionMs: number;
  /** Quiet time between faults: uniform in [min, max] ms. */
  gapMs: [number, number];
  /** How long a member may take to answer /health after a (re)start. */
  startTimeoutMs: number;
  /** Kill-restart rounds of a flap, uniform in [min, max]. */
  flapRounds: [number, number];
}

export class Nemesis {
  readonly events: FaultEvent[] = [];
  private readonly cluster: Cluster;
  private readonly rng: Prng;
  private readonly opts: NemesisOptions;
  private readonly clock: () => number;
  private readonly log: (line: string) => void;

  /** Called with the flap's target when a flap begins and null when it ends. */
  onFocus: (slot: number | null) => void = () => {};

  constructor(
    cluster: Cluster,
    rng: Prng,
    opts: NemesisOptions,
    clock: () => number,
    log: (line: string) => void,
  ) {
    this.cluster = cluster;
    this.rng = rng;
    this.opts = opts;
    this.clock = clock;
    this.log = log;
  }

  /**
   * Injects faults until `over()` (checked between faults), or until
   * `decks` decks are dealt. Kinds are drawn from a shuffled deck of all
   * enabled kinds, refilled when empty, so that even a short run sees each
   * kind.
   */
  async run(over: () => boolean, decks = Number.POSITIVE_INFINITY): Promise<void> {
    if (this.opts.kinds.length === 0) return;
    let deck: FaultKind[] = [];
    let dealt = 0;
    for (;;) {
      const [lo, hi] = this.opts.gapMs;
      const gap = this.rng.range(lo, hi);
      const until = Date.now() + gap;
      while (Date.now() < until && !over()) await sleep(Math.min(100, until - Date.now()));
      if (over()) return;
      if (deck.length === 0) {
        if (dealt === decks) return;
        deck = this.rng.sample(this.opts.kinds, this.opts.kinds.length);
        dealt++;
      }
      await this.inject(deck.pop()!);
    }
  }

  private async inject(kind: FaultKind): Promise<void> {
    const ev: FaultEvent = { kind, start: this.clock(), end: 0, detail: "", kills: 0 };
    this.events.push(ev);
    switch (kind) {
      case "kill":
        await this.kill(ev);
        break;
      case "pause":
        await this.pause(ev);
        break;
      case "partition":
        await this.partition(ev);
        break;
      case "flap":
        await this.flap(ev);
        break;
      case "membership":
        await this.membership(ev);
        break;
    }
    ev.end = this.clock();
    this.log(`${kind}: ${ev.detail} (${((ev.end - ev.start) / 1000).toFixed(1)} s)`);
  }

  /** The leader half of the time (when one is known), else a random running member. */
  private async target(): Promise<Member | null> {
    const up = this.cluster.members.filter((m) => m.state === "up" && m.running);
    if (up.length === 0) return null;
    if (this.rng.chance(0.5)) {
      const l = await this.cluster.anyLeader();
      if (l !== null && l.state === "up") return l;
    }
    return this.rng.pick(up);
  }

  private async restart(m: Member, pollMs = 20): Promise<void> {
    this.cluster.start(m);
    await this.cluster.waitHealthy(m, this.opts.startTimeoutMs, pollMs);
  }

  private async kill(ev: FaultEvent): Promise<void> {
    const m = await this.target();
    if (m === null) return;
    const down = this.rng.range(200, 2500);
    ev.detail = `${m.name} down ${down} ms`;
    await this.cluster.kill(m, "nemesis kill");
    ev.kills++;
    await sleep(down);
    await this.restart(m);
  }

  private async pause(ev: FaultEvent): Promise<void> {
    const m = await this.target();
    if (m === null) return;
    const ms = Math.round(this.opts.electionMs * (2 + this.rng.float() * 4));
    ev.detail = `${m.name} stopped ${ms} ms`;
    this.cluster.pause(m);
    await sleep(ms);
    this.cluster.resume(m);
  }

  private async partition(ev: FaultEvent): Promise<void> {
    const n = this.cluster.members.length;
    const slots = this.cluster.members.map((m) => m.slot);
    const mode: CutMode = this.rng.chance(0.5) ? "drop" : "freeze";
    const pattern = this.rng.pick(n >= 5 ? ["isolate", "split", "bridge"] : ["isolate", "split"]);
    let groups: number[][];
    let what: string;
    if (pattern === "isolate") {
      const leader = this.rng.chance(0.5) ? await this.cluster.anyLeader() : null;
      const one = leader?.slot ?? this.rng.pick(slots);
      groups = [[one], slots.filter((s) => s !== one)];
      what = `isolate m${one + 1}${leader !== null ? " (leader)" : ""}`;
    } else if (pattern === "split") {
      const shuffled = this.rng.sample(slots, n);
      const minority = Math.floor((n - 1) / 2);
      groups = [shuffled.slice(0, minority), shuffled.slice(minority)];
      what = `split ${groups.map((g) => g.map((s) => `m${s + 1}`).join(" ")).join(" | ")}`;
    } else {
      // Two sides that only the bridge member connects.
      const s = this.rng.sample(slots, n);
      const half = Math.floor((n - 1) / 2);
      const a = s.slice(0, half);
      const b = s.slice(half, 2 * half);
      this.cluster.net.cutPairsOf(
        a.flatMap((x) => b.map((y) => [x, y] as [number, number])),
        mode,
      );
      groups = [];
      what = `bridge via m${s[n - 1]! + 1}: ${a.map((x) => `m${x + 1}`).join(" ")} / ${b.map((x) => `m${x + 1}`).join(" ")}`;
    }
    if (groups.length > 0) this.cluster.partition(groups, mode);
    const ms = this.rng.range(1000, 5000);
    ev.detail = `${what}, ${mode}, ${ms} ms`;
    await sleep(ms);
    this.cluster.heal();
  }

  private async flap(ev: FaultEvent): Promise<void> {
    const m = await this.target();
    if (m === null) return;
    const rounds = this.rng.range(this.opts.flapRounds[0], this.opts.flapRounds[1]);
    const gaps: number[] = [];
    const holdMs = this.rng.range(300, 900);
    this.onFocus(m.slot);
    this.cluster.net.holdResponses(m.slot, "/raft/stream/msgapp", holdMs);
    try {
      await this.cluster.kill(m, "nemesis flap");
      ev.kills++;
      for (let i = 0; i < rounds; i++) {
        await this.restart(m, 5);
        // Serving again: let the clients' writes pile in, then kill it once
        // more. Mostly before its catch-up arrives: its first requests are
        // then proposed (and committed by the others) but not applied here,
        // and the next incarnation applies them only after its own first
        // requests (numbered from 1 again) are waiting.
        const ms = this.rng.chance(0.6) ? this.rng.range(10, 100) : this.rng.range(100, 400);
        gaps.push(ms);
        await sleep(ms);
        await this.cluster.kill(m, "nemesis flap");
        ev.kills++;
      }
      await this.restart(m);
    } finally {
      this.onFocus(null);
      this.cluster.net.releaseHolds();
    }
    ev.detail = `${m.name} killed ${ev.kills} times, ${gaps.join("/")} ms after each restart (catch-up held ${holdMs} ms)`;
  }

  private async membership(ev: FaultEvent): Promise<void> {
    const c = this.cluster;
    if (c.members.some((m) => m.state !== "up" || !m.running)) {
      ev.detail = "skipped: not every member is up";
      return;
    }
    const m = this.rng.pick(c.members);
    const learner = this.rng.chance(0.5);
    const others = c.members.filter((x) => x !== m);
    const oldId = m.id;
    // Remove it (through another member; retried while there is no leader).
    m.state = "removed";
    m.expectingExit(true);
    await retry(`remove ${m.name}`, 20_000, async () => {
      const via = this.rng.pick(others);
      const r = await adminRequest(`${via.clientURL}/members/${oldId}`, "DELETE", undefined, 5000);
      if (r.status === 200 || r.status === 404) return true;
      // 409 UNSAFE_RECONFIGURATION: a change in flight, or a voter not heard from lately: wait.
      if (r.status >= 500 || r.status === 409) return false;
      throw new ClusterSetupError(`DELETE /members/${oldId}: ${r.status} ${r.body}`);
    });
    // A removed member stops by itself; do not wait forever.
    const deadline = Date.now() + 10_000;
    while (m.running && Date.now() < deadline) await sleep(50);
    if (m.running) await c.kill(m, "removed but still running");
    c.wipe(m);
    m.id = "";
    await retry(`join ${m.name}`, 30_000, async () => {
      const via = this.rng.pick(others);
      if (!m.running) c.start(m, { via: via.clientURL, learner });
      try {
        await c.waitHealthy(m, this.opts.startTimeoutMs);
        return true;
      } catch {
        // A join that failed (its POST timed out, say) exits; try again through another member.
        if (m.running) await c.kill(m, "join did not complete");
        if (c.members.length > 0) c.wipe(m);
        return false;
      }
    });
    m.state = "up";
    m.id = (await c.status(m)).id;
    if (learner) {
      await retry(`promote ${m.name}`, 60_000, async () => {
        const via = this.rng.pick(others);
        const r = await adminRequest(`${via.clientURL}/members/${m.id}/promote`, "POST", undefined, 5000);
        if (r.status === 200) return true;
        // Not caught up yet (412 LEARNER_NOT_READY; 400 in older versions), or a change in flight (409).
        if (r.status >= 500 || r.status === 400 || r.status === 409 || r.status === 412) return false;
        throw new ClusterSetupError(`POST /members/${m.id}/promote: ${r.status} ${r.body}`);
      });
    }
    ev.detail = `${m.name} removed (${oldId}), wiped, rejoined as ${m.id}${learner ? " (learner, promoted)" : ""}`;
  }

  /**
   * The final heal: every process running and unpaused, the network whole,
   * removed members back; waits until every member is healthy.
   */
  async healAll(timeoutMs: number): Promise<void> {
    const c = this.cluster;
    c.heal();
    for (const m of c.members) if (m.state === "paused") c.resume(m);
    for (const m of c.members) {
      if (m.state === "removed") {
        // A membership change that did not finish: bring the member back as a new one.
        if (m.running) await c.kill(m, "final heal");
        c.wipe(m);
        m.id = "";
        const via = c.members.find((x) => x.state === "up" && x.running)!;
        c.start(m, { via: via.clientURL, learner: false });
        m.state = "up";
      } else if (!m.running) c.start(m);
    }
    await Promise.all(c.members.map((m) => c.waitHealthy(m, timeoutMs)));
  }
}

/** Calls `fn` until it returns true; false or an error other than ClusterSetupError means retry. */
async function retry(what: string, timeoutMs: number, fn: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    try {
      if (await fn()) return;
    } catch (e) {
      if (e instanceof ClusterSetupError) throw e;
      last = (e as Error).message;
    }
    if (Date.now() > deadline)
      throw new ClusterSetupError(`${what} did not succeed in ${timeoutMs} ms ${last}`);
    await sleep(200);
  }
}
