// tsraft-kv's exit statuses as a supervisor sees them, on real processes of
// the compiled CLI: each fatal end is non-zero and distinct, with one plain
// line on stderr (`tsraft-kv: <reason>`, no stack trace unless --log-level
// debug) besides the JSON log records; listeners are bound before the data
// directory is touched.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { freePort } from "../kv/support/cluster.ts";
import { repoRoot } from "../support/testdata.ts";
import { buildCli, type KvProc, plainLines, runKv, startKv, waitHealthy } from "./support/kv_proc.ts";

const root = mkdtempSync(join(tmpdir(), "tsraft-cli-exit-"));
const FAST = ["--heartbeat-interval", "20", "--election-timeout", "200"];
const running: KvProc[] = [];

before(() => buildCli());
after(() => {
  for (const p of running) p.proc.kill("SIGKILL");
  rmSync(root, { recursive: true, force: true });
});

/** A port held by another listener for the duration of `fn`. */
async function withPortTaken<T>(fn: (port: number) => Promise<T>): Promise<T> {
  const port = await freePort();
  const s: Server = createServer();
  await new Promise<void>((r) => s.listen(port, "127.0.0.1", r));
  try {
    return await fn(port);
  } finally {
    await new Promise((r) => s.close(r));
  }
}

/** The single human-readable line of stderr (the JSON log records aside). */
function onePlainLine(stderr: string): string {
  const lines = plainLines(stderr);
  assert.equal(lines.length, 1, `exactly one plain line on stderr:\n${stderr}`);
  return lines[0]!;
}

function member(name: string, dataDir: string, client: number, peer: number, extra: string[] = []) {
  return [
    "--name",
    name,
    "--initial-cluster",
    `${name}=http://127.0.0.1:${peer}`,
    "--listen-client-urls",
    `http://127.0.0.1:${client}`,
    "--data-dir",
    dataDir,
    ...FAST,
    ...extra,
  ];
}

test("port in use: exit 3 before the data dir exists; a retry on free ports starts; a second process on that data dir: exit 4; SIGTERM: exit 0; damaged WAL: exit 6", async () => {
  const dir = join(root, "solo");
  const peer = await freePort();
  // The client port taken: KvMember binds it first.
  await withPortTaken(async (taken) => {
    const r = await runKv(member("solo", dir, taken, peer));
    assert.equal(r.code, 3, r.stderr);
    assert.match(
      onePlainLine(r.stderr),
      new RegExp(`^tsraft-kv: client URL .*: port ${taken} is already in use$`),
    );
    assert.ok(!existsSync(dir), "the data dir was not created");
  });
  // The peer port taken: the host binds it before it creates the data dir.
  const client = await freePort();
  await withPortTaken(async (taken) => {
    const r = await runKv(member("solo", dir, client, taken));
    assert.equal(r.code, 3, r.stderr);
    assert.match(
      onePlainLine(r.stderr),
      new RegExp(`^tsraft-kv: peer URL .*: port ${taken} is already in use$`),
    );
    assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
    assert.ok(!existsSync(dir), "the data dir was not created");
    // With --log-level debug the stack trace follows the line.
    const d = await runKv(member("solo", dir, client, taken, ["--log-level", "debug"]));
    assert.equal(d.code, 3, d.stderr);
    assert.match(d.stderr, /^tsraft-kv: peer URL .*already in use\n(.*\n)*\s+at /m);
    assert.ok(!existsSync(dir), "the data dir was not created");
  });

  // Nothing was left behind: the same flags on free ports start a member.
  const first = startKv(member("solo", dir, client, peer));
  running.push(first);
  await waitHealthy(first, `http://127.0.0.1:${client}`);

  // A second process for the same member and data dir (its own listeners, the same advertised peer URL).
  const second = await runKv([
    ...member("solo", dir, await freePort(), peer),
    "--listen-peer-urls",
    `http://127.0.0.1:${await freePort()}`,
    "--initial-advertise-peer-urls",
    `http://127.0.0.1:${peer}`,
  ]);
  assert.equal(second.code, 4, second.stderr);
  assert.equal(
    onePlainLine(second.stderr),
    `tsraft-kv: another process holds ${resolve(dir)} (${resolve(dir)}/member/wal is locked)`,
  );
  // The JSON log has the same reason as a fatal record with the exit code.
  const fatal = second.stderr
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((o) => o.level === "fatal");
  assert.ok(fatal !== undefined, second.stderr);
  assert.equal(fatal.exitCode, 4);
  assert.equal(fatal.code, "ERR_HOST_DATA_DIR_LOCKED");
  assert.equal(fatal.member, "solo");
  assert.match(String(fatal.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

  // The first member is unaffected and stops gracefully on SIGTERM.
  for (let i = 0; i < 30; i++) {
    const put = await fetch(`http://127.0.0.1:${client}/kv/k${i}`, { method: "PUT", body: "v".repeat(20) });
    assert.equal(put.status, 200);
  }
  first.proc.kill("SIGTERM");
  assert.equal(await first.exited, 0, first.output());
  assert.deepEqual(plainLines(first.stderr.join("\n")), [], "a clean stop prints no error line");

  // A flipped bit in the middle of the WAL: exit 6, naming the file.
  const walDir = join(dir, "member", "wal");
  const seg = readdirSync(walDir)
    .filter((n) => n.endsWith(".wal"))
    .sort()
    .at(-1)!;
  const bytes = readFileSync(join(walDir, seg));
  bytes[200]! ^= 0x10;
  writeFileSync(join(walDir, seg), bytes);
  const damaged = await runKv(member("solo", dir, client, peer));
  assert.equal(damaged.code, 6, damaged.stderr);
  assert.match(onePlainLine(damaged.stderr), new RegExp(`^tsraft-kv: .*${seg.replace(".", "\\.")}`));
});

test("a member removed from the cluster exits 7", async () => {
  const [c1, p1, c2, p2] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const initial = `a=http://127.0.0.1:${p1},b=http://127.0.0.1:${p2}`;
  const start = (name: string, client: number, peer: number) =>
    startKv([
      "--name",
      name,
      "--initial-cluster",
      initial,
      "--listen-peer-urls",
      `http://127.0.0.1:${peer}`,
      "--listen-client-urls",
      `http://127.0.0.1:${client}`,
      "--data-dir",
      join(root, `removed-${name}`),
      ...FAST,
    ]);
  const a = start("a", c1, p1);
  const b = start("b", c2, p2);
  running.push(a, b);
  await Promise.all([waitHealthy(a, `http://127.0.0.1:${c1}`), waitHealthy(b, `http://127.0.0.1:${c2}`)]);
  const members = (await (await fetch(`http://127.0.0.1:${c1}/members`)).json()) as {
    members: Array<{ id: string; name: string }>;
  };
  const bId = members.members.find((m) => m.name === "b")!.id;
  const del = await fetch(`http://127.0.0.1:${c1}/members/${bId}`, { method: "DELETE" });
  assert.equal(del.status, 200, await del.text());
  assert.equal(await b.exited, 7, b.output());
  assert.equal(onePlainLine(b.stderr.join("\n")), "tsraft-kv: this member was removed from the cluster");
  a.proc.kill("SIGTERM");
  assert.equal(await a.exited, 0, a.output());
});

test("a fatal error while running (the WAL's fdatasync fails with ENOSPC) exits 1 with one line", async () => {
  const client = await freePort();
  const flag = join(root, "disk-full");
  const p = startKv(member("full", join(root, "full"), client, await freePort()), {
    nodeArgs: ["--import", resolve(repoRoot, "test/cli/support/enospc.mjs")],
    env: { FAULT_ENOSPC_FILE: flag },
  });
  running.push(p);
  await waitHealthy(p, `http://127.0.0.1:${client}`);
  assert.equal((await fetch(`http://127.0.0.1:${client}/kv/a`, { method: "PUT", body: "1" })).status, 200);
  writeFileSync(flag, "");
  // The write cannot be made durable: it fails, and so does the member.
  const put = await fetch(`http://127.0.0.1:${client}/kv/b`, { method: "PUT", body: "2" }).catch(
    (e) => e as Error,
  );
  assert.ok(put instanceof Error || put.status >= 500, "the write is not acknowledged");
  assert.equal(await p.exited, 1, p.output());
  const line = onePlainLine(p.stderr.join("\n"));
  assert.match(line, /^tsraft-kv: .*ENOSPC/);
  assert.doesNotMatch(p.stderr.join("\n"), /^\s+at /m, "no stack trace");
});
