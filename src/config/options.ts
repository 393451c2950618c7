// Every setting of a tsraft-kv member: its etcd name (the flag, the config
// file key, and TSRAFT_ + the name in upper snake case for the environment),
// the older tsraft-kv flag names kept as aliases, and its help line.

/** How a value is read. */
export type OptionKind =
  | "string"
  | "path"
  | "bool"
  | "uint" // a positive whole number
  | "urls" // comma-separated URLs (a YAML list too)
  | "enum"
  | "list" // comma-separated strings (a YAML list too)
  | "cluster"; // name=url,... (a YAML list of name=url too)

/** The section of `--help` an option is listed under (etcd's groups, plus tsraft-kv's own). */
export type OptionGroup = "member" | "clustering" | "security" | "logging" | "tsraft-kv" | "other";

/** One setting: how it is named in each source, how its value is read, and its help line. */
export interface OptionDef {
  /** etcd's flag name without dashes; also the config-file key. */
  readonly name: string;
  /** How the value is parsed (and validated). */
  readonly kind: OptionKind;
  /** Its `--help` section. */
  readonly group: OptionGroup;
  /** One-line help text. */
  readonly help: string;
  /** Placeholder in --help. */
  readonly arg?: string;
  /** Allowed values of an enum. */
  readonly values?: readonly string[];
  /** Older tsraft-kv flag names with the same meaning (flags only). */
  readonly aliases?: readonly string[];
  /** Nested config-file keys with the same meaning (etcd's *-transport-security sections). */
  readonly fileKeys?: readonly string[];
  /** Options that set the same thing another way; the most precedent source wins, a tie is an error. */
  readonly setting?: string;
  /** Not readable from the environment. */
  readonly noEnv?: boolean;
  /** Not readable from the config file. */
  readonly noFile?: boolean;
  /** Default shown in --help (the value itself is applied in resolve.ts, often derived). */
  readonly defaultText?: string;
}

/** Every option of a tsraft-kv member, in `--help` order. */
export const OPTIONS: readonly OptionDef[] = [
  // Member
  { name: "name", kind: "string", group: "member", arg: "name", help: "human-readable name of this member" },
  {
    name: "data-dir",
    kind: "path",
    group: "member",
    arg: "dir",
    help: "where the WAL and snapshots live",
    defaultText: "<name>.tsraft",
  },
  {
    name: "listen-peer-urls",
    kind: "urls",
    group: "member",
    arg: "url",
    aliases: ["listen-peer"],
    help: "URL the peer (raft) server listens on",
    defaultText: "this member's URL in --initial-cluster, else http://127.0.0.1:2380",
  },
  {
    name: "listen-client-urls",
    kind: "urls",
    group: "member",
    arg: "url",
    aliases: ["listen-client"],
    help: "URL the client API listens on",
    defaultText: "http://127.0.0.1:2379",
  },
  {
    name: "listen-metrics-urls",
    kind: "urls",
    group: "member",
    arg: "url",
    help: "an extra URL serving /metrics and /health only",
  },
  {
    name: "heartbeat-interval",
    kind: "uint",
    group: "member",
    arg: "ms",
    aliases: ["tick-ms"],
    help: "time between heartbeats (the raft tick)",
    defaultText: "100",
  },
  {
    name: "election-timeout",
    kind: "uint",
    group: "member",
    arg: "ms",
    setting: "election",
    help: "time without a leader before an election; a multiple of, and at least 5x, --heartbeat-interval",
    defaultText: "1000",
  },
  {
    name: "election-ticks",
    kind: "uint",
    group: "tsraft-kv",
    arg: "n",
    setting: "election",
    noEnv: true,
    noFile: true,
    help: "older form of --election-timeout, in heartbeats",
  },
  {
    name: "snapshot-count",
    kind: "uint",
    group: "member",
    arg: "n",
    help: "applied entries between snapshots",
    defaultText: "100000",
  },
  {
    name: "snapshot-catchup-entries",
    kind: "uint",
    group: "member",
    arg: "n",
    aliases: ["snapshot-catch-up-entries"],
    help: "entries kept after a snapshot for slow followers",
    defaultText: "min(5000, snapshot-count/2)",
  },
  {
    name: "unsafe-no-fsync",
    kind: "bool",
    group: "member",
    help: "skip fdatasync (testing only: acknowledged writes can be lost on power failure)",
  },
  // Clustering
  {
    name: "initial-advertise-peer-urls",
    kind: "urls",
    group: "clustering",
    arg: "url,...",
    aliases: ["advertise-peer"],
    help: "this member's peer URLs as the others dial them",
    defaultText: "--listen-peer-urls",
  },
  {
    name: "advertise-client-urls",
    kind: "urls",
    group: "clustering",
    arg: "url,...",
    aliases: ["advertise-client"],
    help: "this member's client URLs as published to the cluster",
    defaultText: "--listen-client-urls",
  },
  {
    name: "initial-cluster",
    kind: "cluster",
    group: "clustering",
    arg: "name=url,...",
    help: "members of a new cluster (or peerURL,... with --id)",
    defaultText: "<name>=<advertised peer URL> unless --join",
  },
  {
    name: "initial-cluster-token",
    kind: "string",
    group: "clustering",
    arg: "token",
    aliases: ["cluster-token"],
    help: "distinguishes clusters started from the same member list",
    defaultText: "tsraft-kv",
  },
  {
    name: "initial-cluster-state",
    kind: "enum",
    group: "clustering",
    values: ["new", "existing"],
    help: "new: bootstrap a cluster; existing: join one this member was already added to",
    defaultText: "new (existing with --join)",
  },
  {
    name: "force-new-cluster",
    kind: "bool",
    group: "clustering",
    help: "start a one-member cluster from this member's data, keeping every committed entry",
  },
  {
    name: "strict-reconfig-check",
    kind: "bool",
    group: "clustering",
    help: "refuse membership changes that would leave the voters without a quorum",
    defaultText: "true",
  },
  // Security
  {
    name: "cert-file",
    kind: "path",
    group: "security",
    arg: "file",
    aliases: ["client-cert-file"],
    fileKeys: ["client-transport-security.cert-file"],
    help: "TLS certificate of the client API (https client URLs)",
  },
  {
    name: "key-file",
    kind: "path",
    group: "security",
    arg: "file",
    aliases: ["client-key-file"],
    fileKeys: ["client-transport-security.key-file"],
    help: "TLS key of the client API",
  },
  {
    name: "trusted-ca-file",
    kind: "path",
    group: "security",
    arg: "file",
    aliases: ["client-trusted-ca-file"],
    fileKeys: ["client-transport-security.trusted-ca-file"],
    help: "CA verifying API clients' certificates",
  },
  {
    name: "client-cert-auth",
    kind: "bool",
    group: "security",
    fileKeys: ["client-transport-security.client-cert-auth"],
    help: "require client certificates from API clients",
  },
  {
    name: "peer-cert-file",
    kind: "path",
    group: "security",
    arg: "file",
    fileKeys: ["peer-transport-security.cert-file"],
    help: "TLS certificate for peer traffic (server, and client unless --peer-client-cert-file)",
  },
  {
    name: "peer-key-file",
    kind: "path",
    group: "security",
    arg: "file",
    fileKeys: ["peer-transport-security.key-file"],
    help: "TLS key for peer traffic",
  },
  {
    name: "peer-client-cert-file",
    kind: "path",
    group: "security",
    arg: "file",
    fileKeys: ["peer-transport-security.client-cert-file"],
    help: "a separate client certificate for dialling peers",
  },
  {
    name: "peer-client-key-file",
    kind: "path",
    group: "security",
    arg: "file",
    fileKeys: ["peer-transport-security.client-key-file"],
    help: "its key",
  },
  {
    name: "peer-trusted-ca-file",
    kind: "path",
    group: "security",
    arg: "file",
    fileKeys: ["peer-transport-security.trusted-ca-file"],
    help: "CA verifying peers (requires their client certificates)",
  },
  {
    name: "peer-client-cert-auth",
    kind: "bool",
    group: "security",
    fileKeys: ["peer-transport-security.client-cert-auth"],
    help: "require client certificates from peers",
  },
  {
    name: "peer-crl-file",
    kind: "path",
    group: "security",
    arg: "file",
    fileKeys: ["peer-transport-security.crl-file"],
    help: "revoked peer certificates (PEM CRL)",
  },
  {
    name: "peer-verify-member-identity",
    kind: "bool",
    group: "security",
    fileKeys: ["peer-transport-security.verify-member-identity"],
    help: "a peer's certificate must be the member's it speaks for (URI SANs = its peer URLs, as `tsraft certs` issues)",
  },
  {
    name: "peer-cert-allowed-cn",
    kind: "list",
    group: "security",
    arg: "cn,...",
    fileKeys: ["peer-transport-security.allowed-cn"],
    help: "accept only peer certificates with one of these CNs",
  },
  {
    name: "peer-cert-allowed-hostname",
    kind: "list",
    group: "security",
    arg: "host,...",
    fileKeys: ["peer-transport-security.allowed-hostname"],
    help: "accept only peer certificates valid for one of these hosts",
  },
  {
    name: "peer-skip-client-san-verification",
    kind: "bool",
    group: "security",
    help: "skip checking a peer certificate's SANs against its address",
  },
  {
    name: "tls-min-version",
    kind: "enum",
    group: "security",
    values: ["TLS1.2", "TLS1.3"],
    help: "lowest TLS version accepted",
    defaultText: "TLS1.2",
  },
  {
    name: "tls-max-version",
    kind: "enum",
    group: "security",
    values: ["TLS1.2", "TLS1.3"],
    help: "highest TLS version accepted",
  },
  // Logging and monitoring
  {
    name: "log-level",
    kind: "enum",
    group: "logging",
    values: ["debug", "info", "warn", "error"],
    help: "lowest level logged",
    defaultText: "info",
  },
  {
    name: "log-format",
    kind: "enum",
    group: "logging",
    values: ["json", "console"],
    help: "json lines, or console (human-readable)",
    defaultText: "console on a terminal, else json",
  },
  {
    name: "log-outputs",
    kind: "string",
    group: "logging",
    arg: "stderr|stdout|file",
    help: "where logs go",
    defaultText: "stderr",
  },
  {
    name: "metrics",
    kind: "enum",
    group: "logging",
    values: ["basic", "extensive"],
    help: "detail of exported metrics",
    defaultText: "basic",
  },
  // tsraft-kv
  {
    name: "id",
    kind: "uint",
    group: "tsraft-kv",
    arg: "n",
    help: "raftexample style: this member is the n-th of --initial-cluster",
  },
  {
    name: "join",
    kind: "string",
    group: "tsraft-kv",
    arg: "clientURL",
    help: "join a running cluster through a member's client URL (first start only)",
  },
  { name: "learner", kind: "bool", group: "tsraft-kv", help: "with --join: join as a learner" },
  {
    name: "max-key-bytes",
    kind: "uint",
    group: "tsraft-kv",
    arg: "n",
    help: "largest key accepted",
    defaultText: "1536",
  },
  {
    name: "max-value-bytes",
    kind: "uint",
    group: "tsraft-kv",
    arg: "n",
    help: "largest value accepted",
    defaultText: "1048576",
  },
  {
    name: "request-timeout",
    kind: "uint",
    group: "tsraft-kv",
    arg: "ms",
    help: "time a write or read may wait before 504",
    defaultText: "5000",
  },
  // Other
  {
    name: "config-file",
    kind: "path",
    group: "other",
    arg: "file",
    noFile: true,
    help: "YAML file with etcd's config-file keys",
  },
  {
    name: "version",
    kind: "bool",
    group: "other",
    noEnv: true,
    noFile: true,
    help: "print the version and exit",
  },
  { name: "help", kind: "bool", group: "other", noEnv: true, noFile: true, help: "print this help and exit" },
];

/** etcd settings tsraft has no use for: a warning when a config file sets them, an error as a flag. */
export const UNSUPPORTED_ETCD_KEYS: readonly string[] = [
  "wal-dir",
  "max-snapshots",
  "max-wals",
  "quota-backend-bytes",
  "backend-batch-interval",
  "backend-batch-limit",
  "backend-bbolt-freelist-type",
  "max-txn-ops",
  "max-request-bytes",
  "grpc-keepalive-min-time",
  "grpc-keepalive-interval",
  "grpc-keepalive-timeout",
  "socket-reuse-port",
  "socket-reuse-address",
  "listen-client-http-urls",
  "cors",
  "host-whitelist",
  "discovery",
  "discovery-fallback",
  "discovery-proxy",
  "discovery-srv",
  "discovery-srv-name",
  "discovery-token",
  "discovery-endpoints",
  "proxy",
  "proxy-failure-wait",
  "proxy-refresh-interval",
  "proxy-dial-timeout",
  "proxy-write-timeout",
  "proxy-read-timeout",
  "auto-tls",
  "peer-auto-tls",
  "self-signed-cert-validity",
  "client-crl-file",
  "client-cert-allowed-hostname",
  "cipher-suites",
  "enable-pprof",
  "logger",
  "enable-log-rotation",
  "log-rotation-config-json",
  "auto-compaction-mode",
  "auto-compaction-retention",
  "initial-election-tick-advance",
  "pre-vote",
  "max-learners",
  "auth-token",
  "auth-token-ttl",
  "bcrypt-cost",
  "enable-grpc-gateway",
  "enable-v2",
  "enable-distributed-tracing",
  "corrupt-check-time",
  "compact-hash-check-time",
  "feature-gates",
  "client-transport-security.auto-tls",
  "peer-transport-security.auto-tls",
];

/** The environment variable of an option: TSRAFT_ + upper snake case. */
export function envName(option: string): string {
  return `TSRAFT_${option.toUpperCase().replace(/-/g, "_")}`;
}

export const optionByName: ReadonlyMap<string, OptionDef> = new Map(OPTIONS.map((o) => [o.name, o]));

/** Flag name (without dashes), primary or alias, to its option. */
export const optionByFlag: ReadonlyMap<string, OptionDef> = new Map(
  OPTIONS.flatMap((o) => [[o.name, o] as const, ...(o.aliases ?? []).map((a) => [a, o] as const)]),
);
