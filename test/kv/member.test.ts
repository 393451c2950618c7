// A KvMember in-process: the REST answers' details that clients rely on.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { defaultLimits, KvMember, memberDefaults } from "../../src/kv/index.ts";

/** A one-member cluster on ephemeral ports in `dir`. */
const solo = (dir: string) => ({
  ...memberDefaults,
  tickMs: 20,
  name: "solo",
  dataDir: dir,
  initialCluster: [{ name: "solo", peerURLs: ["http://127.0.0.1:0"] }],
  listenPeerURL: "http://127.0.0.1:0",
  listenClientURL: "http://127.0.0.1:0",
  limits: defaultLimits,
  unsafeNoFsync: true,
});

test("a failed compare-and-swap carries the current modRevision and maybeApplied: false", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tsraft-kv-member-"));
  const m = new KvMember(solo(dir));
  await m.start();
  try {
    while (m.status().leader === "0") await new Promise((r) => setTimeout(r, 20));
    const put = (v: string, headers: Record<string, string> = {}) =>
      fetch(`${m.clientURL}/kv/k`, { method: "PUT", body: v, headers });
    const first = (await (await put("a")).json()) as { revision: number };
    assert.equal(first.revision, 2, "etcd's revisions: the first write after an empty store (1) is 2");
    const stale = await put("b", { "If-Match": "1" });
    assert.equal(stale.status, 412);
    assert.deepEqual(await stale.json(), {
      code: "REVISION_MISMATCH",
      message: "revision mismatch: the key's mod revision is 2",
      modRevision: 2,
      maybeApplied: false,
    });
    const ok = await put("b", { "If-Match": "2" });
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { revision: 3, prevRevision: 2 });
  } finally {
    await m.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a restart with --join ignores it: the data dir says who the member is, the joined cluster may be down", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tsraft-kv-member-"));
  const base = solo(dir);
  try {
    const first = new KvMember(base);
    await first.start();
    const id = first.id;
    await first.stop();
    // Port 1 on loopback refuses at once: before the fix the restart tried to
    // join through it and failed with ERR_HOST_JOIN ("fetch failed").
    const again = new KvMember({ ...base, join: "http://127.0.0.1:1" });
    await again.start();
    try {
      assert.equal(again.id, id);
      while (again.status().leader === "0") await new Promise((r) => setTimeout(r, 20));
    } finally {
      await again.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
