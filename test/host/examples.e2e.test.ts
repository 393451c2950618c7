// The two host examples, examples/counter.ts and examples/lock-service.ts,
// each run as three real member processes on loopback and driven over their
// HTTP APIs: exactly-once results under concurrent writes through different
// members, durability across SIGKILL, and the lock service's lease and
// fencing-token rules.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { freePort, http, waitFor } from "../kv/support/cluster.ts";
import { repoRoot } from "../support/testdata.ts";

interface Member {
  name: string;
  peer: string;
  api: string;
  dataDir: string;
  proc: ChildProcess | null;
  log: string[];
}

/** Three processes of one example, started with the flags its header documents. */
class ExampleCluster {
  readonly root = mkdtempSync(join(tmpdir(), "tsraft-host-example-"));
  readonly members: Member[] = [];

  constructor(private readonly file: string) {}

  async init(n: number): Promise<this> {
    for (let i = 1; i <= n; i++) {
      const [peer, api] = [await freePort(), await freePort()];
      this.members.push({
        name: `m${i}`,
        peer: `http://127.0.0.1:${peer}`,
        api: `http://127.0.0.1:${api}`,
        dataDir: join(this.root, `m${i}`),
        proc: null,
        log: [],
      });
    }
    return this;
  }

  start(m: Member): void {
    const initial = this.members.map((x) => `${x.name}=${x.peer}`).join(",");
    const args = ["--conditions=source", "--import", "tsx", resolve(repoRoot, this.file)];
    args.push("--name", m.name, "--initial-cluster", initial, "--data-dir", m.dataDir);
    args.push("--http", m.api.slice("http://".length));
    const p = spawn(process.execPath, args, { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    const collect = (b: Buffer) =>
      m.log.push(
        ...b
          .toString()
          .split("\n")
          .filter((l) => l !== ""),
      );
    p.stdout!.on("data", collect);
    p.stderr!.on("data", collect);
    m.proc = p;
  }

  async kill(m: Member, signal: NodeJS.Signals): Promise<void> {
    const p = m.proc;
    m.proc = null;
    if (p === null || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once("exit", r));
    p.kill(signal);
    await exited;
  }

  /** Waits until `path` answers `status` on m (the member serves linearizable reads: it has a leader). */
  async ready(m: Member, path: string, status: number): Promise<void> {
    await waitFor(
      `${m.name} serving`,
      async () => {
        const p = m.proc;
        if (p !== null && (p.exitCode !== null || p.signalCode !== null)) {
          throw new Error(`${m.name} exited:\n${m.log.slice(-20).join("\n")}`);
        }
        return (await http("GET", `${m.api}${path}`)).status === status;
      },
      30_000,
      100,
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.members.map((m) => this.kill(m, "SIGKILL")));
    rmSync(this.root, { recursive: true, force: true });
  }

  logs(): string {
    return this.members.map((m) => `--- ${m.name}\n${m.log.slice(-30).join("\n")}`).join("\n");
  }
}

/** POST /add through a member, retrying while it answers 503 (no leader yet, or a dropped proposal). */
async function add(m: Member, n: number): Promise<number> {
  for (;;) {
    const r = await http("POST", `${m.api}/add`, String(n));
    if (r.status === 503) {
      await new Promise((res) => setTimeout(res, 100));
      continue;
    }
    assert.equal(r.status, 200, `add ${n} via ${m.name}: ${r.status} ${r.text}`);
    return Number(r.text);
  }
}

async function status(m: Member): Promise<{ id: string; leader: string }> {
  return (await http("GET", `${m.api}/status`)).json();
}

test("examples/counter.ts: three processes; concurrent adds are applied exactly once; SIGKILL keeps the value", async () => {
  const c = await new ExampleCluster("examples/counter.ts").init(3);
  try {
    for (const m of c.members) c.start(m);
    for (const m of c.members) await c.ready(m, "/value", 200);

    // 60 adds of 1..60, through all three members at once. Each answer is the
    // total right after that add: sorted, consecutive answers must differ by
    // exactly the delta of the later one (each add applied once, answered
    // with its own result), and the last is the sum.
    const deltas = Array.from({ length: 60 }, (_, i) => i + 1);
    const totals = await Promise.all(deltas.map((d, i) => add(c.members[i % 3]!, d)));
    const byTotal = deltas.map((d, i) => ({ d, total: totals[i]! })).sort((a, b) => a.total - b.total);
    const sum = (60 * 61) / 2;
    assert.equal(byTotal[byTotal.length - 1]!.total, sum);
    for (let i = 0; i < byTotal.length; i++) {
      assert.equal(byTotal[i]!.total - (i === 0 ? 0 : byTotal[i - 1]!.total), byTotal[i]!.d, "answers");
    }
    for (const m of c.members) assert.equal((await http("GET", `${m.api}/value`)).text, String(sum));

    // Bad input gets a status, not a crash.
    assert.equal((await http("POST", `${c.members[0]!.api}/add`, "1.5")).status, 400);
    assert.equal((await http("GET", `${c.members[0]!.api}/nope`)).status, 404);

    // SIGKILL the leader; the others go on; the victim restarts from its data dir and catches up.
    const victim = await waitFor("a leader", async () => {
      for (const m of c.members) {
        const s = await status(m);
        if (s.id === s.leader) return m;
      }
      return undefined;
    });
    const oldLeader = await status(victim);
    await c.kill(victim, "SIGKILL");
    // Until the others elect a new leader a follower still forwards to the dead one, and
    // the add would time out (504: it may or may not apply later, so it must not be retried).
    const other = await waitFor("a new leader", async () => {
      for (const m of c.members.filter((x) => x !== victim)) {
        const s = await status(m);
        if (s.id === s.leader && s.id !== oldLeader.id) return m;
      }
      return undefined;
    });
    assert.equal(await add(other, 1000), sum + 1000);
    c.start(victim);
    await c.ready(victim, "/value", 200);
    assert.equal((await http("GET", `${victim.api}/value`)).text, String(sum + 1000));
    assert.equal(await add(victim, 1), sum + 1001, "the restarted member proposes again");
  } catch (err) {
    console.error(c.logs());
    throw err;
  } finally {
    await c.close();
  }
});

interface Lease {
  holder: string;
  token: number;
  expiresAt: number;
}

async function lockCall(m: Member, path: string): Promise<{ status: number; lease: Lease }> {
  for (;;) {
    const r = await http(path.startsWith("holder") ? "GET" : "POST", `${m.api}/${path}`);
    if (r.status === 503) {
      await new Promise((res) => setTimeout(res, 100));
      continue;
    }
    return { status: r.status, lease: r.json() as Lease };
  }
}

test("examples/lock-service.ts: one holder at a time, increasing fencing tokens, expiry and stale tokens", async () => {
  const c = await new ExampleCluster("examples/lock-service.ts").init(3);
  try {
    for (const m of c.members) c.start(m);
    for (const m of c.members) await c.ready(m, "/holder?lock=db", 404);
    const [m1, m2, m3] = c.members as [Member, Member, Member];

    // Clients a and b contend for the same lock through different members: exactly one wins.
    const [ra, rb] = await Promise.all([
      lockCall(m1, "acquire?lock=db&client=a&ttl=30000"),
      lockCall(m2, "acquire?lock=db&client=b&ttl=30000"),
    ]);
    assert.deepEqual([ra.status, rb.status].sort(), [200, 409], `a: ${ra.status}, b: ${rb.status}`);
    const [win, lose, winner, loser] = ra.status === 200 ? [ra, rb, "a", "b"] : [rb, ra, "b", "a"];
    assert.equal(win.lease.holder, winner);
    assert.equal(win.lease.token, 1);
    assert.deepEqual(lose.lease, win.lease, "the refusal names the current holder and token");
    assert.deepEqual(
      (await lockCall(m3, "holder?lock=db")).lease,
      win.lease,
      "holder, from the third member",
    );
    const t1 = win.lease.token;

    // Only the live token renews or releases.
    const renewed = await lockCall(m3, `renew?lock=db&token=${t1}&ttl=30000`);
    assert.equal(renewed.status, 200);
    assert.ok(renewed.lease.expiresAt >= win.lease.expiresAt, "renewal extends the lease");
    assert.equal((await lockCall(m1, `renew?lock=db&token=${t1 + 1}&ttl=30000`)).status, 409);
    assert.equal((await lockCall(m2, `release?lock=db&token=${t1}`)).status, 200);
    assert.equal((await lockCall(m3, "holder?lock=db")).status, 404, "free after the release");

    // The loser takes it with a short lease; the token grows although the lock was free.
    const short = await lockCall(m2, `acquire?lock=db&client=${loser}&ttl=400`);
    assert.equal(short.status, 200);
    const t2 = short.lease.token;
    assert.ok(t2 > t1, `token ${t2} after ${t1}`);
    assert.equal(
      (await lockCall(m1, `acquire?lock=db&client=${winner}&ttl=30000`)).status,
      409,
      "still held",
    );

    // Once the short lease has expired, the other client takes the lock over...
    await new Promise((r) => setTimeout(r, 700));
    assert.equal((await lockCall(m3, "holder?lock=db")).status, 404, "an expired lease holds nothing");
    const over = await lockCall(m1, `acquire?lock=db&client=${winner}&ttl=30000`);
    assert.equal(over.status, 200);
    const t3 = over.lease.token;
    assert.ok(t3 > t2, `token ${t3} after ${t2}`);

    // ...and the previous holder's stale token can neither renew nor release it.
    const stale = await lockCall(m2, `release?lock=db&token=${t2}`);
    assert.equal(stale.status, 409);
    assert.deepEqual(stale.lease, over.lease);
    assert.equal((await lockCall(m2, `renew?lock=db&token=${t2}&ttl=30000`)).status, 409);
    assert.deepEqual((await lockCall(m3, "holder?lock=db")).lease, over.lease);

    // Tokens count per lock; bad requests get 400.
    assert.equal((await lockCall(m3, "acquire?lock=other&client=c&ttl=1000")).lease.token, 1);
    for (const bad of [
      "acquire?lock=db&ttl=1000",
      "acquire?lock=db&client=c&ttl=0",
      "release?lock=db",
      "grab?lock=db",
    ]) {
      assert.equal((await http("POST", `${m1.api}/${bad}`)).status, 400, bad);
    }
  } catch (err) {
    console.error(c.logs());
    throw err;
  } finally {
    await c.close();
  }
});
