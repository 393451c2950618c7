// The local cluster's flags, its port layout, the layout a data directory
// remembers (member IDs derive from peer URLs, so it cannot change), and
// the members' command lines.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { localMembers, memberArgv, parseClusterFlags, resolveLayout } from "../../src/cli/cluster_command.ts";
import { ConfigError } from "../../src/config/index.ts";

const root = mkdtempSync(join(tmpdir(), "tsraft-cluster-flags-"));
after(() => rmSync(root, { recursive: true, force: true }));

test("cluster flags: defaults, every option, member flags after --", () => {
  const d = parseClusterFlags([]);
  assert.deepEqual(d, {
    layout: {},
    dataDir: "./data",
    logLevel: "warn",
    unsafeNoFsync: false,
    memberArgs: [],
    help: false,
  });
  const f = parseClusterFlags([
    "--size",
    "5",
    "--data-dir",
    "/tmp/x",
    "--base-port",
    "30000",
    "--host",
    "::1",
    "--no-tls",
    "--log-level",
    "info",
    "--snapshot-count",
    "1000",
    "--unsafe-no-fsync",
    "--",
    "--heartbeat-interval",
    "50",
  ]);
  assert.deepEqual(f, {
    layout: { size: 5, basePort: 30000, host: "::1", tls: false },
    dataDir: "/tmp/x",
    logLevel: "info",
    snapshotCount: 1000,
    unsafeNoFsync: true,
    memberArgs: ["--heartbeat-interval", "50"],
    help: false,
  });
  assert.equal(parseClusterFlags(["--tls"]).layout.tls, true);
  assert.equal(parseClusterFlags(["-h"]).help, true);
});

test("cluster flags: bad ones are ConfigErrors naming the flag", () => {
  const cases: Array<[string[], RegExp]> = [
    [["--size", "0"], /^--size must be a whole number from 1 to 99, got "0"$/],
    [["--size", "three"], /^--size must be a whole number/],
    [["--base-port", "70000"], /^--base-port must be a whole number from 1 to 65535/],
    [["--base-port", "65530"], /^--base-port 65530: the last member's ports would pass 65535$/],
    [["--tls", "--no-tls"], /contradict/],
    [["--log-level", "loud"], /^--log-level "loud" is not one of debug, info, warn, error$/],
    [
      ["--heartbeat-interval", "5"],
      /^--heartbeat-interval: unknown option of tsraft-kv cluster .*member flags go after "--"/,
    ],
    [["extra"], /^extra: unexpected argument/],
    [["--size"], /^--size needs a value$/],
    [["--host", "a b"], /^--host "a b" is not an address$/],
  ];
  for (const [argv, re] of cases) {
    assert.throws(
      () => parseClusterFlags(argv),
      (e: unknown) => e instanceof ConfigError && re.test(e.message),
      argv.join(" "),
    );
  }
});

test("cluster layout: member i listens for clients on base + 10i and for peers on the next port", () => {
  const ms = localMembers({ size: 3, host: "127.0.0.1", basePort: 2379, tls: true }, "/d");
  assert.deepEqual(ms, [
    { name: "m1", clientURL: "http://127.0.0.1:2379", peerURL: "https://127.0.0.1:2380", dataDir: "/d/m1" },
    { name: "m2", clientURL: "http://127.0.0.1:2389", peerURL: "https://127.0.0.1:2390", dataDir: "/d/m2" },
    { name: "m3", clientURL: "http://127.0.0.1:2399", peerURL: "https://127.0.0.1:2400", dataDir: "/d/m3" },
  ]);
  const v6 = localMembers({ size: 1, host: "::1", basePort: 30000, tls: false }, "/d");
  assert.deepEqual(v6[0], {
    name: "m1",
    clientURL: "http://[::1]:30000",
    peerURL: "http://[::1]:30001",
    dataDir: "/d/m1",
  });
});

test("cluster layout: a new data dir takes the flags; a recorded one keeps its layout and refuses other values", () => {
  const fresh = join(root, "fresh");
  assert.deepEqual(resolveLayout(fresh, { basePort: 30000 }), {
    layout: { size: 3, host: "127.0.0.1", basePort: 30000, tls: true },
    recorded: false,
  });
  const rec = join(root, "rec");
  mkdirSync(rec);
  writeFileSync(
    join(rec, "cluster.json"),
    JSON.stringify({ size: 5, host: "127.0.0.1", basePort: 31000, tls: false }),
  );
  const want = { layout: { size: 5, host: "127.0.0.1", basePort: 31000, tls: false }, recorded: true };
  assert.deepEqual(resolveLayout(rec, {}), want);
  assert.deepEqual(resolveLayout(rec, { size: 5, tls: false }), want, "flags that agree are fine");
  assert.throws(
    () => resolveLayout(rec, { basePort: 2379 }),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.message ===
        `--base-port: ${rec} holds a cluster made with --base-port 31000; member IDs derive from the peer URLs, so that cannot change: drop the flag or use another --data-dir`,
  );
  assert.throws(() => resolveLayout(rec, { tls: true }), /made with --no-tls/);
  writeFileSync(join(rec, "cluster.json"), "{");
  assert.throws(
    () => resolveLayout(rec, {}),
    (e: unknown) => e instanceof ConfigError && /remove it to start over/.test(e.message),
  );
  writeFileSync(join(rec, "cluster.json"), JSON.stringify({ size: "5" }));
  assert.throws(() => resolveLayout(rec, {}), /is not a cluster layout/);
});

test("cluster layout: member data without cluster.json is from before TLS was the default (plain http peers)", () => {
  const old = join(root, "old");
  mkdirSync(join(old, "m1", "member", "wal"), { recursive: true });
  assert.deepEqual(resolveLayout(old, {}), {
    layout: { size: 3, host: "127.0.0.1", basePort: 2379, tls: false },
    recorded: true,
  });
  assert.throws(() => resolveLayout(old, { tls: true }), /made with --no-tls/);
});

test("cluster: a member's command line, TLS flags and the pass-through flags last", () => {
  const ms = localMembers({ size: 2, host: "127.0.0.1", basePort: 30000, tls: true }, "/d");
  const flags = parseClusterFlags([
    "--snapshot-count",
    "50",
    "--unsafe-no-fsync",
    "--",
    "--log-level",
    "debug",
  ]);
  const tls = new Map([["m2", ["--peer-cert-file", "/d/pki/m2/peer.crt"]]]);
  assert.deepEqual(memberArgv(ms[1]!, ms, flags, tls), [
    "--name",
    "m2",
    "--initial-cluster",
    "m1=https://127.0.0.1:30001,m2=https://127.0.0.1:30011",
    "--listen-peer-urls",
    "https://127.0.0.1:30011",
    "--listen-client-urls",
    "http://127.0.0.1:30010",
    "--data-dir",
    "/d/m2",
    "--log-level",
    "warn",
    "--snapshot-count",
    "50",
    "--unsafe-no-fsync",
    "--peer-cert-file",
    "/d/pki/m2/peer.crt",
    "--log-level",
    "debug",
  ]);
});
