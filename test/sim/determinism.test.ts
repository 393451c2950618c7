// One seed fixes the whole run: replaying it reproduces every step.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { runSeed } from "../../sim/simulator.ts";
import { Xoshiro128 } from "../../src/index.ts";

function traced(seed: number): { digest: string; lines: number; steps: number } {
  const h = createHash("sha256");
  let lines = 0;
  const r = runSeed({
    seed,
    trace: (l) => {
      h.update(l);
      lines++;
    },
  });
  return { digest: h.digest("hex"), lines, steps: r.stats.steps };
}

test("a seed replays exactly: same trace, same statistics", () => {
  for (const seed of [3, 4242]) {
    const a = traced(seed);
    const b = traced(seed);
    assert.deepEqual(a, b);
    assert.ok(a.lines > 1000);
    // Tracing does not change the run.
    assert.deepEqual(runSeed({ seed }).stats, runSeed({ seed }).stats);
    assert.equal(runSeed({ seed }).stats.steps, a.steps);
  }
});

test("different seeds explore different runs", () => {
  assert.notEqual(traced(5).digest, traced(6).digest);
});

test("the PRNG is a pure function of its seed and forks independently", () => {
  const a = new Xoshiro128(99);
  const b = new Xoshiro128(99);
  const xs = Array.from({ length: 50 }, () => a.next32());
  assert.deepEqual(
    xs,
    Array.from({ length: 50 }, () => b.next32()),
  );
  assert.notDeepEqual(
    Array.from({ length: 10 }, () => new Xoshiro128(1).fork().next32()),
    Array.from({ length: 10 }, () => new Xoshiro128(2).fork().next32()),
  );
  const r = new Xoshiro128(7);
  for (let i = 0; i < 1000; i++) {
    const v = r.intn(5);
    assert.ok(Number.isInteger(v) && v >= 0 && v < 5);
  }
});

test("the generator is xoshiro128**: the reference implementation's outputs for state {1, 2, 3, 4}", () => {
  // Printed by Blackman and Vigna's C reference (xoshiro128starstar.c) seeded with s = {1, 2, 3, 4}.
  const r = Xoshiro128.fromState(1, 2, 3, 4);
  assert.deepEqual(
    Array.from({ length: 8 }, () => r.next32()),
    [11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849],
  );
  // The same reference after 1,000 draws from another state: the whole 128-bit state is exercised.
  const q = Xoshiro128.fromState(0x9e3779b9, 0x7f4a7c15, 0xf39cc060, 0x5ced5803);
  for (let i = 0; i < 1000; i++) q.next32();
  assert.deepEqual(
    Array.from({ length: 4 }, () => q.next32()),
    [1854115836, 890915040, 336666937, 3885473944],
  );
  assert.throws(() => Xoshiro128.fromState(0, 0, 0, 0), { code: "ERR_RANDOM_ARGUMENT" });
  assert.throws(() => r.pick([]), { code: "ERR_RANDOM_ARGUMENT" });
});

function cli(...args: string[]): { status: number | null; out: string } {
  const res = spawnSync(process.execPath, ["--import", "tsx", "sim/cli.ts", ...args], { encoding: "utf8" });
  return { status: res.status, out: res.stdout + res.stderr };
}

test("npm run sim: a batch on worker threads, and a single traced seed", () => {
  const batch = cli("--seeds", "6", "--jobs", "2", "--ticks", "150");
  assert.equal(batch.status, 0, batch.out);
  assert.match(
    batch.out,
    /6 seeds, [\d,]+ steps, [\d,]+ ticks simulated in [\d.]+s: [\d.]+ seeds\/s, [\d,]+ steps\/s/,
  );
  assert.match(batch.out, /faults injected: /);
  assert.match(batch.out, /no failures/);
  const one = cli("--seed", "2", "--ticks", "150", "--trace");
  assert.equal(one.status, 0, one.out);
  assert.match(one.out, /seed 2: .*nodes, election=/);
  assert.match(one.out, /seed 2: ok \(\d+ steps\)/);
});

test("npm run sim: a failure prints the seed, a short trace and the replay command", () => {
  const r = cli(
    "--seeds",
    "3",
    "--jobs",
    "1",
    "--bug",
    "vote-without-log-check",
    "--until-fail",
    "--trace-lines",
    "10",
  );
  assert.equal(r.status, 1, r.out);
  const m = /seed (\d+) FAILED: (leader-completeness|committed-entry-unprotected)/.exec(r.out);
  assert.ok(m !== null, r.out);
  assert.match(r.out, /last 10 steps before the failure/);
  assert.ok(r.out.includes(`replay: npm run sim -- --seed ${m[1]} --bug vote-without-log-check --trace`));
});
