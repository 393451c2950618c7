// Where a member's settings come from, end to end: every old tsraft-kv flag
// (an alias of an etcd flag) lands in the same KvMember setting as its etcd
// name; members started with only the old flags, only TSRAFT_ variables, or
// a YAML config file serve with those settings; a flag beats the
// environment, which beats the file.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { memberConfigFor } from "../../src/cli/member_command.ts";
import { loadConfig } from "../../src/config/index.ts";
import { clusterIdFor, memberIdFor } from "../../src/host/index.ts";
import { KvMember, type MemberConfig } from "../../src/kv/index.ts";
import { writeClusterPki } from "../../src/pki/index.ts";
import { discardLogger } from "../../src/raft/index.ts";
import { freePort } from "../kv/support/cluster.ts";
import { buildCli, type KvProc, startKv, waitHealthy } from "./support/kv_proc.ts";

const root = mkdtempSync(join(tmpdir(), "tsraft-cli-sources-"));
const running: KvProc[] = [];
before(() => buildCli());
after(() => {
  for (const p of running) p.proc.kill("SIGKILL");
  rmSync(root, { recursive: true, force: true });
});

const P = "http://127.0.0.1:22380";
const C = "http://127.0.0.1:22379";

function memberConfig(argv: string[]): MemberConfig {
  const r = loadConfig({ argv, env: {}, cwd: root, fileReadable: () => true });
  assert.equal(r.action, "run");
  if (r.action !== "run") throw new Error("unreachable");
  return memberConfigFor(r.config, discardLogger);
}

test("each old tsraft-kv flag sets the same KvMember setting as its etcd name", () => {
  const base = ["--name", "a", "--initial-cluster", `a=${P}`];
  const cases: Array<{ old: string[]; etcd: string[]; pick: (c: MemberConfig) => unknown; want: unknown }> = [
    { old: ["--listen-peer", P], etcd: ["--listen-peer-urls", P], pick: (c) => c.listenPeerURL, want: P },
    {
      old: ["--listen-client", C],
      etcd: ["--listen-client-urls", C],
      pick: (c) => c.listenClientURL,
      want: C,
    },
    {
      old: ["--advertise-peer", P],
      etcd: ["--initial-advertise-peer-urls", P],
      pick: (c) => c.advertisePeerURLs,
      want: [P],
    },
    {
      old: ["--advertise-client", "http://10.0.0.1:2379"],
      etcd: ["--advertise-client-urls", "http://10.0.0.1:2379"],
      pick: (c) => c.advertiseClientURLs,
      want: ["http://10.0.0.1:2379"],
    },
    {
      old: ["--cluster-token", "blue"],
      etcd: ["--initial-cluster-token", "blue"],
      pick: (c) => c.clusterToken,
      want: "blue",
    },
    { old: ["--tick-ms", "50"], etcd: ["--heartbeat-interval", "50"], pick: (c) => c.tickMs, want: 50 },
    {
      old: ["--election-ticks", "20"],
      etcd: ["--election-timeout", "2000"],
      pick: (c) => [c.electionTicks, c.heartbeatTicks],
      want: [20, 1],
    },
    {
      old: ["--snapshot-count", "100", "--snapshot-catch-up-entries", "7"],
      etcd: ["--snapshot-count", "100", "--snapshot-catchup-entries", "7"],
      pick: (c) => [c.snapshotCount, c.snapshotCatchUpEntries],
      want: [100, 7],
    },
    {
      old: [
        "--client-cert-file",
        "/s.crt",
        "--client-key-file",
        "/s.key",
        "--client-trusted-ca-file",
        "/ca.crt",
      ],
      etcd: ["--cert-file", "/s.crt", "--key-file", "/s.key", "--trusted-ca-file", "/ca.crt"],
      pick: (c) => c.clientTls,
      want: { certFile: "/s.crt", keyFile: "/s.key", trustedCAFile: "/ca.crt", clientCertAuth: false },
    },
  ];
  for (const k of cases) {
    assert.deepEqual(k.pick(memberConfig([...base, ...k.old])), k.want, k.old.join(" "));
    assert.deepEqual(k.pick(memberConfig([...base, ...k.etcd])), k.want, k.etcd.join(" "));
  }
  // etcd names of the rest of the mapping.
  const c = memberConfig([
    ...base,
    "--max-key-bytes",
    "100",
    "--max-value-bytes",
    "200",
    "--request-timeout",
    "300",
    "--unsafe-no-fsync",
    "--peer-cert-file",
    "/p.crt",
    "--peer-key-file",
    "/p.key",
    "--peer-trusted-ca-file",
    "/ca.crt",
    "--peer-client-cert-auth",
  ]);
  assert.equal(c.limits.maxKeyBytes, 100);
  assert.equal(c.limits.maxValueBytes, 200);
  assert.equal(c.limits.requestTimeoutMs, 300);
  assert.equal(c.unsafeNoFsync, true);
  assert.deepEqual(c.peerTls, {
    certFile: "/p.crt",
    keyFile: "/p.key",
    trustedCAFile: "/ca.crt",
    clientCertAuth: true,
  });
  const j = memberConfig(["--name", "j", "--join", "http://10.0.0.1:2379", "--learner"]);
  assert.equal(j.join, "http://10.0.0.1:2379");
  assert.equal(j.joinAsLearner, true);
  assert.deepEqual(j.initialCluster, []);
});

test("--initial-cluster-state existing, --strict-reconfig-check and --force-new-cluster reach the host", () => {
  const run = (argv: string[]) => {
    const r = loadConfig({ argv, env: {}, cwd: root });
    if (r.action !== "run") throw new Error("not run");
    const m = new KvMember(memberConfigFor(r.config, discardLogger));
    return m.host.cfg;
  };
  const base = ["--name", "a", "--initial-cluster", `a=${P},b=http://127.0.0.1:22390`];
  assert.equal(run(base).initialClusterState, "new");
  assert.equal(run(base).strictReconfigCheck, true);
  const e = run([...base, "--initial-cluster-state", "existing", "--strict-reconfig-check=false"]);
  assert.equal(e.initialClusterState, "existing");
  assert.equal(e.strictReconfigCheck, false);
  assert.equal(run([...base, "--force-new-cluster"]).forceNewCluster, true);
  assert.equal(run(base).forceNewCluster, undefined);
});

interface MembersJson {
  clusterId: string;
  members: Array<{ id: string; name: string; peerURLs: string[]; clientURLs: string[] }>;
}

/** GET over https, trusting `ca`. */
function httpsGet(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("a member started with only the old flags serves with them (https client API, advertised URLs, token, snapshots)", async () => {
  const [pp, cp] = [await freePort(), await freePort()];
  const peer = `http://localhost:${pp}`;
  const client = `https://localhost:${cp}`;
  const pki = await writeClusterPki(join(root, "pki"), [
    { name: "old", peerURLs: [peer], clientURLs: [client], hosts: ["127.0.0.1"] },
  ]);
  const ca = readFileSync(pki.ca.cert, "utf8");
  const p = startKv([
    "--name",
    "old",
    "--initial-cluster",
    `old=${peer}`,
    "--listen-peer",
    `http://127.0.0.1:${pp}`,
    "--advertise-peer",
    peer,
    "--listen-client",
    `https://127.0.0.1:${cp}`,
    "--advertise-client",
    client,
    "--cluster-token",
    "old-token",
    "--tick-ms",
    "20",
    "--election-ticks",
    "10",
    "--snapshot-count",
    "10",
    "--snapshot-catch-up-entries",
    "5",
    "--client-cert-file",
    pki.members[0]!.serverCert,
    "--client-key-file",
    pki.members[0]!.serverKey,
    "--client-trusted-ca-file",
    pki.ca.cert,
    "--data-dir",
    join(root, "old"),
  ]);
  running.push(p);
  const deadline = Date.now() + 30_000;
  let members: MembersJson | null = null;
  while (Date.now() < deadline) {
    const h = await httpsGet(`${client}/health`, ca).catch(() => null);
    if (h?.status === 200) {
      const m = JSON.parse((await httpsGet(`${client}/members`, ca)).body) as MembersJson;
      if (m.members[0]?.clientURLs.length) {
        members = m;
        break;
      }
    }
    assert.equal(p.proc.exitCode, null, p.output());
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(members !== null, `not serving over https:\n${p.output()}`);
  const id = memberIdFor([peer], "old-token");
  assert.deepEqual(members.members, [
    {
      id: id.toString(16),
      name: "old",
      peerURLs: [peer],
      clientURLs: [client],
      isLearner: false,
    },
  ]);
  assert.equal(members.clusterId, clusterIdFor([id]).toString(16));
  // --snapshot-count 10: a dozen writes make a snapshot.
  const { request: httpsRequest } = await import("node:https");
  for (let i = 0; i < 12; i++) {
    await new Promise<void>((resolve, reject) => {
      const req = httpsRequest(`${client}/kv/k${i}`, { method: "PUT", ca }, (res) => {
        res.resume();
        res.on("end", () =>
          res.statusCode === 200 ? resolve() : reject(new Error(`PUT ${res.statusCode}`)),
        );
      });
      req.on("error", reject);
      req.end("v");
    });
  }
  const until = Date.now() + 10_000;
  let snap = 0;
  while (snap === 0 && Date.now() < until) {
    snap = (JSON.parse((await httpsGet(`${client}/status`, ca)).body) as { snapshotIndex: number })
      .snapshotIndex;
    if (snap === 0) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(snap >= 10, `a snapshot was taken (snapshotIndex ${snap})`);
  p.proc.kill("SIGTERM");
  assert.equal(await p.exited, 0, p.output());
});

function records(lines: string[]): Array<Record<string, unknown>> {
  return lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
}

test("TSRAFT_ variables configure a member; a config file does too (log file, metrics listener); flag > env > file", async () => {
  // Only environment variables, and one flag that overrides one of them.
  const [ep, ec] = [await freePort(), await freePort()];
  const envMember = startKv(["--log-level", "info"], {
    env: {
      TSRAFT_NAME: "envy",
      TSRAFT_INITIAL_CLUSTER: `envy=http://127.0.0.1:${ep}`,
      TSRAFT_LISTEN_CLIENT_URLS: `http://127.0.0.1:${ec}`,
      TSRAFT_DATA_DIR: join(root, "envy"),
      TSRAFT_HEARTBEAT_INTERVAL: "20",
      TSRAFT_ELECTION_TIMEOUT: "200",
      TSRAFT_LOG_LEVEL: "error",
    },
  });
  // A config file (etcd's keys; a relative data-dir is relative to the working directory),
  // with the environment overriding its log level.
  const [fp, fc, fm] = [await freePort(), await freePort(), await freePort()];
  const file = join(root, "member.yaml");
  writeFileSync(
    file,
    [
      "name: filed",
      `initial-cluster: filed=http://127.0.0.1:${fp}`,
      `listen-client-urls: http://127.0.0.1:${fc}`,
      "data-dir: filed-data",
      "heartbeat-interval: 20",
      "election-timeout: 200",
      "log-level: error",
      "log-outputs: filed.log",
      `listen-metrics-urls: http://127.0.0.1:${fm}`,
      "",
    ].join("\n"),
  );
  const fileMember = startKv(["--config-file", file], { cwd: root, env: { TSRAFT_LOG_LEVEL: "info" } });
  running.push(envMember, fileMember);
  await Promise.all([
    waitHealthy(envMember, `http://127.0.0.1:${ec}`),
    waitHealthy(fileMember, `http://127.0.0.1:${fc}`),
  ]);
  const name = async (c: number) =>
    ((await (await fetch(`http://127.0.0.1:${c}/status`)).json()) as { name: string }).name;
  assert.equal(await name(ec), "envy");
  assert.equal(await name(fc), "filed");
  assert.ok(
    existsSync(join(root, "filed-data", "member", "wal")),
    "data-dir resolved against the working dir",
  );
  assert.ok(existsSync(join(root, "envy", "member", "wal")));
  const serving = records(envMember.stderr).find((r) => r.msg === "serving");
  assert.ok(
    serving !== undefined,
    `info records (--log-level over TSRAFT_LOG_LEVEL):\n${envMember.output()}`,
  );
  // The file member logs to filed.log (log-outputs, relative to its working dir), at info
  // (TSRAFT_LOG_LEVEL over the file's log-level), and nothing to stderr.
  const logged = readFileSync(join(root, "filed.log"), "utf8")
    .split("\n")
    .filter((l) => l !== "");
  assert.ok(
    records(logged).some((r) => r.msg === "serving" && r.member === "filed"),
    logged.join("\n"),
  );
  assert.deepEqual(fileMember.stderr, []);
  // listen-metrics-urls: /metrics and /health only.
  const metrics = await fetch(`http://127.0.0.1:${fm}/metrics`);
  assert.equal(metrics.status, 200);
  assert.match(await metrics.text(), /^etcd_server_has_leader 1$/m);
  assert.deepEqual(await (await fetch(`http://127.0.0.1:${fm}/health`)).json(), { health: "true" });
  assert.equal((await fetch(`http://127.0.0.1:${fm}/kv/x`)).status, 404);
  const shadowed = records(envMember.stderr).find((r) =>
    String(r.msg).includes("TSRAFT_LOG_LEVEL is shadowed by --log-level"),
  );
  assert.ok(shadowed !== undefined && shadowed.level === "warn", envMember.output());
  envMember.proc.kill("SIGTERM");
  fileMember.proc.kill("SIGINT");
  assert.equal(await envMember.exited, 0, envMember.output());
  assert.equal(await fileMember.exited, 0, fileMember.output());
});
