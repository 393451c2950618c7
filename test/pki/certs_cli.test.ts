// `tsraft certs`: the files, the flags it prints, re-runs, and one-line refusals with exit status 2.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, test } from "node:test";
import { runCertsCommand } from "../../src/cli/certs.ts";
import { peerIdentity } from "../../src/pki/index.ts";
import { repoRoot } from "../support/testdata.ts";

const root = mkdtempSync(join(tmpdir(), "tsraft-certs-"));
after(() => rmSync(root, { recursive: true, force: true }));

async function run(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCertsCommand(argv, { stdout: (l) => out.push(l), stderr: (l) => err.push(l) });
  return { code, out: out.join("\n"), err };
}

const CLUSTER = "m1=https://127.0.0.1:22380,m2=https://127.0.0.1:22390,m3=https://127.0.0.1:22400";

test("creates the CA and every member's certificates, and prints each member's flags", async () => {
  const dir = join(root, "a");
  const r = await run([
    "--dir",
    dir,
    "--initial-cluster",
    CLUSTER,
    "--client-urls",
    "m1=https://kv1.example:22379",
    "--client-hosts",
    "lb.example,192.0.2.9",
    "--days",
    "30",
  ]);
  assert.equal(r.code, 0, r.err.join("\n"));
  assert.deepEqual(r.err, []);
  assert.match(r.out, /^created .*ca\.crt/m);
  for (const n of ["m1", "m2", "m3"]) {
    assert.match(r.out, new RegExp(`^issued  .*${n}/peer\\.crt, .*${n}/server\\.crt \\(${n}\\)$`, "m"));
    assert.ok(
      r.out.includes(
        `  ${n}: --peer-cert-file ${join(dir, n, "peer.crt")} --peer-key-file ${join(dir, n, "peer.key")} ` +
          `--peer-trusted-ca-file ${join(dir, "ca.crt")} --peer-client-cert-auth`,
      ),
      n,
    );
    assert.equal(statSync(join(dir, n, "peer.key")).mode & 0o777, 0o600);
  }
  const m1 = new X509Certificate(readFileSync(join(dir, "m1", "server.crt")));
  assert.match(m1.subjectAltName ?? "", /DNS:kv1\.example/);
  assert.match(m1.subjectAltName ?? "", /DNS:lb\.example/);
  assert.match(m1.subjectAltName ?? "", /IP Address:192\.0\.2\.9/);
  const m2 = new X509Certificate(readFileSync(join(dir, "m2", "peer.crt")));
  assert.deepEqual(peerIdentity(m2), { name: "m2", peerURLs: ["https://127.0.0.1:22390"] });
  assert.equal(Math.round((Date.parse(m2.validTo) - Date.parse(m2.validFrom)) / 60_000), 30 * 24 * 60 + 5);

  // A re-run keeps everything; adding m4 issues only m4's.
  const again = await run(["--dir", dir, "--initial-cluster", `${CLUSTER},m4=https://127.0.0.1:22410`]);
  assert.equal(again.code, 0, again.err.join("\n"));
  assert.match(again.out, /^kept {4}.*ca\.crt/m);
  assert.match(again.out, /^kept {4}.*m1\/peer\.crt/m);
  assert.match(again.out, /^issued {2}.*m4\/peer\.crt/m);
});

test("bad flags and conflicting files: one line on stderr, exit status 2", async () => {
  const dir = join(root, "b");
  assert.equal((await run(["--dir", dir, "--initial-cluster", "m1=https://127.0.0.1:22380"])).code, 0);
  const cases: Array<[string[], RegExp]> = [
    [["--initial-cluster", CLUSTER], /^tsraft certs: --dir is required$/],
    [["--dir", dir], /^tsraft certs: --initial-cluster is required/],
    [
      ["--dir", dir, "--initial-cluster", "m1=ftp://x:1"],
      /^tsraft certs: --initial-cluster: use http or https: "ftp:\/\/x:1"$/,
    ],
    [
      ["--dir", dir, "--initial-cluster", CLUSTER, "--days", "0"],
      /--days must be a positive integer, got "0"/,
    ],
    [
      ["--dir", dir, "--initial-cluster", CLUSTER, "--client-urls", "m9=https://h:1"],
      /names m9, which is not in --initial-cluster/,
    ],
    [
      ["--dir", dir, "--initial-cluster", CLUSTER, "--client-hosts", "bad host"],
      /"bad host" is neither a DNS name nor an IP/,
    ],
    [["--dir", dir, "--initial-cluster", "../x=https://127.0.0.1:1"], /member name "\.\.\/x"/],
    [["--dir", dir, "--bogus"], /^tsraft certs: --bogus: unknown option \(see --help\)$/],
    [["--dir"], /^tsraft certs: --dir needs a value$/],
    [["stray"], /^tsraft certs: stray: unexpected argument/],
    [
      ["--dir", dir, "--initial-cluster", "m1=https://127.0.0.1:22999"],
      /m1\/peer\.crt is for m1 at https:\/\/127\.0\.0\.1:22380, not m1 at https:\/\/127\.0\.0\.1:22999; remove .*m1 to reissue$/,
    ],
  ];
  for (const [argv, msg] of cases) {
    const r = await run(argv);
    assert.equal(r.code, 2, `${argv.join(" ")}: ${r.err.join("|")}`);
    assert.equal(r.err.length, 1, argv.join(" "));
    assert.match(r.err[0]!, msg, argv.join(" "));
  }
  assert.ok(!existsSync(join(root, "x")), "nothing written outside DIR");
});

test("--help prints the layout and exits 0; the module runs as a script", async () => {
  const h = await run(["--help"]);
  assert.equal(h.code, 0);
  assert.match(h.out, /^Usage: tsraft certs --dir DIR --initial-cluster/);
  assert.match(h.out, /DIR\/<name>\/peer\.crt/);
  const dir = join(root, "script");
  const r = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      resolve(repoRoot, "src/cli/certs.ts"),
      "--dir",
      dir,
      "--initial-cluster",
      "solo=https://127.0.0.1:22380",
    ],
    { cwd: repoRoot, encoding: "utf8", timeout: 30_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(join(dir, "solo", "peer.crt")));
  const bad = spawnSync(
    process.execPath,
    ["--import", "tsx", resolve(repoRoot, "src/cli/certs.ts"), "--dir", dir],
    {
      cwd: repoRoot,
      encoding: "utf8",
      timeout: 30_000,
    },
  );
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr, "tsraft certs: --initial-cluster is required (name=peerURL,...)\n");
});
