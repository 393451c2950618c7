// `tsraft-kv snapshot status|restore FILE`: what etcdctl's (etcdutl's)
// `snapshot status` and `snapshot restore` do, for the files that
// `etcdctl snapshot save` writes from a tsraft-kv member.
//
// The file handling (reading, checking, restoring) is tsraft/kv's backup.ts;
// this is the command line around it.
//
//   status   prints the image's hash (mvcc's imageHash, what Maintenance.Hash
//            answers for that state), revision, kept key versions and size, in
//            etcdctl's formats (-w simple|table|json).
//   restore  writes a new member's data directory holding the image. It
//            takes the member's own flags (--name, --initial-cluster,
//            --initial-cluster-token, --data-dir, a --config-file, TSRAFT_*
//            variables...), so that the same flags then start the member.
//   --skip-hash-check: the file is a bare image (a member's
//            member/snap/<index>.snap.db), as etcdctl's flag of that name
//            reads a bbolt file copied out of a data directory.
//
// Exit status: 0 done, 2 bad flags, 5 the data directory holds a member
// already, 6 the file is damaged (src/config's ExitCode).

import { resolve } from "node:path";
import { ConfigError, ExitCode, loadConfig } from "../config/index.ts";
import {
  readSnapshotFile,
  restoreSnapshot,
  type SnapshotFileStatus,
  snapshotFileStatus,
} from "../kv/index.ts";
import { formatId } from "../raftpb/index.ts";
import { describeError, exitStatusOf } from "./exit_status.ts";
import type { CommandIo } from "./member_command.ts";

const HELP = `Usage:
  tsraft-kv snapshot status FILE [-w simple|table|json] [--skip-hash-check]
      the hash, revision, key versions and size of a snapshot file
  tsraft-kv snapshot restore FILE [--skip-hash-check] [member flags]
      writes a new member's data directory holding the snapshot; run it for
      every member of the new cluster with that member's --name and the same
      --initial-cluster and --initial-cluster-token, then start each member
      with the same flags

FILE is what \`etcdctl snapshot save\` wrote from a tsraft-kv member; with
--skip-hash-check, a bare image (member/snap/<index>.snap.db of a data dir).
`;

const processIo: CommandIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

/** Runs `tsraft-kv snapshot ...` (argv after "snapshot"); resolves with the exit status. */
export async function runSnapshotCommand(
  argv: readonly string[],
  opts: { io?: CommandIo; env?: Readonly<Record<string, string | undefined>>; cwd?: string } = {},
): Promise<number> {
  const io = opts.io ?? processIo;
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
    io.stdout(HELP);
    return sub === undefined ? ExitCode.BadConfig : ExitCode.Ok;
  }
  const fail = (err: unknown): number => {
    io.stderr(`tsraft-kv snapshot ${sub}: ${describeError(err)}\n`);
    return err instanceof ConfigError ? ExitCode.BadConfig : exitStatusOf(err);
  };
  if (sub !== "status" && sub !== "restore")
    return fail(
      new ConfigError("flag", "snapshot", `unknown command ${JSON.stringify(sub)} (status, restore)`),
    );
  if (rest.includes("--help") || rest.includes("-h")) {
    io.stdout(HELP);
    return ExitCode.Ok;
  }
  try {
    const args = splitArgs(rest, sub === "status");
    const image = readImage(args.file, args.skipHashCheck, opts.cwd);
    const st = await snapshotFileStatus(image, args.file);
    if (sub === "status") {
      io.stdout(formatStatus(st, args.writeOut));
      return ExitCode.Ok;
    }
    const loaded = loadConfig({
      argv: args.others,
      ...(opts.env !== undefined ? { env: opts.env } : {}),
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    });
    if (loaded.action !== "run") throw new ConfigError("flag", "--version", "not a restore flag");
    const c = loaded.config;
    const r = await restoreSnapshot(image, args.file, {
      dataDir: c.dataDir,
      name: c.name,
      initialCluster: c.initialCluster.map((m) => ({ name: m.name, peerURLs: [...m.peerURLs] })),
      clusterToken: c.initialClusterToken,
      unsafeNoFsync: c.unsafeNoFsync,
    });
    io.stdout(
      `restored ${args.file} (revision ${st.revision}, ${st.totalKey} key versions) into ${c.dataDir}: ` +
        `member ${formatId(r.id)} (${c.name}) of cluster ${formatId(r.clusterId)}, ${r.members.length} member${r.members.length === 1 ? "" : "s"}; ` +
        "start it with the same --name, --initial-cluster and --initial-cluster-token\n",
    );
    return ExitCode.Ok;
  } catch (err) {
    return fail(err);
  }
}

interface SnapshotArgs {
  file: string;
  skipHashCheck: boolean;
  writeOut: "simple" | "table" | "json";
  /** Everything else (restore: the member's flags). */
  others: string[];
}

function splitArgs(argv: readonly string[], status: boolean): SnapshotArgs {
  const out: SnapshotArgs = { file: "", skipHashCheck: false, writeOut: "simple", others: [] };
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--skip-hash-check") out.skipHashCheck = true;
    else if (status && (a === "-w" || a === "--write-out" || a.startsWith("--write-out="))) {
      const v = a.startsWith("--write-out=") ? a.slice("--write-out=".length) : argv[++i];
      if (v !== "simple" && v !== "table" && v !== "json")
        throw new ConfigError(
          "flag",
          "--write-out",
          `must be simple, table or json, not ${JSON.stringify(v ?? "")}`,
        );
      out.writeOut = v;
    } else if (a.startsWith("-")) {
      if (status) throw new ConfigError("flag", a, "unknown flag");
      out.others.push(a);
      // A member flag's value follows it unless given as --flag=value.
      if (!a.includes("=") && i + 1 < argv.length && !argv[i + 1]!.startsWith("-"))
        out.others.push(argv[++i]!);
    } else files.push(a);
  }
  if (files.length !== 1)
    throw new ConfigError("flag", "FILE", `expected one snapshot file, got ${files.length}`);
  out.file = files[0]!;
  return out;
}

function readImage(file: string, bare: boolean, cwd: string | undefined): Uint8Array {
  try {
    return readSnapshotFile(resolve(cwd ?? ".", file), { bare });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === "string" && !code.startsWith("ERR_"))
      throw new ConfigError("flag", file, `cannot read it: ${code}`);
    throw err;
  }
}

/** The status as etcdctl prints it in each format. */
export function formatStatus(s: SnapshotFileStatus, format: "simple" | "table" | "json"): string {
  const hash = s.hash.toString(16);
  if (format === "json") return `${JSON.stringify(s)}\n`;
  const size = humanBytes(s.totalSize);
  if (format === "simple") return `${hash}, ${s.revision}, ${s.totalKey}, ${size}\n`;
  const cells = [
    ["HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE"],
    [hash, String(s.revision), String(s.totalKey), size],
  ];
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const rule = `+${widths.map((w) => "-".repeat(w + 2)).join("+")}+`;
  const center = (t: string, w: number) => {
    const left = Math.ceil((w - t.length) / 2);
    return " ".repeat(left) + t + " ".repeat(w - t.length - left);
  };
  // etcdctl's table (tablewriter, right-aligned): centred headers, right-aligned cells.
  const head = `| ${cells[0]!.map((t, i) => center(t, widths[i]!)).join(" | ")} |`;
  const body = `| ${cells[1]!.map((t, i) => t.padStart(widths[i]!)).join(" | ")} |`;
  return `${rule}\n${head}\n${rule}\n${body}\n${rule}\n`;
}

/** A size as etcdctl prints it (go-humanize's Bytes: SI units, one decimal below 10). */
export function humanBytes(n: number): string {
  if (n < 10) return `${n} B`;
  const units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
  const e = Math.floor(Math.log(n) / Math.log(1000));
  const v = Math.floor((n / 1000 ** e) * 10 + 0.5) / 10;
  return `${v < 10 ? v.toFixed(1) : roundHalfEven(v)} ${units[e]}`;
}

/** Go's %.0f: the nearest integer, halves to even (20.5 is "20"; toFixed(0) says "21"). */
function roundHalfEven(v: number): string {
  const f = Math.floor(v);
  const d = v - f;
  return String(d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f);
}
