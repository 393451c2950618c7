#!/usr/bin/env node
// tsraft-kv: run one member of a replicated key-value cluster
// (member_command.ts), or supervise a whole local cluster for trying things
// out (`tsraft-kv cluster`, cluster_command.ts), or check and restore a
// snapshot file (`tsraft-kv snapshot`, snapshot_command.ts).
//
// The two commands are loaded on demand: a member process never loads the
// supervisor (nor the PKI library it uses), and the supervisor never loads
// raft. Compiled by scripts/build-cli.mjs, each import is its own chunk.

import { isMainModule } from "./main.ts";

/** Runs tsraft-kv with the arguments after the program name; resolves with the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  if (argv[0] === "cluster") {
    const { runClusterCommand } = await import("./cluster_command.ts");
    return runClusterCommand(argv.slice(1));
  }
  if (argv[0] === "snapshot") {
    const { runSnapshotCommand } = await import("./snapshot_command.ts");
    return runSnapshotCommand(argv.slice(1));
  }
  const { runMemberCommand } = await import("./member_command.ts");
  return runMemberCommand(argv);
}

if (isMainModule(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      // Each command turns its errors into an exit status; this is a bug.
      process.stderr.write(`tsraft-kv: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
