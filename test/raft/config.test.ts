// Config validation: invalid settings throw ConfigError naming the field;
// defaults are filled in.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type Config, ConfigError, MemoryStorage, ReadOnlyOption } from "../../src/index.ts";
import { resolveConfig } from "../../src/internal.ts";

const base = (): Config => ({ id: 1n, electionTick: 10, heartbeatTick: 1, storage: new MemoryStorage() });

test("invalid configurations throw ConfigError naming the offending field", () => {
  const cases: Array<[Partial<Config>, string]> = [
    [{ id: 0n }, "id"],
    [{ id: -1n }, "id"],
    [{ id: 1n << 64n }, "id"],
    // A number is refused, even a small one: IDs are exact 64-bit bigints only.
    [{ id: 1 as unknown as bigint }, "id"],
    [{ heartbeatTick: 0 }, "heartbeatTick"],
    [{ electionTick: 1 }, "electionTick"],
    [{ electionTick: 1.5 }, "electionTick"],
    [{ storage: undefined as unknown as MemoryStorage }, "storage"],
    [{ maxInflightMsgs: 0 }, "maxInflightMsgs"],
    [{ maxSizePerMsg: -1 }, "maxSizePerMsg"],
    [{ maxSizePerMsg: 100, maxInflightBytes: 99 }, "maxInflightBytes"],
    [{ readOnlyOption: ReadOnlyOption.ReadOnlyLeaseBased }, "readOnlyOption"],
    [{ readOnlyOption: 7 as ReadOnlyOption }, "readOnlyOption"],
    [{ applied: -1 }, "applied"],
  ];
  for (const [override, field] of cases) {
    assert.throws(
      () => resolveConfig({ ...base(), ...override }),
      (e: unknown) => e instanceof ConfigError && e.field === field && e.code === "ERR_INVALID_CONFIG",
      JSON.stringify(override, (_, v) => (typeof v === "bigint" ? `${v}n` : v)),
    );
  }
});

test("defaults: 1 MiB messages, 512 in flight, no byte or uncommitted limits, apply budget = message size, safe reads", () => {
  const c = resolveConfig(base());
  assert.equal(c.maxSizePerMsg, 1024 * 1024);
  assert.equal(c.maxInflightMsgs, 512);
  assert.equal(c.maxInflightBytes, Number.POSITIVE_INFINITY);
  assert.equal(c.maxUncommittedEntriesSize, Number.POSITIVE_INFINITY);
  assert.equal(c.maxCommittedSizePerReady, 1024 * 1024);
  assert.equal(c.readOnlyOption, ReadOnlyOption.ReadOnlySafe);
  assert.equal(c.checkQuorum, false);
  assert.equal(c.preVote, false);
  assert.equal(resolveConfig({ ...base(), maxSizePerMsg: 4096 }).maxCommittedSizePerReady, 4096);
  assert.equal(resolveConfig({ ...base(), maxSizePerMsg: 0 }).maxCommittedSizePerReady, 1);
  assert.equal(
    resolveConfig({ ...base(), checkQuorum: true, readOnlyOption: ReadOnlyOption.ReadOnlyLeaseBased })
      .readOnlyOption,
    ReadOnlyOption.ReadOnlyLeaseBased,
  );
});
