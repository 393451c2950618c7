#!/usr/bin/env node
// The `tsraft` command line. `tsraft wal dump DIR` prints what a WAL and its
// snapshot directory hold, in the spirit of etcd-dump-logs (see wal_dump.ts),
// and only reads. `tsraft certs` creates a cluster CA and the members'
// certificates (see certs.ts; it writes only new files, never replaces one).

import { Command, InvalidArgumentError, Option } from "commander";
import { isMainModule } from "./main.ts";
import { type DumpOptions, dumpWal, ENTRY_TYPES, type Out } from "./wal_dump.ts";

export { type DumpOptions, dumpWal };

function parseIndex(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n))
    throw new InvalidArgumentError("must be a non-negative integer");
  return n;
}

function parseTypes(v: string): string[] {
  const list = v
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== "");
  for (const t of list) {
    if (!(t in ENTRY_TYPES))
      throw new InvalidArgumentError(
        `unknown entry type "${t}" (use ${Object.keys(ENTRY_TYPES).join(", ")})`,
      );
  }
  return list;
}

/** The `tsraft` command line (commander): `certs` and `wal dump`, writing through `out`. */
export function buildProgram(out: Out): Command {
  const program = new Command("tsraft").description("tsraft tools").exitOverride();
  program.configureOutput({ writeOut: (s) => out.log(s.trimEnd()), writeErr: (s) => out.error(s.trimEnd()) });
  const wal = program.command("wal").description("inspect etcd-format write-ahead logs");
  wal
    .command("dump")
    .description(
      "print the snapshots, hard state and entries of a WAL (read-only; exit status 1 if any file is damaged)",
    )
    .argument("<dir>", "WAL directory, or a data directory holding wal/ and snap/")
    .option("--start-index <index>", "only entries from this index on", parseIndex)
    .addOption(
      new Option(
        "--type <types>",
        "only these entry types (comma separated: normal,confchange,confchangev2)",
      ).argParser(parseTypes),
    )
    .option("--snap-dir <dir>", "snapshot directory (default: snap/ beside the WAL)")
    .action(async (dir: string, o: DumpOptions) => {
      process.exitCode = await dumpWal(dir, o, out);
    });
  // Listed here for --help; main() hands `certs` and its arguments to runCertsCommand, which
  // parses them itself (commander never sees them).
  program
    .command("certs")
    .description(
      "create a cluster CA and member certificates for peer mTLS and client TLS (see certs --help)",
    )
    .helpOption(false)
    .allowUnknownOption()
    .argument("[flags...]", "see tsraft certs --help");
  return program;
}

/** Runs the CLI with `argv` (without node and script); returns the exit code. */
export async function main(argv: string[], out: Out = console): Promise<number> {
  if (argv[0] === "certs") {
    // Loaded on demand: the certificate library is not needed to read a WAL.
    const { runCertsCommand } = await import("./certs.ts");
    return runCertsCommand(argv.slice(1), { stdout: (l) => out.log(l), stderr: (l) => out.error(l) });
  }
  process.exitCode = 0;
  try {
    await buildProgram(out).parseAsync(argv, { from: "user" });
    return Number(process.exitCode ?? 0);
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message?: string };
    if (typeof e.exitCode === "number" && e.code?.startsWith("commander.")) return e.exitCode;
    out.error(`error: ${e.message ?? String(err)}`);
    return 1;
  }
}

if (isMainModule(import.meta.url)) {
  // `tsraft wal dump DIR | head` closes the pipe early: that is not an error.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
