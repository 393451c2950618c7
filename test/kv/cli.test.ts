// The tsraft-kv command line: --help, --version, bad configuration (exit 2,
// one line naming the flag, variable or file key), and refusing a data
// directory that belongs to another member or cluster (exit 5) without
// touching it. Runs the compiled CLI that `npm start` runs.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { runMemberCommand } from "../../src/cli/member_command.ts";
import { buildCli, plainLines, runKv, startKv, waitHealthy } from "../cli/support/kv_proc.ts";
import { repoRoot } from "../support/testdata.ts";
import { freePort } from "./support/cluster.ts";

const root = mkdtempSync(join(tmpdir(), "tsraft-kv-cli-"));
before(() => buildCli());
after(() => rmSync(root, { recursive: true, force: true }));

test("--help lists etcd's flags with the old names as aliases, the exit codes, and the cluster command", async () => {
  const r = await runKv(["--help"]);
  assert.equal(r.code, 0, r.stderr);
  for (const flag of [
    "--name",
    "--initial-cluster",
    "--initial-cluster-state",
    "--listen-peer-urls",
    "--listen-client-urls",
    "--initial-advertise-peer-urls",
    "--heartbeat-interval",
    "--election-timeout",
    "--data-dir",
    "--join",
    "--snapshot-count",
    "--peer-cert-file",
    "--config-file",
    "--log-level",
  ]) {
    assert.ok(r.stdout.includes(flag), `help mentions ${flag}`);
  }
  assert.match(r.stdout, /alias: --listen-peer\b/);
  assert.match(r.stdout, /alias: --tick-ms\b/);
  assert.match(r.stdout, /TSRAFT_LISTEN_PEER_URLS/);
  assert.match(r.stdout, /Exit codes:\n(.*\n)*\s+4\s+another process holds the data directory/);
  assert.match(r.stdout, /tsraft-kv cluster/);
  const c = await runKv(["cluster", "--help"]);
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stdout, /--size/);
  assert.match(c.stdout, /--no-tls/);
});

test("--version prints the package version, Node's and the platform", async () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string };
  const r = await runKv(["--version"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    `tsraft-kv Version: ${pkg.version}\nNode.js Version: ${process.version}\nOS/Arch: ${process.platform}/${process.arch}`,
  );
});

test("bad configuration exits 2 with one line naming the flag, variable or file key", async () => {
  const badFile = join(root, "bad.yaml");
  writeFileSync(badFile, "name: a\nheartbeat-interval: fast\n");
  const typoFile = join(root, "typo.yaml");
  writeFileSync(typoFile, "name: a\nlisten-peer-url: http://127.0.0.1:1\n");
  const cases: Array<{ args: string[]; env?: Record<string, string>; line: RegExp }> = [
    {
      args: ["--name", "a", "--listen-peer", "not-a-url"],
      line: /^tsraft-kv: --listen-peer: not a URL: "not-a-url"$/,
    },
    {
      args: ["--name", "a", "--snapshot-count", "0"],
      line: /^tsraft-kv: --snapshot-count must be a positive integer, got "0"$/,
    },
    {
      args: ["--listen-client-urls", "http://127.0.0.1:1"],
      line: /^tsraft-kv: --name \(or --id\) is required$/,
    },
    { args: ["--name", "x", "--initial-cluster", "a=http://127.0.0.1:9"], line: /not in --initial-cluster/ },
    { args: ["--name", "a", "--log-level", "loud"], line: /^tsraft-kv: --log-level: "loud" is not one of/ },
    { args: ["--name", "a", "--no-such-flag"], line: /^tsraft-kv: --no-such-flag: unknown flag/ },
    { args: ["--name", "a", "--tick-ms", "10", "--heartbeat-interval", "10"], line: /set the same thing/ },
    {
      args: [],
      env: { TSRAFT_NAME: "a", TSRAFT_HEARTBEAT_INTERVAL: "-5" },
      line: /^tsraft-kv: TSRAFT_HEARTBEAT_INTERVAL/,
    },
    { args: ["--config-file", badFile], line: /^tsraft-kv: .*bad\.yaml: heartbeat-interval/ },
    { args: ["--config-file", typoFile], line: /^tsraft-kv: .*typo\.yaml: listen-peer-url: unknown key/ },
    {
      args: ["--config-file", join(root, "missing.yaml")],
      line: /^tsraft-kv: --config-file: cannot read .*ENOENT/,
    },
  ];
  // In-process (the command returns its status before it installs any process handler) ...
  for (const c of cases) {
    const what = `${c.args.join(" ")} ${JSON.stringify(c.env ?? {})}`;
    const out: string[] = [];
    const err: string[] = [];
    const code = await runMemberCommand(c.args, {
      io: { stdout: (t) => out.push(t), stderr: (t) => err.push(t) },
      env: c.env ?? {},
      cwd: root,
    });
    assert.equal(code, 2, `${what}: ${err.join("")}`);
    assert.equal(out.join(""), "", what);
    const lines = err
      .join("")
      .split("\n")
      .filter((l) => l !== "");
    assert.equal(lines.length, 1, `${what}: one line:\n${err.join("")}`);
    assert.match(lines[0]!, c.line, what);
  }
  // ... and as processes, for the exit status itself.
  const results = await Promise.all([runKv(cases[0]!.args), runKv(cases[8]!.args)]);
  for (const [i, r] of results.entries()) {
    assert.equal(r.code, 2, r.stderr);
    assert.deepEqual(plainLines(r.stderr), [r.stderr.trim()], "only the line");
    assert.match(r.stderr.trim(), cases[i === 0 ? 0 : 8]!.line);
  }
});

function digest(dir: string): string {
  const h = createHash("sha256");
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else h.update(p).update(readFileSync(p));
    }
  };
  walk(dir);
  return h.digest("hex");
}

test("a data dir of another member or cluster is refused (exit 5) and left untouched", async () => {
  const dir = join(root, "solo");
  const [client, peer] = [await freePort(), await freePort()];
  const fast = ["--heartbeat-interval", "20", "--election-timeout", "200"];
  const solo = startKv([
    "--name",
    "solo",
    "--initial-cluster",
    `solo=http://127.0.0.1:${peer}`,
    "--listen-client-urls",
    `http://127.0.0.1:${client}`,
    "--data-dir",
    dir,
    ...fast,
  ]);
  try {
    await waitHealthy(solo, `http://127.0.0.1:${client}`);
    assert.equal((await fetch(`http://127.0.0.1:${client}/kv/x`, { method: "PUT", body: "1" })).status, 200);
  } finally {
    solo.proc.kill("SIGTERM");
  }
  assert.equal(await solo.exited, 0, solo.output());
  const before = digest(dir);
  const other = `http://127.0.0.1:${await freePort()}`;
  const attempts = [
    ["--name", "other", "--initial-cluster", `other=${other}`],
    ["--name", "solo", "--initial-cluster", `solo=${other}`],
    [
      "--name",
      "solo",
      "--initial-cluster",
      `solo=http://127.0.0.1:${peer}`,
      "--initial-cluster-token",
      "another",
    ],
  ];
  const results = await Promise.all(
    attempts.map(async (args) =>
      runKv([
        ...args,
        "--data-dir",
        dir,
        "--listen-client-urls",
        `http://127.0.0.1:${await freePort()}`,
        ...fast,
      ]),
    ),
  );
  for (const [i, r] of results.entries()) {
    assert.equal(r.code, 5, `${attempts[i]!.join(" ")}: ${r.stderr}`);
    const lines = plainLines(r.stderr);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(
      lines[0]!,
      /^tsraft-kv: data dir .* belongs to member [0-9a-f]+ of cluster [0-9a-f]+.*refusing to touch it$/,
    );
  }
  assert.equal(digest(dir), before, "the data dir was not modified");
});
