// --help text, generated from the option table so that it cannot drift.

import { exitCodeTable } from "./exit_codes.ts";
import { envName, OPTIONS, type OptionGroup } from "./options.ts";

const GROUPS: Array<[OptionGroup, string]> = [
  ["member", "Member"],
  ["clustering", "Clustering"],
  ["security", "Security"],
  ["logging", "Logging and metrics"],
  ["tsraft-kv", "tsraft-kv"],
  ["other", "Other"],
];

/** The member command's help: every flag with its aliases and default, precedence, env names, exit codes. */
export function configHelp(program = "tsraft-kv"): string {
  const lines: string[] = [
    `Usage: ${program} [flags]`,
    "",
    "Runs one member of a replicated key-value cluster. Flags are etcd's; each can also be set as an",
    "environment variable (TSRAFT_ + the flag in upper snake case, e.g. TSRAFT_LISTEN_PEER_URLS) or",
    "as a key of the YAML --config-file (etcd's config-file keys). A flag wins over the environment,",
    "which wins over the config file.",
  ];
  for (const [group, title] of GROUPS) {
    lines.push("", `${title}:`);
    for (const o of OPTIONS.filter((x) => x.group === group)) {
      const arg =
        o.kind === "bool" ? "" : o.kind === "enum" ? ` <${o.values!.join("|")}>` : ` <${o.arg ?? "value"}>`;
      const head = `  --${o.name}${arg}`;
      const notes: string[] = [];
      if (o.defaultText !== undefined) notes.push(`default: ${o.defaultText}`);
      if (o.aliases !== undefined) notes.push(`alias: ${o.aliases.map((a) => `--${a}`).join(", ")}`);
      if (o.noEnv && !o.noFile) notes.push("not from env");
      lines.push(head, `      ${o.help}${notes.length > 0 ? ` (${notes.join("; ")})` : ""}`);
    }
  }
  lines.push("", "Exit codes:");
  for (const e of exitCodeTable) lines.push(`  ${e.code}  ${e.meaning}`);
  lines.push(
    "",
    `Example: ${envName("log-level")}=debug ${program} --name m1 --initial-cluster m1=http://127.0.0.1:22380`,
  );
  return `${lines.join("\n")}\n`;
}
