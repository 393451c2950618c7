#!/usr/bin/env node
// Start-up figures of `tsraft-kv cluster` (what `npm start` runs), for issue
// notes and regressions: it builds the compiled CLI, then, in a temporary
// data directory,
//   1. a fresh start (first start: the cluster's PKI is made too),
//   2. a resumed start on that data,
//   3. kill -9 of a follower, then of the leader, timing each member until it
//      serves again,
// and prints, per step, the wall time from spawning the supervisor to its
// "ready:" line and to every member answering /health with one leader, the
// members' own start times (wall and CPU ms from their "serving" log record)
// and the load average, which these figures depend on.
//
//   node scripts/start-times.mjs [--base-port P] [--no-tls] [--runs N]

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { buildCli } from "./build-cli.mjs";

const { values: o } = parseArgs({
  options: {
    "base-port": { type: "string", default: "27900" },
    "no-tls": { type: "boolean", default: false },
    runs: { type: "string", default: "1" },
  },
});
const base = Number(o["base-port"]);
const clients = [0, 1, 2].map((i) => `http://127.0.0.1:${base + 10 * i}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const s = (ms) => `${(ms / 1000).toFixed(2)} s`;

const b = await buildCli();
console.log(`build: ${s(b.ms)}${b.built ? "" : " (up to date)"}`);

function startCluster(dir) {
  const t0 = performance.now();
  const args = [b.entry, "cluster", "--data-dir", dir, "--base-port", String(base)];
  if (o["no-tls"]) args.push("--no-tls");
  args.push("--", "--log-level", "info");
  const p = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  const lines = [];
  const serving = [];
  p.stdout.on("data", (d) => lines.push(...d.toString().split("\n").filter(Boolean)));
  p.stderr.on("data", (d) => {
    for (const l of d.toString().split("\n")) {
      if (!l.includes('"msg":"serving"')) continue;
      try {
        const r = JSON.parse(l);
        serving.push(`${r.member} ${r.startupMs}/${r.cpuMs}`);
      } catch {}
    }
  });
  const line = async (re, from = 0) => {
    for (;;) {
      const l = lines.slice(from).find((x) => re.test(x));
      if (l !== undefined) return l;
      if (p.exitCode !== null) throw new Error(`the cluster exited:\n${lines.join("\n")}`);
      await sleep(10);
    }
  };
  return { p, t0, lines, serving, line };
}

async function allHealthy() {
  for (;;) {
    const leaders = await Promise.all(
      clients.map(async (u) => {
        try {
          const h = await fetch(`${u}/health`, { signal: AbortSignal.timeout(500) });
          const st = await (await fetch(`${u}/status`, { signal: AbortSignal.timeout(500) })).json();
          return h.status === 200 ? st.leader : null;
        } catch {
          return null;
        }
      }),
    );
    if (leaders.every((l) => l !== null && l !== "0" && l === leaders[0])) return;
    await sleep(10);
  }
}

async function timedStart(what, dir) {
  const c = startCluster(dir);
  const ready = await c.line(/^ready:/);
  const readyAt = performance.now() - c.t0;
  await allHealthy();
  const healthyAt = performance.now() - c.t0;
  console.log(
    `${what}: ready line ${s(readyAt)}, all healthy ${s(healthyAt)}; members serving ` +
      `(wall/CPU ms since their start) ${c.serving.join(", ")}; load ${loadavg()[0].toFixed(1)}`,
  );
  return { c, leader: /leader (m\d)/.exec(ready)[1] };
}

async function stop(c) {
  c.p.kill("SIGINT");
  await new Promise((r) => c.p.once("exit", r));
}

for (let run = 0; run < Number(o.runs); run++) {
  const dir = mkdtempSync(join(tmpdir(), "tsraft-start-times-"));
  try {
    const first = await timedStart("fresh start", dir);
    await stop(first.c);
    const { c, leader } = await timedStart("resumed start", dir);
    const pids = new Map();
    for (const l of c.lines) {
      const m = /^ {2}(m\d): client .* pid (\d+)$/.exec(l);
      if (m) pids.set(m[1], Number(m[2]));
    }
    const follower = ["m1", "m2", "m3"].find((m) => m !== leader);
    for (const [role, name] of [
      ["follower", follower],
      ["leader", leader],
    ]) {
      await sleep(2000);
      const from = c.lines.length;
      const t = performance.now();
      process.kill(pids.get(name), "SIGKILL");
      const back = await c.line(new RegExp(`^${name}: serving again, ([\\d.]+) s`), from);
      const restarted = await c.line(new RegExp(`^${name}: restarted \\(pid (\\d+)\\)`), from);
      pids.set(name, Number(/pid (\d+)/.exec(restarted)[1]));
      const newLeader = c.lines.slice(from).find((l) => l.startsWith("leader:"));
      console.log(
        `kill -9 of the ${role} ${name}: serving again ${s(performance.now() - t)} after the kill ` +
          `(${/([\d.]+) s after/.exec(back)[1]} s after its new process started)` +
          `${newLeader ? `; ${newLeader}` : ""}; members serving ${c.serving.slice(-1)[0]}; load ${loadavg()[0].toFixed(1)}`,
      );
    }
    await stop(c);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
