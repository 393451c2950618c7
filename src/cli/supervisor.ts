// Keeps a set of named child processes running: one that dies is restarted
// after a back-off, unless its exit status says a restart cannot help; a
// stop ends them all. The processes themselves (spawning, signals) and time
// are injected, so the policy is tested with a fake clock and fake children.
//
// Restart policy (systemd's Restart=on-failure with RestartPreventExitStatus,
// but restarting after a clean exit too: in a supervised local cluster the
// supervisor owns the members' lifetimes, and a member stops for good only
// when the whole cluster is stopped):
//   * Exit statuses listed in `noRestart` (tsraft-kv: 2 bad configuration,
//     5 foreign data dir, 6 damaged data, 7 removed from the cluster) are
//     final: the same start would fail the same way, or must not happen.
//   * Anything else (a signal such as SIGKILL, status 1, port in use, data
//     dir still locked by a dying process) is restarted after
//     initialMs * 2^(n-1), capped at maxMs, where n counts consecutive
//     failures; a child that ran for resetAfterMs or more starts over at n = 1.
//   * After maxFailures consecutive quick failures the child is given up on
//     (systemd's start limit): a crash loop is reported once, not forever.

/** A running child as the supervisor sees it (a ChildProcess fits). */
export interface ChildHandle {
  /** Its process ID, when it has one. */
  readonly pid?: number | undefined;
  /** Sends it a signal. */
  kill(signal: NodeJS.Signals): void;
}

/** What the supervisor reports: starts, exits, scheduled restarts, give-ups and spawn failures. */
export type SupervisorEvent =
  | { type: "started"; name: string; pid: number | undefined; restarts: number }
  | {
      type: "exited";
      name: string;
      pid: number | undefined;
      code: number | null;
      signal: NodeJS.Signals | null;
      upMs: number;
    }
  | { type: "restarting"; name: string; inMs: number; attempt: number }
  | { type: "given-up"; name: string; code: number | null; why: "final-status" | "too-many-failures" }
  | { type: "spawn-failed"; name: string; error: Error };

/** How the supervisor spawns, times and reports (clock and timers injected for tests). */
export interface SupervisorOptions {
  /** Starts child `name`; must call `onExit` exactly once when it ends. */
  spawn(name: string, onExit: (code: number | null, signal: NodeJS.Signals | null) => void): ChildHandle;
  /** Clock in ms. */
  now(): number;
  /** Schedules `fn` after `ms` (setTimeout); returns a handle for clearTimer. */
  setTimer(fn: () => void, ms: number): unknown;
  /** Cancels a timer from setTimer. */
  clearTimer(t: unknown): void;
  /** Receives every SupervisorEvent. */
  onEvent(e: SupervisorEvent): void;
  /** Exit statuses that end supervision of that child (default none). */
  noRestart?: ReadonlySet<number>;
  /** First restart delay in ms (doubles per consecutive failure). */
  initialMs?: number;
  /** Longest restart delay in ms. */
  maxMs?: number;
  /** A child that ran this long (ms) before exiting starts its back-off over. */
  resetAfterMs?: number;
  /** Consecutive quick failures after which a child is given up on (default: never). */
  maxFailures?: number;
  /** How long stop() waits after SIGTERM before SIGKILL (default 12 s). */
  stopGraceMs?: number;
}

/** Defaults of the back-off and stop timing, in ms. */
export const RESTART_DEFAULTS = { initialMs: 100, maxMs: 5_000, resetAfterMs: 10_000, stopGraceMs: 12_000 };

interface Slot {
  name: string;
  child: ChildHandle | null;
  startedAt: number;
  /** Consecutive failed runs (shorter than resetAfterMs). */
  failures: number;
  restarts: number;
  timer: unknown;
  givenUp: boolean;
  /** Resolves when the running child has exited. */
  exited: Promise<void> | null;
}

/**
 * Keeps named child processes running: restarts each with exponential
 * back-off when it exits (unless its status is in noRestart or it keeps
 * failing), and stops them all with SIGTERM then SIGKILL (see the top of this file).
 */
export class Supervisor {
  private readonly o: SupervisorOptions;
  private readonly slots = new Map<string, Slot>();
  private stopping: Promise<void> | null = null;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly resetAfterMs: number;

  constructor(opts: SupervisorOptions) {
    this.o = opts;
    this.initialMs = opts.initialMs ?? RESTART_DEFAULTS.initialMs;
    this.maxMs = opts.maxMs ?? RESTART_DEFAULTS.maxMs;
    this.resetAfterMs = opts.resetAfterMs ?? RESTART_DEFAULTS.resetAfterMs;
  }

  /** Starts one child per name. */
  start(names: readonly string[]): void {
    for (const name of names) {
      if (this.slots.has(name)) throw new Error(`supervisor: ${name} is started already`);
      const slot: Slot = {
        name,
        child: null,
        startedAt: 0,
        failures: 0,
        restarts: 0,
        timer: null,
        givenUp: false,
        exited: null,
      };
      this.slots.set(name, slot);
      this.run(slot);
    }
  }

  /** The running child of `name` (null while it is down or waiting to restart). */
  child(name: string): ChildHandle | null {
    return this.slots.get(name)?.child ?? null;
  }

  /** Whether every child has been given up on (none is running or waiting to restart). */
  get allGivenUp(): boolean {
    return this.slots.size > 0 && [...this.slots.values()].every((s) => s.givenUp);
  }

  /** Whether stop() has been called. */
  get isStopping(): boolean {
    return this.stopping !== null;
  }

  /**
   * Stops supervising: cancels pending restarts, sends SIGTERM to every
   * running child, SIGKILL to those still running after stopGraceMs, and
   * resolves once all have exited. Idempotent.
   */
  stop(): Promise<void> {
    if (this.stopping === null) this.stopping = this.doStop();
    return this.stopping;
  }

  /** Sends SIGKILL to every running child at once (a second Ctrl-C). */
  killAll(): void {
    for (const s of this.slots.values()) s.child?.kill("SIGKILL");
  }

  private async doStop(): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const s of this.slots.values()) {
      if (s.timer !== null) this.o.clearTimer(s.timer);
      s.timer = null;
      if (s.child !== null && s.exited !== null) {
        s.child.kill("SIGTERM");
        waits.push(s.exited);
      }
    }
    const grace = this.o.setTimer(() => this.killAll(), this.o.stopGraceMs ?? RESTART_DEFAULTS.stopGraceMs);
    await Promise.all(waits);
    this.o.clearTimer(grace);
  }

  private run(slot: Slot): void {
    slot.timer = null;
    if (this.stopping !== null) return;
    let settle!: () => void;
    slot.exited = new Promise<void>((r) => {
      settle = r;
    });
    slot.startedAt = this.o.now();
    let child: ChildHandle;
    try {
      child = this.o.spawn(slot.name, (code, signal) => {
        if (slot.child === child) slot.child = null;
        settle();
        this.onExit(slot, child, code, signal);
      });
    } catch (err) {
      settle();
      this.o.onEvent({ type: "spawn-failed", name: slot.name, error: err as Error });
      this.scheduleRestart(slot);
      return;
    }
    slot.child = child;
    this.o.onEvent({ type: "started", name: slot.name, pid: child.pid, restarts: slot.restarts });
  }

  private onExit(slot: Slot, child: ChildHandle, code: number | null, signal: NodeJS.Signals | null): void {
    const upMs = this.o.now() - slot.startedAt;
    this.o.onEvent({ type: "exited", name: slot.name, pid: child.pid, code, signal, upMs });
    if (this.stopping !== null) return;
    if (code !== null && this.o.noRestart?.has(code)) {
      slot.givenUp = true;
      this.o.onEvent({ type: "given-up", name: slot.name, code, why: "final-status" });
      return;
    }
    if (upMs >= this.resetAfterMs) slot.failures = 0;
    if (slot.failures >= (this.o.maxFailures ?? Number.POSITIVE_INFINITY)) {
      slot.givenUp = true;
      this.o.onEvent({ type: "given-up", name: slot.name, code, why: "too-many-failures" });
      return;
    }
    this.scheduleRestart(slot);
  }

  private scheduleRestart(slot: Slot): void {
    slot.failures++;
    const inMs = Math.min(this.maxMs, this.initialMs * 2 ** (slot.failures - 1));
    this.o.onEvent({ type: "restarting", name: slot.name, inMs, attempt: slot.failures });
    slot.timer = this.o.setTimer(() => {
      slot.restarts++;
      this.run(slot);
    }, inMs);
  }
}
