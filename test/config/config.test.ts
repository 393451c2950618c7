// The member configuration: each source, precedence between them, the old
// tsraft-kv flag names with their meaning, and every validation error as one
// line naming the key and the value.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  ConfigError,
  configHelp,
  envName,
  type LoadOptions,
  loadConfig,
  type MemberConfiguration,
  OPTIONS,
  parseInitialCluster,
} from "../../src/config/index.ts";

const CWD = "/srv/tsraft";
const P1 = "http://127.0.0.1:22380";
const P2 = "http://127.0.0.1:22390";

/** Files that exist for the TLS checks. */
const FILES = new Set([
  "/pki/ca.crt",
  "/pki/m1/peer.crt",
  "/pki/m1/peer.key",
  "/pki/m1/server.crt",
  "/pki/m1/server.key",
]);

function load(
  argv: string[],
  env: Record<string, string> = {},
  file?: string,
): {
  config: MemberConfiguration;
  warnings: string[];
  origins: Record<string, { source: string; key: string }>;
} {
  const opts: LoadOptions = {
    argv,
    env,
    cwd: CWD,
    fileReadable: (p) => FILES.has(p),
    readFile: (p) => {
      if (file === undefined || p !== "/etc/tsraft/member.yaml") {
        throw Object.assign(new Error(`ENOENT: ${p}`), { code: "ENOENT" });
      }
      return file;
    },
  };
  const r = loadConfig(opts);
  assert.equal(r.action, "run");
  if (r.action !== "run") throw new Error("unreachable");
  return r;
}

function refuse(argv: string[], key: string, msg: RegExp, env: Record<string, string> = {}, file?: string) {
  assert.throws(
    () => load(argv, env, file),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, `${argv.join(" ")}: ${String(e)}`);
      assert.equal(e.code, "ERR_CONFIG");
      assert.equal(e.key, key, `${argv.join(" ")}: ${e.message}`);
      assert.ok(e.message.startsWith(key), e.message);
      assert.ok(!e.message.includes("\n"), "one line");
      assert.match(e.message, msg, argv.join(" "));
      return true;
    },
  );
}

test("flags: --flag value, --flag=value, bare and explicit booleans; defaults as tsraft-kv had them", () => {
  const { config: c } = load(["--name", "m1", `--initial-cluster=m1=${P1},m2=${P2}`, "--unsafe-no-fsync"]);
  assert.equal(c.name, "m1");
  assert.deepEqual(c.initialCluster, [
    { name: "m1", peerURLs: [P1] },
    { name: "m2", peerURLs: [P2] },
  ]);
  assert.equal(c.unsafeNoFsync, true);
  assert.equal(c.dataDir, "/srv/tsraft/m1.tsraft");
  assert.deepEqual(c.listenPeerUrls, [P1], "listens where --initial-cluster says it is");
  assert.deepEqual(c.initialAdvertisePeerUrls, [P1]);
  assert.deepEqual(c.listenClientUrls, ["http://127.0.0.1:2379"]);
  assert.deepEqual(c.advertiseClientUrls, ["http://127.0.0.1:2379"]);
  assert.equal(c.initialClusterToken, "tsraft-kv");
  assert.equal(c.initialClusterState, "new");
  assert.equal(c.heartbeatIntervalMs, 100);
  assert.equal(c.electionTimeoutMs, 1000);
  assert.deepEqual([c.tickMs, c.heartbeatTicks, c.electionTicks], [100, 1, 10]);
  assert.equal(c.snapshotCount, 100_000);
  assert.equal(c.snapshotCatchUpEntries, 5_000);
  assert.deepEqual([c.maxKeyBytes, c.maxValueBytes, c.requestTimeoutMs], [1536, 1048576, 5000]);
  assert.equal(c.logLevel, "info");
  assert.equal(c.logFormat, "auto");
  assert.equal(c.logOutput, "stderr");
  assert.equal(c.metrics, "basic");
  assert.equal(c.strictReconfigCheck, true);
  assert.equal(c.forceNewCluster, false);
  assert.equal(c.peerTls, undefined);
  assert.equal(c.clientTls, undefined);
  assert.equal(c.join, undefined);
  const off = load([
    "--name",
    "m1",
    "--unsafe-no-fsync=false",
    "--strict-reconfig-check=0",
    "--force-new-cluster=TRUE",
  ]);
  assert.equal(off.config.unsafeNoFsync, false);
  assert.equal(off.config.strictReconfigCheck, false);
  assert.equal(off.config.forceNewCluster, true);
  // Alone, a member is a cluster of one at its advertised peer URL.
  const solo = load(["--name", "solo", "--listen-peer-urls", P1]).config;
  assert.deepEqual(solo.initialCluster, [{ name: "solo", peerURLs: [P1] }]);
  // A repeated flag keeps the last value, so a script can append an override.
  assert.equal(load(["--name", "a", "--log-level", "warn", "--log-level", "error"]).config.logLevel, "error");
});

test("help and version are actions, not settings", () => {
  assert.deepEqual(loadConfig({ argv: ["--help"], env: {} }), { action: "help" });
  assert.deepEqual(loadConfig({ argv: ["-h", "--name", "x"], env: {} }), { action: "help" });
  assert.deepEqual(loadConfig({ argv: ["--version"], env: {} }), { action: "version" });
  // Help wins over a config error elsewhere on the line only if parsing got that far: a bad flag is still an error.
  assert.throws(() => loadConfig({ argv: ["--version", "--bogus"], env: {} }), ConfigError);
});

test("environment: TSRAFT_ + the etcd name in upper snake case; unknown TSRAFT_ variables are warnings", () => {
  const env = {
    TSRAFT_NAME: "m2",
    TSRAFT_INITIAL_CLUSTER: `m1=${P1},m2=${P2}`,
    TSRAFT_LISTEN_CLIENT_URLS: "http://127.0.0.1:22391",
    TSRAFT_HEARTBEAT_INTERVAL: "50",
    TSRAFT_ELECTION_TIMEOUT: "500",
    TSRAFT_DATA_DIR: "data/m2",
    TSRAFT_UNSAFE_NO_FSYNC: "true",
    TSRAFT_PEER_CERT_ALLOWED_CN: "m1, m3",
    TSRAFT_PEER_TRUSTED_CA_FILE: "/pki/ca.crt",
    TSRAFT_LOG_LEVEL: "", // empty: unset
    TSRAFT_DATADRIVEN_KINDS: "quorum", // a test's variable: a warning only
    TSRAFT_TICK_MS: "10", // an alias: not read from the environment
    ETCD_NAME: "etcd-member", // not read
    ETCD_DATA_DIR: "/var/lib/etcd", // not read
  };
  const { config: c, warnings, origins } = load([], env);
  assert.equal(c.name, "m2");
  assert.deepEqual(c.listenPeerUrls, [P2]);
  assert.deepEqual(c.listenClientUrls, ["http://127.0.0.1:22391"]);
  assert.equal(c.heartbeatIntervalMs, 50);
  assert.equal(c.electionTimeoutMs, 500);
  assert.equal(c.electionTicks, 10);
  assert.equal(c.dataDir, "/srv/tsraft/data/m2");
  assert.equal(c.unsafeNoFsync, true);
  assert.deepEqual(c.peerTls, {
    clientCertAuth: false,
    trustedCAFile: "/pki/ca.crt",
    allowedCN: ["m1", "m3"],
  });
  assert.equal(c.logLevel, "info");
  assert.deepEqual(origins.name, { source: "env", key: "TSRAFT_NAME" });
  assert.deepEqual(origins["log-level"], { source: "default", key: "--log-level" });
  assert.deepEqual(warnings.sort(), [
    "environment variable TSRAFT_TICK_MS is not read; use TSRAFT_HEARTBEAT_INTERVAL",
    "peer TLS files are given but every peer URL is http://: peer traffic is not encrypted",
    "unrecognized environment variable TSRAFT_DATADRIVEN_KINDS",
  ]);
  assert.equal(envName("initial-advertise-peer-urls"), "TSRAFT_INITIAL_ADVERTISE_PEER_URLS");
});

const YAML = `# an etcd-style config file
name: 'm1'
data-dir: /var/lib/tsraft/m1
wal-dir:
snapshot-count: 10000
heartbeat-interval: 100
election-timeout: 1000
listen-peer-urls: https://127.0.0.1:22380
listen-client-urls: https://127.0.0.1:22379
initial-advertise-peer-urls: https://127.0.0.1:22380
advertise-client-urls: https://127.0.0.1:22379
max-snapshots: 5
quota-backend-bytes: 0
initial-cluster:
  - m1=https://127.0.0.1:22380
  - m2=https://127.0.0.1:22390
initial-cluster-token: 'cluster-a'
initial-cluster-state: 'new'
strict-reconfig-check: false
enable-pprof: true
proxy: 'off'
client-transport-security:
  cert-file: /pki/m1/server.crt
  key-file: /pki/m1/server.key
  client-cert-auth: true
  trusted-ca-file: /pki/ca.crt
  auto-tls: false
peer-transport-security:
  cert-file: /pki/m1/peer.crt
  key-file: /pki/m1/peer.key
  client-cert-auth: true
  trusted-ca-file: /pki/ca.crt
  allowed-cn: [m1, m2]
log-level: warn
log-outputs: [stderr]
force-new-cluster: false
tls-min-version: 'TLS1.3'
`;

test("config file: etcd's keys and transport-security sections; etcd-only keys are warnings", () => {
  const { config: c, warnings, origins } = load(["--config-file", "/etc/tsraft/member.yaml"], {}, YAML);
  assert.equal(c.configFile, "/etc/tsraft/member.yaml");
  assert.equal(c.name, "m1");
  assert.equal(c.dataDir, "/var/lib/tsraft/m1");
  assert.equal(c.snapshotCount, 10000);
  assert.equal(c.snapshotCatchUpEntries, 5000);
  assert.deepEqual(c.listenPeerUrls, ["https://127.0.0.1:22380"]);
  assert.deepEqual(c.advertiseClientUrls, ["https://127.0.0.1:22379"]);
  assert.deepEqual(
    c.initialCluster.map((m) => m.name),
    ["m1", "m2"],
  );
  assert.equal(c.initialClusterToken, "cluster-a");
  assert.equal(c.strictReconfigCheck, false);
  assert.deepEqual(c.clientTls, {
    certFile: "/pki/m1/server.crt",
    keyFile: "/pki/m1/server.key",
    trustedCAFile: "/pki/ca.crt",
    clientCertAuth: true,
    minVersion: "TLSv1.3",
  });
  assert.deepEqual(c.peerTls, {
    certFile: "/pki/m1/peer.crt",
    keyFile: "/pki/m1/peer.key",
    trustedCAFile: "/pki/ca.crt",
    clientCertAuth: true,
    allowedCN: ["m1", "m2"],
    minVersion: "TLSv1.3",
  });
  assert.equal(c.logLevel, "warn");
  assert.deepEqual(origins["peer-cert-file"], {
    source: "file",
    key: "/etc/tsraft/member.yaml: peer-transport-security.cert-file",
  });
  assert.deepEqual(origins["config-file"], { source: "flag", key: "--config-file" });
  assert.deepEqual(warnings.sort(), [
    "/etc/tsraft/member.yaml: enable-pprof: etcd's enable-pprof has no meaning in tsraft-kv; ignored",
    "/etc/tsraft/member.yaml: max-snapshots: etcd's max-snapshots has no meaning in tsraft-kv; ignored",
    "/etc/tsraft/member.yaml: proxy: etcd's proxy has no meaning in tsraft-kv; ignored",
  ]);
  // The config file named by the environment, and relative to the working directory.
  const env = load([], { TSRAFT_CONFIG_FILE: "../../etc/tsraft/member.yaml" }, YAML);
  assert.equal(env.config.configFile, "/etc/tsraft/member.yaml");
  assert.deepEqual(env.origins["config-file"], { source: "env", key: "TSRAFT_CONFIG_FILE" });
  // An empty file is no setting at all.
  assert.throws(
    () => load(["--config-file", "/etc/tsraft/member.yaml"], {}, "# nothing\n"),
    /--name \(or --id\)/,
  );
});

test("a real config file on disk is read", () => {
  const d = mkdtempSync(join(tmpdir(), "tsraft-config-"));
  after(() => rmSync(d, { recursive: true, force: true }));
  writeFileSync(join(d, "m.yaml"), `name: disk\nlisten-peer-urls: ${P1}\n`);
  const r = loadConfig({ argv: ["--config-file", "m.yaml"], env: {}, cwd: d });
  assert.equal(r.action, "run");
  if (r.action === "run") {
    assert.equal(r.config.name, "disk");
    assert.equal(r.config.configFile, join(d, "m.yaml"));
    assert.equal(r.config.dataDir, join(d, "disk.tsraft"));
  }
  assert.throws(
    () => loadConfig({ argv: ["--config-file", "missing.yaml"], env: {}, cwd: d }),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.key === "--config-file" &&
      /cannot read .*missing\.yaml: ENOENT/.test(e.message),
  );
});

test("precedence: flag > environment > config file > default, per setting", () => {
  const file = `name: from-file\nlog-level: error\nsnapshot-count: 7000\nheartbeat-interval: 200\nelection-timeout: 2000\nmetrics: extensive\n`;
  const env = { TSRAFT_LOG_LEVEL: "warn", TSRAFT_SNAPSHOT_COUNT: "8000", TSRAFT_NAME: "from-env" };
  const {
    config: c,
    origins,
    warnings,
  } = load(["--config-file", "/etc/tsraft/member.yaml", "--log-level", "debug"], env, file);
  assert.equal(c.logLevel, "debug", "flag over env and file");
  assert.equal(c.snapshotCount, 8000, "env over file");
  assert.equal(c.name, "from-env");
  assert.equal(c.metrics, "extensive", "file over default");
  assert.equal(c.heartbeatIntervalMs, 200);
  assert.equal(c.electionTimeoutMs, 2000);
  assert.equal(c.requestTimeoutMs, 5000, "default");
  assert.deepEqual(origins["log-level"], { source: "flag", key: "--log-level" });
  assert.deepEqual(origins["snapshot-count"], { source: "env", key: "TSRAFT_SNAPSHOT_COUNT" });
  assert.deepEqual(origins.metrics, { source: "file", key: "/etc/tsraft/member.yaml: metrics" });
  assert.ok(warnings.includes("TSRAFT_LOG_LEVEL is shadowed by --log-level"));
  // The election setting has two forms; the most precedent source decides which one counts.
  const ticks = load(["--config-file", "/etc/tsraft/member.yaml", "--election-ticks", "20"], {}, file).config;
  assert.equal(
    ticks.electionTimeoutMs,
    4000,
    "--election-ticks from flags beats the file's election-timeout",
  );
  assert.equal(ticks.electionTicks, 20);
  const ms = load(["--election-ticks", "20", "--name", "a"], { TSRAFT_ELECTION_TIMEOUT: "700" }).config;
  assert.equal(ms.electionTimeoutMs, 2000, "flags beat the environment");
  // An alias from flags beats the primary name from the environment.
  const alias = load(["--name", "a", "--listen-client", "http://127.0.0.1:22301"], {
    TSRAFT_LISTEN_CLIENT_URLS: "http://127.0.0.1:22302",
  }).config;
  assert.deepEqual(alias.listenClientUrls, ["http://127.0.0.1:22301"]);
});

test("every tsraft-kv flag keeps working with its meaning", () => {
  const { config: c } = load([
    "--name",
    "m1",
    "--listen-peer",
    "https://127.0.0.1:22380/",
    "--listen-client",
    "https://127.0.0.1:22379",
    "--advertise-peer",
    "https://10.1.1.1:22380",
    "--advertise-client",
    "https://10.1.1.1:22379",
    "--cluster-token",
    "tok",
    "--tick-ms",
    "20",
    "--election-ticks",
    "10",
    "--snapshot-count",
    "1000",
    "--snapshot-catch-up-entries",
    "300",
    "--max-key-bytes",
    "100",
    "--max-value-bytes",
    "2000",
    "--request-timeout",
    "900",
    "--peer-cert-file",
    "/pki/m1/peer.crt",
    "--peer-key-file",
    "/pki/m1/peer.key",
    "--peer-trusted-ca-file",
    "/pki/ca.crt",
    "--peer-client-cert-auth",
    "--client-cert-file",
    "/pki/m1/server.crt",
    "--client-key-file",
    "/pki/m1/server.key",
    "--client-trusted-ca-file",
    "/pki/ca.crt",
    "--client-cert-auth",
    "--log-level",
    "warn",
    "--data-dir",
    "rel/dir",
    "--unsafe-no-fsync",
  ]);
  assert.deepEqual(c.listenPeerUrls, ["https://127.0.0.1:22380"], "trailing slash dropped, as before");
  assert.deepEqual(c.listenClientUrls, ["https://127.0.0.1:22379"]);
  assert.deepEqual(c.initialAdvertisePeerUrls, ["https://10.1.1.1:22380"]);
  assert.deepEqual(c.advertiseClientUrls, ["https://10.1.1.1:22379"]);
  assert.deepEqual(c.initialCluster, [{ name: "m1", peerURLs: ["https://10.1.1.1:22380"] }]);
  assert.equal(c.initialClusterToken, "tok");
  assert.deepEqual([c.tickMs, c.electionTicks, c.electionTimeoutMs], [20, 10, 200]);
  assert.deepEqual([c.snapshotCount, c.snapshotCatchUpEntries], [1000, 300]);
  assert.deepEqual([c.maxKeyBytes, c.maxValueBytes, c.requestTimeoutMs], [100, 2000, 900]);
  assert.deepEqual(c.peerTls, {
    certFile: "/pki/m1/peer.crt",
    keyFile: "/pki/m1/peer.key",
    trustedCAFile: "/pki/ca.crt",
    clientCertAuth: true,
  });
  assert.deepEqual(c.clientTls, {
    certFile: "/pki/m1/server.crt",
    keyFile: "/pki/m1/server.key",
    trustedCAFile: "/pki/ca.crt",
    clientCertAuth: true,
  });
  assert.equal(c.logLevel, "warn");
  assert.equal(c.dataDir, "/srv/tsraft/rel/dir");
  assert.equal(c.unsafeNoFsync, true);
  // The catch-up default follows the snapshot count, as before.
  assert.equal(load(["--name", "a", "--snapshot-count", "1000"]).config.snapshotCatchUpEntries, 500);
  // raftexample style: --id picks the member by position; names are m<i>.
  const ex = load(["--id", "2", "--initial-cluster", `${P1},${P2}`]).config;
  assert.equal(ex.name, "m2");
  assert.deepEqual(ex.listenPeerUrls, [P2]);
  assert.deepEqual(ex.initialCluster, [
    { name: "m1", peerURLs: [P1] },
    { name: "m2", peerURLs: [P2] },
  ]);
  // --join (and --learner): no initial cluster, state existing.
  const j = load([
    "--name",
    "m4",
    "--join",
    "http://127.0.0.1:22379",
    "--learner",
    "--listen-peer",
    P2,
  ]).config;
  assert.equal(j.join, "http://127.0.0.1:22379");
  assert.equal(j.joinAsLearner, true);
  assert.equal(j.initialClusterState, "existing");
  assert.deepEqual(j.initialCluster, []);
  assert.deepEqual(j.listenPeerUrls, [P2]);
});

test("--initial-cluster forms: names, repeated names, bare URLs, YAML lists", () => {
  assert.deepEqual(parseInitialCluster(`a=${P1}, a=${P2}`), [{ name: "a", peerURLs: [P1, P2] }]);
  assert.deepEqual(parseInitialCluster(`${P1},${P2},`), [
    { name: "m1", peerURLs: [P1] },
    { name: "m2", peerURLs: [P2] },
  ]);
  assert.deepEqual(
    parseInitialCluster([`a=${P1}`, `b=${P2}`], { source: "file", key: "f: initial-cluster" }),
    [
      { name: "a", peerURLs: [P1] },
      { name: "b", peerURLs: [P2] },
    ],
  );
  for (const [v, msg] of [
    ["", /is empty/],
    [`=${P1}`, /empty member name/],
    [`a=${P1},b=${P1}`, /is given to a and b/],
    [`a=${P1},${P2}`, /mixes name=URL entries with bare URLs/],
    ["a=ftp://h:1", /use http or https: "ftp:\/\/h:1"/],
  ] as const) {
    assert.throws(
      () => parseInitialCluster(v),
      (e: unknown) => e instanceof ConfigError && e.key === "--initial-cluster" && msg.test(e.message),
      v,
    );
  }
});

test("every validation error is one ConfigError line naming the key and the value", () => {
  const N = ["--name", "m1"];
  // flags and values
  refuse(["--bogus"], "--bogus", /unknown flag --bogus/);
  refuse(["m1"], "m1", /unexpected argument "m1"/);
  refuse(["--name"], "--name", /--name needs a value/);
  refuse(["--name", "--data-dir", "x"], "--name", /needs a value/);
  refuse([...N, "--quota-backend-bytes", "1"], "--quota-backend-bytes", /etcd flag with no meaning/);
  refuse([...N, "--learner", "true"], "true", /unexpected argument "true"/);
  refuse([...N, "--unsafe-no-fsync=maybe"], "--unsafe-no-fsync", /"maybe" is not a boolean/);
  refuse(
    [...N, "--listen-peer", P1, "--listen-peer-urls", P2],
    "--listen-peer-urls",
    /--listen-peer-urls and --listen-peer set the same thing/,
  );
  refuse(
    [...N, "--election-ticks", "10", "--election-timeout", "1000"],
    "--election-timeout",
    /set the same thing/,
  );
  refuse(["--name", ""], "--name", /must not be empty/);
  refuse(["--name", "a\u0007b"], "--name", /control characters/);
  refuse(["--name", "a,b"], "--name", /cannot hold "," or "="/);
  refuse([], "--name", /^--name \(or --id\) is required$/);
  // numbers
  refuse(
    [...N, "--snapshot-count", "0"],
    "--snapshot-count",
    /--snapshot-count must be a positive integer, got "0"/,
  );
  refuse([...N, "--snapshot-count", "1e3"], "--snapshot-count", /got "1e3"/);
  refuse([...N, "--heartbeat-interval", "-5"], "--heartbeat-interval", /got "-5"/);
  refuse([...N, "--request-timeout", "9007199254740993"], "--request-timeout", /positive integer/);
  refuse(
    [...N, "--election-timeout", "1050"],
    "--election-timeout",
    /1050 ms is not a multiple of --heartbeat-interval 100 ms/,
  );
  refuse(
    [...N, "--election-timeout", "400"],
    "--election-timeout",
    /400 ms is less than 5 x --heartbeat-interval 100 ms/,
  );
  refuse(
    [...N, "--tick-ms", "100", "--election-ticks", "3"],
    "--election-ticks",
    /--election-ticks 3 \(300 ms\) is less than 5 x --tick-ms 100 ms/,
  );
  refuse([...N, "--election-timeout", "60000"], "--election-timeout", /above etcd's limit of 50000 ms/);
  refuse(
    [...N, "--heartbeat-interval", "6000"],
    "--heartbeat-interval",
    /default election timeout .* 60000 ms, above/,
  );
  refuse(
    [...N, "--snapshot-count", "100", "--snapshot-catchup-entries", "100"],
    "--snapshot-catchup-entries",
    /must be smaller than --snapshot-count 100/,
  );
  // enums
  refuse([...N, "--log-level", "loud"], "--log-level", /"loud" is not one of debug, info, warn, error/);
  refuse([...N, "--log-format", "xml"], "--log-format", /"xml" is not one of json, console/);
  refuse([...N, "--metrics", "all"], "--metrics", /not one of basic, extensive/);
  refuse(
    [...N, "--initial-cluster-state", "old"],
    "--initial-cluster-state",
    /"old" is not one of new, existing/,
  );
  refuse([...N, "--tls-min-version", "TLS1.1"], "--tls-min-version", /not one of TLS1.2, TLS1.3/);
  refuse(
    [...N, "--tls-min-version", "TLS1.3", "--tls-max-version", "TLS1.2"],
    "--tls-min-version",
    /TLS1.3 is above --tls-max-version TLS1.2/,
  );
  refuse([...N, "--log-outputs", "stderr,stdout"], "--log-outputs", /one output only/);
  // URLs
  refuse([...N, "--listen-peer", "not-a-url"], "--listen-peer", /^--listen-peer: not a URL: "not-a-url"$/);
  refuse([...N, "--listen-client-urls", "ftp://127.0.0.1:1"], "--listen-client-urls", /use http or https/);
  refuse(
    [...N, "--listen-client-urls", "http://127.0.0.1"],
    "--listen-client-urls",
    /needs an explicit port: "http:\/\/127.0.0.1"/,
  );
  refuse([...N, "--listen-client-urls", "http://127.0.0.1:1/api"], "--listen-client-urls", /without path/);
  refuse(
    [...N, "--listen-client-urls", "http://u@127.0.0.1:1"],
    "--listen-client-urls",
    /without path, query or user/,
  );
  refuse(
    [...N, "--listen-client-urls", "http://127.0.0.1:70000"],
    "--listen-client-urls",
    /not a URL|out of range/,
  );
  refuse([...N, "--listen-peer-urls", `${P1},${P2}`], "--listen-peer-urls", /one URL per role/);
  refuse([...N, "--advertise-client-urls", `${P1},${P1}`], "--advertise-client-urls", /listed twice/);
  refuse(
    [...N, "--listen-client-urls", "http://0.0.0.0:22379"],
    "--advertise-client-urls",
    /cannot dial an unspecified address \(it defaults to --listen-client-urls\)/,
  );
  refuse(
    [...N, "--initial-advertise-peer-urls", "http://[::]:22380"],
    "--initial-advertise-peer-urls",
    /unspecified address; set a reachable one/,
  );
  refuse([...N, "--join", "localhost"], "--join", /not a URL|use http or https/);
  // cluster and identity
  refuse(
    ["--name", "x", "--initial-cluster", "a=http://127.0.0.1:9"],
    "--name",
    /--name "x" is not in --initial-cluster/,
  );
  refuse(
    ["--name", "m1", "--initial-cluster", `m1=${P1}`, "--listen-peer", P2],
    "--initial-cluster",
    /has m1=http:\/\/127.0.0.1:22380 but --listen-peer \(the advertised peer URLs by default\) is http:\/\/127.0.0.1:22390/,
  );
  refuse(
    ["--name", "m1", "--initial-cluster", `m1=${P1}`, "--advertise-peer", P2],
    "--initial-cluster",
    /but --advertise-peer is/,
  );
  refuse(["--id", "1"], "--id", /--id needs --initial-cluster/);
  refuse(["--id", "3", "--initial-cluster", `${P1},${P2}`], "--id", /--id 3 is beyond the 2 members/);
  refuse(
    ["--id", "1", "--name", "zz", "--initial-cluster", `${P1},${P2}`],
    "--name",
    /--name zz does not match member 1 \(m1\)/,
  );
  refuse([...N, "--learner"], "--learner", /--learner needs --join/);
  refuse(
    [...N, "--join", "http://127.0.0.1:22379", "--initial-cluster", `m1=${P1}`],
    "--join",
    /mutually exclusive/,
  );
  refuse(
    [...N, "--join", "http://127.0.0.1:22379", "--initial-cluster-state", "new"],
    "--initial-cluster-state",
    /new contradicts --join/,
  );
  refuse(
    [...N, "--join", "http://127.0.0.1:22379", "--force-new-cluster"],
    "--force-new-cluster",
    /cannot --join/,
  );
  // TLS
  refuse([...N, "--peer-cert-file", "/pki/m1/peer.crt"], "--peer-cert-file", /needs --peer-key-file too/);
  refuse([...N, "--key-file", "/pki/m1/server.key"], "--key-file", /needs --cert-file too/);
  refuse(
    [...N, "--peer-cert-file", "/nope.crt", "--peer-key-file", "/pki/m1/peer.key"],
    "--peer-cert-file",
    /cannot read \/nope\.crt/,
  );
  refuse([...N, "--peer-client-cert-auth"], "--peer-client-cert-auth", /needs --peer-trusted-ca-file/);
  refuse(
    [...N, "--client-cert-auth", "--cert-file", "/pki/m1/server.crt", "--key-file", "/pki/m1/server.key"],
    "--client-cert-auth",
    /needs --trusted-ca-file/,
  );
  refuse([...N, "--trusted-ca-file", "/pki/ca.crt"], "--trusted-ca-file", /needs --cert-file and --key-file/);
  refuse(
    [...N, "--peer-cert-allowed-cn", "a"],
    "--peer-cert-allowed-cn",
    /needs --peer-cert-file and --peer-key-file/,
  );
  refuse(
    [
      ...N,
      "--peer-trusted-ca-file",
      "/pki/ca.crt",
      "--peer-cert-allowed-cn",
      "a",
      "--peer-cert-allowed-hostname",
      "h",
    ],
    "--peer-cert-allowed-cn",
    /mutually exclusive/,
  );
  refuse(
    [...N, "--listen-peer-urls", "https://127.0.0.1:22380"],
    "--listen-peer-urls",
    /is https: give --peer-cert-file and --peer-key-file/,
  );
  refuse(
    [...N, "--listen-client-urls", "https://127.0.0.1:22379"],
    "--listen-client-urls",
    /is https: give --cert-file and --key-file/,
  );
  // environment and config file name their own keys
  refuse([], "TSRAFT_SNAPSHOT_COUNT", /TSRAFT_SNAPSHOT_COUNT must be a positive integer, got "many"/, {
    TSRAFT_NAME: "a",
    TSRAFT_SNAPSHOT_COUNT: "many",
  });
  refuse([], "TSRAFT_FORCE_NEW_CLUSTER", /"yes please" is not a boolean/, {
    TSRAFT_NAME: "a",
    TSRAFT_FORCE_NEW_CLUSTER: "yes please",
  });
  const F = ["--config-file", "/etc/tsraft/member.yaml"];
  const fk = (k: string) => `/etc/tsraft/member.yaml: ${k}`;
  refuse(F, fk("snapshot-count"), /must be a positive integer, got -1/, {}, "name: a\nsnapshot-count: -1\n");
  refuse(F, fk("heartbeat-interval"), /got 1.5/, {}, "name: a\nheartbeat-interval: 1.5\n");
  refuse(F, fk("name"), /is not a string/, {}, "name: [a, b]\n");
  refuse(F, fk("nmae"), /unknown key "nmae"/, {}, "nmae: a\n");
  refuse(F, fk("config-file"), /cannot be set in a config file/, {}, "config-file: other.yaml\n");
  refuse(F, fk("election-ticks"), /cannot be set in a config file/, {}, "election-ticks: 10\n");
  refuse(F, fk("peer-transport-security"), /must be a mapping/, {}, "peer-transport-security: yes\n");
  refuse(
    F,
    fk("peer-transport-security.cert-flie"),
    /unknown key/,
    {},
    "peer-transport-security:\n  cert-flie: x\n",
  );
  refuse(
    F,
    fk("peer-transport-security.cert-file"),
    /and peer-cert-file set the same thing/,
    {},
    "peer-cert-file: /pki/m1/peer.crt\npeer-transport-security:\n  cert-file: /pki/m1/peer.crt\n",
  );
  refuse(F, fk("data-dir"), /must be a value, not a mapping/, {}, "data-dir: {a: 1}\n");
  refuse(F, "/etc/tsraft/member.yaml", /the top level must be a mapping/, {}, "- name: a\n");
  refuse(F, "/etc/tsraft/member.yaml", /not valid YAML: line 2:/, {}, "name: a\nname: b\n");
  refuse(F, "/etc/tsraft/member.yaml", /not valid YAML:/, {}, "name: [unclosed\n");
  refuse(["--config-file", "/etc/other.yaml"], "--config-file", /cannot read \/etc\/other\.yaml: ENOENT/);
});

test("--help lists every option, alias and exit code", () => {
  const h = configHelp();
  for (const o of OPTIONS) {
    assert.ok(h.includes(`--${o.name}`), o.name);
    for (const a of o.aliases ?? []) assert.ok(h.includes(`--${a}`), a);
  }
  assert.match(h, /A flag wins over the environment,\nwhich wins over the config file/);
  for (const code of [0, 1, 2, 3, 4, 5, 6, 7]) assert.match(h, new RegExp(`\\n  ${code}  `));
});

test("the remaining etcd options reach the configuration", () => {
  FILES.add("/pki/m1/peer-client.crt");
  FILES.add("/pki/m1/peer-client.key");
  FILES.add("/pki/crl.pem");
  const { config: c } = load([
    "--name",
    "m1",
    "--listen-peer-urls",
    "https://127.0.0.1:22380",
    "--listen-metrics-urls",
    "http://127.0.0.1:22381",
    "--peer-cert-file",
    "/pki/m1/peer.crt",
    "--peer-key-file",
    "/pki/m1/peer.key",
    "--peer-client-cert-file",
    "/pki/m1/peer-client.crt",
    "--peer-client-key-file",
    "/pki/m1/peer-client.key",
    "--peer-trusted-ca-file",
    "/pki/ca.crt",
    "--peer-crl-file",
    "/pki/crl.pem",
    "--peer-cert-allowed-hostname",
    "a.example,b.example",
    "--peer-skip-client-san-verification",
    "--tls-max-version",
    "TLS1.2",
    "--log-format",
    "json",
    "--log-outputs",
    "logs/m1.log",
    "--metrics",
    "extensive",
    "--initial-cluster-state",
    "existing",
  ]);
  assert.deepEqual(c.listenMetricsUrls, ["http://127.0.0.1:22381"]);
  assert.deepEqual(c.peerTls, {
    certFile: "/pki/m1/peer.crt",
    keyFile: "/pki/m1/peer.key",
    clientCertFile: "/pki/m1/peer-client.crt",
    clientKeyFile: "/pki/m1/peer-client.key",
    trustedCAFile: "/pki/ca.crt",
    clientCertAuth: false,
    crlFile: "/pki/crl.pem",
    allowedHostnames: ["a.example", "b.example"],
    skipClientSANVerify: true,
    maxVersion: "TLSv1.2",
  });
  assert.equal(c.logFormat, "json");
  assert.equal(c.logOutput, "/srv/tsraft/logs/m1.log");
  assert.equal(c.metrics, "extensive");
  assert.equal(c.initialClusterState, "existing");
  assert.equal(load(["--name", "a", "--log-outputs", "stdout"]).config.logOutput, "stdout");
  assert.equal(load(["--name", "a", "--log-outputs", "default"]).config.logOutput, "stderr");
});
