// The configuration's defaults are the ones tsraft-kv had: kv's memberDefaults and defaultLimits.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CONFIG_DEFAULTS } from "../../src/config/index.ts";
import { defaultLimits, memberDefaults } from "../../src/kv/index.ts";

test("config defaults equal the kv server's", () => {
  assert.equal(CONFIG_DEFAULTS.snapshotCount, memberDefaults.snapshotCount);
  assert.equal(CONFIG_DEFAULTS.snapshotCatchUpEntries, memberDefaults.snapshotCatchUpEntries);
  assert.equal(CONFIG_DEFAULTS.heartbeatIntervalMs, memberDefaults.tickMs);
  assert.equal(CONFIG_DEFAULTS.electionTicks, memberDefaults.electionTicks);
  assert.equal(memberDefaults.heartbeatTicks, 1, "a heartbeat is one tick");
  assert.equal(CONFIG_DEFAULTS.initialClusterToken, memberDefaults.clusterToken);
  assert.equal(CONFIG_DEFAULTS.maxKeyBytes, defaultLimits.maxKeyBytes);
  assert.equal(CONFIG_DEFAULTS.maxValueBytes, defaultLimits.maxValueBytes);
  assert.equal(CONFIG_DEFAULTS.requestTimeoutMs, defaultLimits.requestTimeoutMs);
});
