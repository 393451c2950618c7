// tsraft-kv processes for the CLI tests: the compiled CLI that `npm start`
// runs (scripts/build-cli.mjs builds it, or finds it up to date), spawned
// with its output collected.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { repoRoot } from "../../support/testdata.ts";

export const KV_CLI = resolve(repoRoot, ".build/cli/tsraft-kv.js");

/** Builds the compiled CLI unless it is up to date (safe when test files do it concurrently). */
export function buildCli(): void {
  const r = spawnSync(process.execPath, [resolve(repoRoot, "scripts/build-cli.mjs"), "--quiet"], {
    cwd: repoRoot,
    encoding: "utf8",
    timeout: 120_000,
  });
  assert.equal(r.status, 0, `build-cli failed: ${r.stderr}`);
}

export interface KvProc {
  proc: ChildProcess;
  stdout: string[];
  stderr: string[];
  /** Settles with the exit status (or the signal's name) once the process has ended. */
  exited: Promise<number | string>;
  /** All output so far, for assertion messages. */
  output(): string;
}

export interface StartOptions {
  env?: Record<string, string>;
  nodeArgs?: string[];
  cwd?: string;
}

/** Starts `node <nodeArgs> .build/cli/tsraft-kv.js <args>`; the environment has no TSRAFT_ variables but `env`'s. */
export function startKv(args: string[], opts: StartOptions = {}): KvProc {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith("TSRAFT_")) env[k] = v;
  Object.assign(env, opts.env ?? {});
  const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), KV_CLI, ...args], {
    cwd: opts.cwd ?? repoRoot,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const collect = (into: string[]) => (b: Buffer) => {
    for (const line of b.toString().split("\n")) if (line !== "") into.push(line);
  };
  proc.stdout!.on("data", collect(stdout));
  proc.stderr!.on("data", collect(stderr));
  const exited = new Promise<number | string>((r) =>
    proc.once("close", (code, signal) => r(code ?? signal ?? "unknown")),
  );
  return {
    proc,
    stdout,
    stderr,
    exited,
    output: () => `--- stdout\n${stdout.join("\n")}\n--- stderr\n${stderr.slice(-40).join("\n")}`,
  };
}

/** Runs tsraft-kv to its end (killed after `timeoutMs`). */
export async function runKv(
  args: string[],
  opts: StartOptions & { timeoutMs?: number } = {},
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const p = startKv(args, opts);
  const t = setTimeout(() => p.proc.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
  const code = await p.exited;
  clearTimeout(t);
  return { code, stdout: p.stdout.join("\n"), stderr: p.stderr.join("\n") };
}

/** Lines of stderr that are not JSON log records: what a person reads. */
export function plainLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l !== "" && !l.startsWith("{"));
}

/** Waits until `url`/health answers 200; fails at once (with the output) if the process ends first. */
export async function waitHealthy(p: KvProc, clientURL: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let ended: number | string | null = null;
  void p.exited.then((c) => {
    ended = c;
  });
  for (;;) {
    if (ended !== null) assert.fail(`tsraft-kv exited (${ended}) before it was healthy\n${p.output()}`);
    try {
      const r = await fetch(`${clientURL}/health`, { signal: AbortSignal.timeout(2000) });
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) assert.fail(`not healthy after ${timeoutMs} ms\n${p.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
