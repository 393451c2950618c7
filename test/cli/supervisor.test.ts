// The local cluster's restart policy, on a fake clock with fake children:
// exponential back-off capped at maxMs and reset after a long run, exit
// statuses that are final, and a stop that sends SIGTERM, then SIGKILL after
// the grace period, and restarts nothing.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type ChildHandle, Supervisor, type SupervisorEvent } from "../../src/cli/supervisor.ts";

class FakeClock {
  now = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  set = (fn: () => void, ms: number): unknown => {
    const id = ++this.seq;
    this.timers.set(id, { at: this.now + ms, fn });
    return id;
  };

  clear = (t: unknown): void => {
    this.timers.delete(t as number);
  };

  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const due = [...this.timers.entries()]
        .filter(([, t]) => t.at <= end)
        .sort((a, b) => a[1].at - b[1].at)[0];
      if (due === undefined) break;
      this.timers.delete(due[0]);
      this.now = due[1].at;
      due[1].fn();
    }
    this.now = end;
  }

  get pending(): number {
    return this.timers.size;
  }
}

class FakeChild implements ChildHandle {
  readonly signals: NodeJS.Signals[] = [];
  constructor(
    readonly pid: number,
    private readonly onExit: (code: number | null, signal: NodeJS.Signals | null) => void,
  ) {}
  kill(signal: NodeJS.Signals): void {
    this.signals.push(signal);
  }
  exit(code: number | null, signal: NodeJS.Signals | null = null): void {
    this.onExit(code, signal);
  }
}

function setup(opts: { noRestart?: number[]; failSpawn?: () => boolean; maxFailures?: number } = {}) {
  const clock = new FakeClock();
  const children = new Map<string, FakeChild[]>();
  const events: SupervisorEvent[] = [];
  let pid = 100;
  const sup = new Supervisor({
    spawn: (name, onExit) => {
      if (opts.failSpawn?.()) throw new Error("EAGAIN");
      const c = new FakeChild(++pid, onExit);
      children.set(name, [...(children.get(name) ?? []), c]);
      return c;
    },
    now: () => clock.now,
    setTimer: clock.set,
    clearTimer: clock.clear,
    onEvent: (e) => events.push(e),
    noRestart: new Set(opts.noRestart ?? []),
    ...(opts.maxFailures !== undefined ? { maxFailures: opts.maxFailures } : {}),
  });
  const last = (name: string) => children.get(name)!.at(-1)!;
  const delays = () => events.filter((e) => e.type === "restarting").map((e) => (e as { inMs: number }).inMs);
  return { clock, children, events, sup, last, delays };
}

test("supervisor: a dying child is restarted after 100 ms, doubling per quick failure up to 5 s", () => {
  const { clock, children, sup, last, delays } = setup();
  sup.start(["m1", "m2"]);
  assert.equal(children.get("m1")!.length, 1);
  for (let i = 0; i < 8; i++) {
    last("m1").exit(null, "SIGKILL");
    const wait = delays().at(-1)!;
    clock.advance(wait - 1);
    assert.equal(children.get("m1")!.length, i + 1, "not restarted before the back-off ends");
    clock.advance(1);
    assert.equal(children.get("m1")!.length, i + 2, "restarted when it ends");
    clock.advance(50); // a quick failure: the run is short
  }
  assert.deepEqual(delays(), [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
  assert.equal(children.get("m2")!.length, 1, "the other child is untouched");
  assert.equal(sup.child("m1"), last("m1"));
});

test("supervisor: a child that ran for 10 s or more starts the back-off over", () => {
  const { clock, sup, last, delays } = setup();
  sup.start(["m1"]);
  for (const ran of [10, 10, 10, 10_000, 10]) {
    clock.advance(ran);
    last("m1").exit(1);
    clock.advance(delays().at(-1)!);
  }
  assert.deepEqual(delays(), [100, 200, 400, 100, 200]);
});

test("supervisor: exit statuses listed as final are not restarted; others are, status 0 included", () => {
  const { clock, sup, last, events, children } = setup({ noRestart: [2, 5, 6, 7] });
  sup.start(["m1", "m2", "m3"]);
  last("m1").exit(7);
  last("m2").exit(0);
  last("m3").exit(3); // port in use: may be freed
  clock.advance(1000);
  assert.equal(children.get("m1")!.length, 1);
  assert.equal(children.get("m2")!.length, 2);
  assert.equal(children.get("m3")!.length, 2);
  assert.deepEqual(
    events.filter((e) => e.type === "given-up"),
    [{ type: "given-up", name: "m1", code: 7, why: "final-status" }],
  );
  assert.equal(sup.allGivenUp, false);
  last("m2").exit(2);
  last("m3").exit(6);
  assert.equal(sup.allGivenUp, true);
  assert.equal(clock.pending, 0, "nothing scheduled");
});

test("supervisor: a spawn that throws is reported and retried with back-off", () => {
  let fail = true;
  const { clock, sup, events, children } = setup({ failSpawn: () => fail });
  sup.start(["m1"]);
  assert.equal(events[0]!.type, "spawn-failed");
  assert.deepEqual(events[1], { type: "restarting", name: "m1", inMs: 100, attempt: 1 });
  fail = false;
  clock.advance(100);
  assert.equal(children.get("m1")!.length, 1);
  assert.deepEqual(events.at(-1), { type: "started", name: "m1", pid: 101, restarts: 1 });
});

test("supervisor: stop sends SIGTERM, SIGKILL after the grace period, cancels restarts and restarts nothing", async () => {
  const { clock, sup, last, children } = setup();
  sup.start(["m1", "m2", "m3"]);
  last("m3").exit(null, "SIGKILL"); // waiting to restart
  let stopped = false;
  const done = sup.stop().then(() => {
    stopped = true;
  });
  assert.equal(sup.isStopping, true);
  assert.deepEqual(last("m1").signals, ["SIGTERM"]);
  assert.deepEqual(last("m2").signals, ["SIGTERM"]);
  last("m1").exit(0);
  clock.advance(11_999);
  await Promise.resolve();
  assert.equal(stopped, false, "m2 has not exited");
  assert.deepEqual(last("m2").signals, ["SIGTERM"]);
  clock.advance(1);
  assert.deepEqual(last("m2").signals, ["SIGTERM", "SIGKILL"]);
  last("m2").exit(null, "SIGKILL");
  await done;
  assert.equal(stopped, true);
  clock.advance(60_000);
  assert.equal(children.get("m3")!.length, 1, "the pending restart was cancelled");
  assert.equal(children.get("m1")!.length, 1);
  assert.equal(children.get("m2")!.length, 1);
  assert.equal(clock.pending, 0);
});

test("supervisor: a crash loop is given up on after maxFailures quick failures; long runs reset the count", () => {
  const { clock, sup, last, events, children, delays } = setup({ maxFailures: 3 });
  sup.start(["m1"]);
  for (let i = 0; i < 2; i++) {
    last("m1").exit(1);
    clock.advance(delays().at(-1)!);
  }
  clock.advance(10_000); // this run counts as a success
  last("m1").exit(1);
  clock.advance(delays().at(-1)!);
  for (let i = 0; i < 2; i++) {
    last("m1").exit(3);
    clock.advance(delays().at(-1)!);
  }
  assert.equal(children.get("m1")!.length, 6);
  last("m1").exit(3);
  assert.deepEqual(events.at(-1), { type: "given-up", name: "m1", code: 3, why: "too-many-failures" });
  assert.equal(sup.allGivenUp, true);
  clock.advance(60_000);
  assert.equal(children.get("m1")!.length, 6);
});
