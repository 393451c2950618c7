#!/usr/bin/env node
// `tsraft certs`: creates a cluster CA and each member's certificates for
// peer mTLS and client TLS, laid out for the member flags (see
// src/pki/files.ts), and prints the flags each member needs. Safe to re-run:
// existing valid files are kept, missing ones issued (e.g. for a new member),
// and nothing is ever overwritten.

import { parseArgs } from "node:util";
import { ConfigError, ExitCode, parseInitialCluster } from "../config/index.ts";
import { type MemberSpec, PkiError, PkiErrorCode, writeClusterPki } from "../pki/index.ts";
import { isMainModule } from "./main.ts";

/** The `tsraft certs --help` text. */
export const CERTS_HELP = `Usage: tsraft certs --dir DIR --initial-cluster name=peerURL,... [options]

Creates (or completes) the PKI of a cluster under DIR:
  DIR/ca.crt, ca.key            the cluster CA (keep ca.key off the members once they are issued)
  DIR/client.crt, client.key    a client certificate for the client API (curl --cert/--key)
  DIR/<name>/peer.crt, .key     member <name>'s peer certificate  (--peer-cert-file, --peer-key-file)
  DIR/<name>/server.crt, .key   member <name>'s client-API server certificate (--cert-file, --key-file)
Keys are ECDSA P-256, written 0600. Existing valid files are kept; nothing is overwritten.

Options:
  --dir <dir>                     where to write (created 0700)
  --initial-cluster <list>        the members: name=peerURL,... as given to the members
  --client-urls <list>            the members' client URLs: name=clientURL,... (their hosts go into the SANs)
  --client-hosts <host,...>       further DNS names or IPs every member is reached by
  --days <n>                      validity of member and client certificates (default 365)
  --ca-days <n>                   validity of a new CA (default 3650)
  -h, --help                      this help

Exit status: 0 done, 2 bad flags or files in DIR that do not fit (the message names them), 1 I/O error.
`;

/** Where `tsraft certs` writes (tests capture it). */
export interface CertsIo {
  /** One line of normal output. */
  stdout(line: string): void;
  /** One line of error output. */
  stderr(line: string): void;
}

const defaultIo: CertsIo = {
  stdout: (l) => process.stdout.write(`${l}\n`),
  stderr: (l) => process.stderr.write(`${l}\n`),
};

function positive(v: string | undefined, key: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^[0-9]+$/.test(v) || Number(v) <= 0 || !Number.isSafeInteger(Number(v))) {
    throw new ConfigError("flag", key, `${key} must be a positive integer, got ${JSON.stringify(v)}`, v);
  }
  return Number(v);
}

/**
 * Runs `tsraft certs` with the arguments after "certs"; returns the exit
 * status (0 done, 2 bad flags or conflicting files, 1 I/O error). Never
 * throws and never exits the process.
 */
export async function runCertsCommand(argv: readonly string[], io: CertsIo = defaultIo): Promise<number> {
  try {
    let parsed: ReturnType<typeof parse>;
    try {
      parsed = parse(argv);
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      // node:util's parseArgs: unknown option, missing value, positional argument.
      const e = err as Error & { code?: string };
      const arg = /'([^' ]+)/.exec(e.message)?.[1] ?? "tsraft certs";
      const why =
        e.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION"
          ? `${arg}: unknown option (see --help)`
          : e.code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL"
            ? `${arg}: unexpected argument (tsraft certs takes only flags)`
            : e.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE"
              ? `${arg} needs a value`
              : e.message.split("\n")[0]!;
      throw new ConfigError("flag", arg, why);
    }
    const v = parsed.values;
    if (v.help) {
      io.stdout(CERTS_HELP.trimEnd());
      return ExitCode.Ok;
    }
    if (v.dir === undefined || v.dir === "") throw new ConfigError("flag", "--dir", "--dir is required");
    if (v["initial-cluster"] === undefined) {
      throw new ConfigError("flag", "--initial-cluster", "--initial-cluster is required (name=peerURL,...)");
    }
    const cluster = parseInitialCluster(v["initial-cluster"]);
    const clientUrls = new Map<string, string[]>();
    if (v["client-urls"] !== undefined) {
      for (const m of parseInitialCluster(v["client-urls"], { source: "flag", key: "--client-urls" })) {
        if (!cluster.some((c) => c.name === m.name)) {
          throw new ConfigError(
            "flag",
            "--client-urls",
            `--client-urls names ${m.name}, which is not in --initial-cluster`,
          );
        }
        clientUrls.set(m.name, m.peerURLs);
      }
    }
    const hosts = (v["client-hosts"] ?? "")
      .split(",")
      .map((h) => h.trim())
      .filter((h) => h !== "");
    const members: MemberSpec[] = cluster.map((m) => ({
      name: m.name,
      peerURLs: m.peerURLs,
      clientURLs: clientUrls.get(m.name) ?? [],
      hosts,
    }));
    const days = positive(v.days, "--days");
    const caDays = positive(v["ca-days"], "--ca-days");
    const r = await writeClusterPki(v.dir, members, {
      ...(days !== undefined ? { validityDays: days } : {}),
      ...(caDays !== undefined ? { ca: { validityDays: caDays } } : {}),
    });
    io.stdout(`${r.ca.created ? "created" : "kept   "} ${r.ca.cert} (CA; its key: ${r.ca.key})`);
    for (const m of r.members) {
      io.stdout(`${m.issued ? "issued " : "kept   "} ${m.peerCert}, ${m.serverCert} (${m.name})`);
    }
    if (r.client) io.stdout(`${r.client.issued ? "issued " : "kept   "} ${r.client.cert} (API client)`);
    io.stdout("");
    io.stdout("Member flags:");
    for (const m of r.members) {
      io.stdout(
        `  ${m.name}: --peer-cert-file ${m.peerCert} --peer-key-file ${m.peerKey} ` +
          `--peer-trusted-ca-file ${r.ca.cert} --peer-client-cert-auth ` +
          `--cert-file ${m.serverCert} --key-file ${m.serverKey} --trusted-ca-file ${r.ca.cert}`,
      );
    }
    if (cluster.some((m) => m.peerURLs.some((u) => u.startsWith("http:")))) {
      io.stderr("note: some peer URLs are http://; peer TLS is used only with https:// peer URLs");
    }
    return ExitCode.Ok;
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr(`tsraft certs: ${err.message}`);
      return ExitCode.BadConfig;
    }
    if (err instanceof PkiError) {
      io.stderr(`tsraft certs: ${err.message}`);
      return err.code === PkiErrorCode.Io ? ExitCode.Fatal : ExitCode.BadConfig;
    }
    io.stderr(`tsraft certs: ${(err as Error)?.stack ?? String(err)}`);
    return ExitCode.Fatal;
  }
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      dir: { type: "string" },
      "initial-cluster": { type: "string" },
      "client-urls": { type: "string" },
      "client-hosts": { type: "string" },
      days: { type: "string" },
      "ca-days": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}

if (isMainModule(import.meta.url)) {
  runCertsCommand(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
