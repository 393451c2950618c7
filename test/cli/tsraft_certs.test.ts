// `tsraft certs` is a subcommand of the tsraft command line: it reaches
// runCertsCommand with its own arguments and returns its status.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { main } from "../../src/cli/tsraft.ts";

const root = mkdtempSync(join(tmpdir(), "tsraft-certs-sub-"));
after(() => rmSync(root, { recursive: true, force: true }));

async function tsraft(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { log: (l) => out.push(l), error: (l) => err.push(l) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

test("tsraft certs writes the cluster PKI and prints the members' flags", async () => {
  const dir = join(root, "pki");
  const r = await tsraft([
    "certs",
    "--dir",
    dir,
    "--initial-cluster",
    "a=https://127.0.0.1:22380,b=https://127.0.0.1:22390",
  ]);
  assert.equal(r.code, 0, r.err);
  for (const f of [
    "ca.crt",
    "ca.key",
    "client.crt",
    "a/peer.crt",
    "a/peer.key",
    "b/server.crt",
    "b/server.key",
  ]) {
    assert.ok(existsSync(join(dir, f)), f);
  }
  assert.match(r.out, new RegExp(`a: --peer-cert-file ${join(dir, "a", "peer.crt")} `));
  const again = await tsraft([
    "certs",
    "--dir",
    dir,
    "--initial-cluster",
    "a=https://127.0.0.1:22380,b=https://127.0.0.1:22390",
  ]);
  assert.equal(again.code, 0, again.err);
  assert.match(again.out, /^kept/m);
});

test("tsraft certs: bad flags are status 2 with one line; --help; listed in tsraft --help", async () => {
  const bad = await tsraft(["certs", "--bogus"]);
  assert.equal(bad.code, 2);
  assert.equal(bad.err, "tsraft certs: --bogus: unknown option (see --help)");
  const help = await tsraft(["certs", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.out, /^Usage: tsraft certs --dir DIR --initial-cluster/);
  const top = await tsraft(["--help"]);
  assert.equal(top.code, 0);
  assert.match(top.out, /certs \[flags\.\.\.\] +create a cluster CA and member certificates/);
});
