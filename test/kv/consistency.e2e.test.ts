// A history check of the real server under failure. Three clients each own a
// register (key) and write increasing values to it with compare-and-swap on
// the revision they last saw, through any member; three readers read the
// registers linearizably from any member; meanwhile the leader is SIGKILLed
// and restarted. Because every write is a CAS, a write that timed out and is
// applied late can only fail, so each register's value only grows. For such
// registers linearizability comes down to these checks:
//  - no read returns less than a value whose write was acknowledged before
//    the read began (no stale read, across leader changes and members);
//  - no read returns less than a read that ended before it began (reads never
//    go back, even to values whose writes were never acknowledged);
//  - no read returns a value whose write had not begun when the read ended
//    (nothing invented);
//  - acknowledged revisions of a register only grow;
//  - at the end every member holds, for each register, the largest value
//    acknowledged or a larger one that was attempted (nothing acknowledged
//    is lost).
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { http, ProcCluster, type ProcMember } from "./support/cluster.ts";

const c = new ProcCluster();
after(async () => {
  await c.cleanup();
});

interface Write {
  key: string;
  value: number;
  start: number;
  end: number;
  /** true: acknowledged; false: refused (CAS mismatch, 4xx); null: unknown (timeout, 5xx, network). */
  ok: boolean | null;
  revision: number;
}
interface Read {
  key: string;
  value: number;
  start: number;
  end: number;
}

const KEYS = ["r0", "r1", "r2"];

interface Reply {
  status: number;
  text: string;
  /** The key's mod revision (GET) or the write's revision (PUT). */
  revision: number;
}

async function request(method: string, url: string, body?: string, headers: Record<string, string> = {}) {
  try {
    const res = await fetch(url, { method, body, headers, signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    let revision = Number(res.headers.get("X-Mod-Revision") ?? 0);
    if (method === "PUT" && res.status === 200)
      revision = (JSON.parse(text) as { revision: number }).revision;
    return { status: res.status, text, revision } satisfies Reply;
  } catch {
    return null; // connection refused (a killed member) or timed out
  }
}

test("linearizable registers through a leader SIGKILL and restart", async (t) => {
  const ms = [await c.add("m1"), await c.add("m2"), await c.add("m3")];
  const initial = c.initialCluster(ms.map((m) => m.name));
  for (const m of ms) c.start(m, ["--initial-cluster", initial]);
  for (const m of ms) await c.healthy(m);

  const writes: Write[] = [];
  const reads: Read[] = [];
  let stop = false;
  const up = new Set<ProcMember>(ms);
  const pick = (i: number) => {
    const live = ms.filter((m) => up.has(m));
    return live[i % live.length]!;
  };

  const writer = async (key: string, w: number) => {
    let value = 0;
    let rev = 0; // the revision the next CAS expects (0 = key absent)
    for (let i = w; !stop; i++) {
      const url = pick(i).client;
      value++;
      const start = performance.now();
      const r = await request("PUT", `${url}/kv/${key}`, String(value), {
        "If-Match": String(rev),
      });
      const end = performance.now();
      if (r !== null && r.status === 200) {
        writes.push({ key, value, start, end, ok: true, revision: r.revision });
        rev = r.revision;
        continue;
      }
      const refused = r !== null && r.status >= 400 && r.status < 500;
      writes.push({ key, value, start, end, ok: refused ? false : null, revision: 0 });
      // Unknown or refused: learn the register's current revision, then go on.
      for (;;) {
        if (stop) return;
        const got = await request("GET", `${pick(i++).client}/kv/${key}`);
        if (got !== null && (got.status === 404 || got.status === 200)) {
          rev = got.status === 404 ? 0 : got.revision;
          break;
        }
        await new Promise((res) => setTimeout(res, 50));
      }
    }
  };

  const reader = async (r: number) => {
    for (let i = r; !stop; i++) {
      const key = KEYS[i % KEYS.length]!;
      const start = performance.now();
      const got = await request("GET", `${pick(i).client}/kv/${key}`);
      const end = performance.now();
      if (got === null) continue;
      if (got.status === 404) reads.push({ key, value: 0, start, end });
      else if (got.status === 200) reads.push({ key, value: Number(got.text), start, end });
    }
  };

  const load = [...KEYS.map((k, w) => writer(k, w)), reader(0), reader(1), reader(2)];
  const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
  await sleep(800);
  const victim = await c.leader(ms);
  const termBefore = (await c.status(victim)).term;
  up.delete(victim);
  await c.kill(victim, "SIGKILL");
  await sleep(1200);
  c.start(victim, ["--initial-cluster", initial]);
  await c.healthy(victim);
  up.add(victim);
  await sleep(800);
  stop = true;
  await Promise.all(load);

  const acked = writes.filter((w) => w.ok === true);
  assert.ok(acked.length > 30, `only ${acked.length} writes acknowledged\n${c.dumpLogs()}`);
  assert.ok(reads.length > 30, `only ${reads.length} reads answered`);
  // The fault bit: a new leader was elected while the clients ran.
  const termAfter = (await c.status(ms[0]!)).term;
  assert.ok(termAfter > termBefore, `term ${termBefore} -> ${termAfter}: no election happened`);
  t.diagnostic(
    `writes: ${acked.length} acknowledged, ${writes.filter((w) => w.ok === null).length} unknown, ` +
      `${writes.filter((w) => w.ok === false).length} refused; ${reads.length} reads`,
  );

  for (const key of KEYS) {
    const ws = writes.filter((w) => w.key === key);
    const ack = ws.filter((w) => w.ok === true);
    // Acknowledged revisions only grow.
    for (let i = 1; i < ack.length; i++)
      assert.ok(ack[i]!.revision > ack[i - 1]!.revision, `${key} revisions`);
    const rs = reads.filter((x) => x.key === key);
    for (const r of rs) {
      const seen = Math.max(0, ...rs.filter((x) => x.end < r.start).map((x) => x.value));
      assert.ok(r.value >= seen, `read of ${key} went back: ${r.value} after a read of ${seen}`);
    }
    for (const r of rs) {
      const mustSee = Math.max(0, ...ack.filter((w) => w.end < r.start).map((w) => w.value));
      assert.ok(r.value >= mustSee, `stale read of ${key}: ${r.value} after ${mustSee} was acknowledged`);
      if (r.value > 0) {
        const w = ws.find((x) => x.value === r.value);
        assert.ok(
          w !== undefined && w.start < r.end,
          `read of ${key} returned ${r.value}, never written by then`,
        );
      }
    }
    // Nothing acknowledged is lost, on any member.
    const lastAck = Math.max(0, ...ack.map((w) => w.value));
    const attempted = new Set(ws.filter((w) => w.ok !== false).map((w) => w.value));
    for (const m of ms) {
      const r = await http("GET", `${m.client}/kv/${key}`);
      const v = r.status === 404 ? 0 : Number(r.text);
      assert.ok(
        v >= lastAck && (v === lastAck || attempted.has(v)),
        `${key} on ${m.name}: ${v}, acked ${lastAck}`,
      );
    }
  }
});
