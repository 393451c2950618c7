// tsraft-kv as a library: one member in this process (a one-member cluster,
// durable under DATA_DIR), written and read through its API and over HTTP.
// Run it with `node --conditions=source --import tsx examples/kv-embedded.ts [DATA_DIR]`
// (`--conditions=source` resolves the package's own "tsraft/kv" export to
// src/ without a build); test/kv/embedded.test.ts runs it too.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultLimits, KvMember, memberDefaults } from "tsraft/kv";

export async function main(dataDir = mkdtempSync(join(tmpdir(), "tsraft-kv-embedded-"))): Promise<string[]> {
  const out: string[] = [];
  const member = new KvMember({
    ...memberDefaults,
    name: "solo",
    dataDir,
    // Port 0: the system picks free ports; member.clientURL tells which.
    initialCluster: [{ name: "solo", peerURLs: ["http://127.0.0.1:0"] }],
    listenPeerURL: "http://127.0.0.1:0",
    listenClientURL: "http://127.0.0.1:0",
    limits: defaultLimits,
  });
  await member.start();
  try {
    // Wait for the single member to elect itself.
    while (member.status().leader === "0") await new Promise((r) => setTimeout(r, 20));
    const w = await member.put("greeting", new TextEncoder().encode("hello"), {});
    out.push(`put greeting at revision ${w.revision}`);
    const { kv } = await member.get("greeting", { linearizable: true });
    out.push(`get greeting: ${new TextDecoder().decode(kv!.value)}`);
    // The same member over its HTTP API.
    const res = await fetch(`${member.clientURL}/kv/greeting`);
    out.push(`GET ${member.clientURL}/kv/greeting: ${res.status} ${await res.text()}`);
  } finally {
    await member.stop();
  }
  return out;
}

if (typeof process !== "undefined" && import.meta.url === `file://${process.argv[1]}`) {
  for (const line of await main(process.argv[2])) console.log(line);
}
