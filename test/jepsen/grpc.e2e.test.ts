// The harness in its etcd-API mode (--api grpc): three real tsraft-kv
// processes, a kill (with its restart) and a partition in a seeded order,
// clients reading (linearizable Range), writing (Put) and compare-and-swapping
// (Txn on mod_revision) through etcd's v3 gRPC API on every member's client
// port. The history must be linearizable and the members must agree, the
// history must say it was recorded through gRPC and hold ok writes, ok reads
// and ok CASes, and the kill must have shown up as refused requests (fail,
// nothing sent) as well as the usual outcomes. Under a minute on a quiet
// 2-core machine (a member's restart takes most of it).
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { test } from "node:test";
import { readHistoryFile, runOnce } from "../../jepsen/index.ts";
import { describeRun, e2eOptions } from "./support/e2e.ts";

test("--api grpc: clients on etcd's KV API through a kill and a partition leave a linearizable history", async (t) => {
  const log: string[] = [];
  const r = await runOnce(
    e2eOptions({
      api: "grpc",
      nemesis: ["kill", "partition"],
      decks: 1,
      seed: 21,
      keep: true,
      log: (l) => log.push(l),
    }),
  );
  t.diagnostic(describeRun(r, log).split("\n").slice(0, 4).join("; "));
  try {
    assert.equal(r.verdict, "valid", describeRun(r, log));
    assert.deepEqual(Object.keys(r.faults).sort(), ["kill", "partition"], JSON.stringify(r.faults));

    const h = readHistoryFile(r.historyPath);
    assert.equal(h.meta.api, "grpc", "the history records the API its clients used");
    const clientOps = h.ops.filter((op) => op.process >= 0);
    const count = (f: string, type: string) =>
      clientOps.filter((op) => op.f === f && op.type === type).length;
    // (Hundreds on a quiet machine; a few dozen at load 25, where a restart takes 35 s.)
    assert.ok(count("write", "ok") > 20, `ok writes: ${count("write", "ok")}`);
    assert.ok(count("read", "ok") > 20, `ok reads: ${count("read", "ok")}`);
    assert.ok(count("cas", "ok") > 0, "some CAS (Txn) succeeded");
    // Every ok write and CAS carries the revision from etcd's response
    // header, and ok reads of a present key the kv's mod_revision.
    for (const op of clientOps) {
      if (op.type !== "ok") continue;
      if (op.f !== "read" || op.value !== null)
        assert.ok(op.revision !== undefined && op.revision > 0, `no revision: ${JSON.stringify(op)}`);
    }
    // Refused Txns carry the mod revision their else-branch Range saw.
    const refused = clientOps.filter((op) => op.f === "cas" && op.error === "REVISION_MISMATCH");
    assert.ok(refused.length > 0, "some CAS was refused");
    for (const op of refused) assert.ok(op.seenRevision !== undefined, JSON.stringify(op));
    // The killed member refused connections: gRPC calls that never left
    // the harness, recorded as fail.
    const notSent = clientOps.filter((op) => op.error === "ECONNREFUSED");
    assert.ok(notSent.length > 0, "no request met the killed member's closed port");
    for (const op of notSent) assert.equal(op.type, "fail");
  } finally {
    if (r.valid) rmSync(r.dir, { recursive: true, force: true });
  }
});
