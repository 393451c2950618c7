// npm run jepsen -- --check FILE: exit status 0 for a linearizable history,
// 1 for a violation (explained), 3 when the budget runs out, 2 for a missing
// or malformed file and bad options.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { main, parseNemesis } from "../../jepsen/cli.ts";
import { formatHistory } from "../../jepsen/index.ts";
import { generateLinearizable, read, write } from "./support/histories.ts";

const dir = mkdtempSync(join(tmpdir(), "tsraft-jepsen-cli-"));
after(() => rmSync(dir, { recursive: true, force: true }));

async function run(argv: string[]): Promise<{ code: number; text: string }> {
  const lines: string[] = [];
  const code = await main(argv, (s) => lines.push(s));
  return { code, text: lines.join("\n") };
}

test("--check: 0 for a linearizable history, 1 with the culprit for a violation, 3 out of budget", async () => {
  const good = join(dir, "good.jsonl");
  writeFileSync(
    good,
    formatHistory({ meta: {}, ops: generateLinearizable({ seed: 5, ops: 500, clients: 6 }) }),
  );
  const ok = await run(["--check", good]);
  assert.equal(ok.code, 0, ok.text);
  assert.match(ok.text, /verdict: VALID/);

  const bad = join(dir, "bad.jsonl");
  writeFileSync(bad, formatHistory({ meta: {}, ops: [write("a", 0, 1), write("b", 2, 3), read("a", 4, 5)] }));
  const v = await run(["--check", bad]);
  assert.equal(v.code, 1);
  assert.match(v.text, /key k: VIOLATION/);
  assert.match(v.text, /stops being linearizable when this operation completes/);
  assert.match(v.text, /verdict: VIOLATION/);

  const unknown = await run(["--check", good, "--budget", "10"]);
  assert.equal(unknown.code, 3, unknown.text);
  assert.match(unknown.text, /UNKNOWN/);
});

test("--check: 2 for a missing or malformed file; bad options are 2", async () => {
  assert.equal((await run(["--check", join(dir, "nope.jsonl")])).code, 2);
  const broken = join(dir, "broken.jsonl");
  writeFileSync(broken, '{"index": 0}\n');
  const r = await run(["--check", broken]);
  assert.equal(r.code, 2);
  assert.match(r.text, /line 1/);
  const nem = await run(["--nemesis", "kill,bogus"]);
  assert.equal(nem.code, 2);
  assert.match(nem.text, /unknown nemesis "bogus"/);
  assert.equal((await run(["--members", "0"])).code, 2);
  const gap = await run(["--gap", "5-1"]);
  assert.equal(gap.code, 2);
  assert.match(gap.text, /--gap must be LO-HI/);
  const api = await run(["--api", "soap"]);
  assert.equal(api.code, 2);
  assert.match(api.text, /--api <api>.*soap.*rest, grpc/);
});

test("--nemesis takes a list, all or none", () => {
  assert.deepEqual(parseNemesis("all"), ["kill", "pause", "partition", "flap", "membership"]);
  assert.deepEqual(parseNemesis("none"), []);
  assert.deepEqual(parseNemesis("flap, kill,flap"), ["flap", "kill"]);
  assert.throws(() => parseNemesis("kill,bogus"), /unknown nemesis "bogus"/);
});
