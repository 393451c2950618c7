// `tsraft-kv snapshot status` prints what etcdctl 3.4's `snapshot status`
// prints. The expected strings are etcdctl's own output for a real etcd 3.4
// snapshot (hash bd28972a, revision 4, 7 keys, 20,480 bytes), captured from
// Debian's etcdctl; sizes as go-humanize's Bytes writes them.
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatStatus, humanBytes } from "../../src/cli/snapshot_command.ts";

const st = { hash: 0xbd28972a, revision: 4, totalKey: 7, totalSize: 20480 };

test("status in etcdctl's three formats", () => {
  assert.equal(formatStatus(st, "simple"), "bd28972a, 4, 7, 20 kB\n");
  assert.equal(
    formatStatus(st, "table"),
    [
      "+----------+----------+------------+------------+",
      "|   HASH   | REVISION | TOTAL KEYS | TOTAL SIZE |",
      "+----------+----------+------------+------------+",
      "| bd28972a |        4 |          7 |      20 kB |",
      "+----------+----------+------------+------------+",
      "",
    ].join("\n"),
  );
  assert.equal(formatStatus(st, "json"), '{"hash":3173553962,"revision":4,"totalKey":7,"totalSize":20480}\n');
});

test("sizes as go-humanize writes them (SI units, one decimal below 10)", () => {
  const cases: Array<[number, string]> = [
    [0, "0 B"],
    [9, "9 B"],
    [10, "10 B"],
    [999, "999 B"],
    [1000, "1.0 kB"],
    [1500, "1.5 kB"],
    [9999, "10 kB"],
    [20480, "20 kB"],
    [82854982, "83 MB"],
    [1_000_000_000, "1.0 GB"],
  ];
  for (const [n, want] of cases) assert.equal(humanBytes(n), want, String(n));
});
