// examples/kv-embedded.ts: tsraft-kv used as a library in-process, and its
// data surviving a restart of the member on the same directory.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { main } from "../../examples/kv-embedded.ts";

test("a KvMember embedded in-process serves its API and HTTP, and keeps its data across restarts", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tsraft-kv-embedded-test-"));
  try {
    const first = await main(dir);
    assert.equal(first[0], "put greeting at revision 2", "etcd's MVCC: an empty store is at revision 1");
    assert.equal(first[1], "get greeting: hello");
    assert.match(first[2]!, /^GET http:\/\/127\.0\.0\.1:\d+\/kv\/greeting: 200 hello$/);
    // Restarted on the same directory: the first write is still there, so this one is revision 3.
    const second = await main(dir);
    assert.equal(second[0], "put greeting at revision 3");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
