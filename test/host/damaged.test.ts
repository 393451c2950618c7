// A member refuses to start on damaged data with one clear error that says
// what is wrong and where, instead of starting with a shorter log (and
// forgetting acknowledged writes) or failing later with an index panic.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Host, HostError, HostErrorCode } from "../../src/host/index.ts";
import { waitFor } from "../kv/support/cluster.ts";
import { Counter, delta, startCluster } from "./support.ts";

const damaged = (re: RegExp) => (e: unknown) =>
  e instanceof HostError && e.code === HostErrorCode.DamagedData && re.test(e.message);

async function stoppedMember(extra = {}) {
  const c = await startCluster(1, {
    snapshot: { count: 20, catchUpEntries: 5 },
    walSegmentSize: 512,
    ...extra,
  });
  const h = c.hosts[0]!;
  await c.leader();
  for (let i = 0; i < 300; i++) await h.propose(delta(1));
  await waitFor("snapshots taken", async () => h.status().snapshotIndex >= 280);
  await h.stop();
  const memberDir = join(c.configs[0]!.dataDir, "member");
  return {
    c,
    memberDir,
    restart: async () => {
      const h = new Host({ ...c.configs[0]!, stateMachine: new Counter() });
      await h.start();
      return h;
    },
  };
}

test("host: a flipped bit in the WAL refuses the start, naming the file and offset", async () => {
  const { c, memberDir, restart } = await stoppedMember();
  try {
    const walDir = join(memberDir, "wal");
    const seg = readdirSync(walDir)
      .filter((n) => n.endsWith(".wal"))
      .sort()
      .at(-1)!;
    const b = readFileSync(join(walDir, seg));
    // Flip a bit halfway through the records, never in the zeroed
    // preallocated tail (a fixed offset landed there when snapshots under
    // load left the last segment short, and the start then succeeded), and
    // never in the last record (a damaged last record is a torn write).
    let end = b.length - 1;
    while (end > 0 && b[end] === 0) end--;
    b[Math.floor(end / 2)] ^= 0x10;
    writeFileSync(join(walDir, seg), b);
    const started = restart().then(
      async (h) => {
        await h.stop(); // must not happen; stop it so the test fails instead of hanging
        throw new Error("the start succeeded on a damaged WAL");
      },
      (err: unknown) => {
        throw err;
      },
    );
    await assert.rejects(started, damaged(new RegExp(`${seg.replace(".", "\\.")}.*(position|offset)`)));
  } finally {
    await c.close();
  }
});

test("host: a missing wal/ with snapshots present refuses the start", async () => {
  const { c, memberDir, restart } = await stoppedMember();
  try {
    rmSync(join(memberDir, "wal"), { recursive: true });
    await assert.rejects(restart(), damaged(/wal is missing or empty but .*snap holds \d+ snapshot/));
  } finally {
    await c.close();
  }
});

test("host: every snapshot deleted under a compacted WAL refuses the start, naming the missing file", async () => {
  const { c, memberDir, restart } = await stoppedMember();
  try {
    const snapDir = join(memberDir, "snap");
    for (const n of readdirSync(snapDir)) if (n.endsWith(".snap")) rmSync(join(snapDir, n));
    await assert.rejects(restart(), damaged(/[0-9a-f]{16}-[0-9a-f]{16}\.snap is missing/));
  } finally {
    await c.close();
  }
});
