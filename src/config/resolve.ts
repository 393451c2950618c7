// The member configuration: sources merged by precedence, then every value
// and combination validated into one typed object.
//
// Precedence, highest first:  command-line flag  >  TSRAFT_ environment
// variable  >  config file (--config-file / TSRAFT_CONFIG_FILE)  >  default.
//
// etcd differs: when it is given a config file it ignores every other flag
// and environment variable. We do not, because that is the surprising
// choice: an operator who types `--log-level debug` next to `--config-file`
// expects debug logs, and a flag that is silently ignored is a trap. The
// common case, a config file alone, behaves as in etcd. Environment
// variables sit between flags and the file as in most tools (a service
// manager's environment overrides the packaged file; a flag on the command
// line overrides both).
//
// Names: etcd's flag names are primary and are the only names read from the
// environment (TSRAFT_ + upper snake case: TSRAFT_LISTEN_PEER_URLS) and the
// config file (etcd's keys, including its client-/peer-transport-security
// sections). The older tsraft-kv flags stay as aliases with their meaning:
// --listen-peer, --listen-client, --advertise-peer, --advertise-client,
// --cluster-token, --tick-ms (= --heartbeat-interval), --election-ticks
// (--election-timeout in heartbeats), --snapshot-catch-up-entries, and the
// client TLS flags --client-cert-file, --client-key-file and
// --client-trusted-ca-file, which in tsraft-kv name the client API's *server*
// certificate, key and CA, i.e. etcd's --cert-file, --key-file and
// --trusted-ca-file (etcd's own --client-cert-file is something else, an
// outgoing client certificate, which tsraft-kv does not need). ETCD_
// variables are not read (see sources.ts).

import { accessSync, constants, readFileSync } from "node:fs";
import { resolve as resolvePath } from "node:path";
import { ConfigError, type ConfigSource } from "./errors.ts";
import { OPTIONS, type OptionDef, optionByName } from "./options.ts";
import {
  type ParsedFlags,
  parseBool,
  parseConfigFile,
  parseFlags,
  type RawSetting,
  type RawSettings,
  type RawValue,
  readEnv,
} from "./sources.ts";

/** A member of --initial-cluster. */
export interface ClusterMember {
  /** The member's --name. */
  name: string;
  /** Its peer URLs (one entry per `name=url` pair of that name). */
  peerURLs: string[];
}

/** TLS of the peer transport, in the shape of rafthttp's PeerTlsOptions. */
export interface PeerTlsConfig {
  /** --peer-cert-file: certificate for peer traffic (server, and client unless clientCertFile). */
  certFile?: string;
  /** --peer-key-file: its key. */
  keyFile?: string;
  /** --peer-client-cert-file: a separate client certificate for dialling peers. */
  clientCertFile?: string;
  /** --peer-client-key-file: its key. */
  clientKeyFile?: string;
  /** --peer-trusted-ca-file: CA verifying peers' certificates. */
  trustedCAFile?: string;
  /** --peer-client-cert-auth: require client certificates from peers. */
  clientCertAuth: boolean;
  /** --peer-crl-file: revoked peer certificates (PEM CRL). */
  crlFile?: string;
  /** --peer-cert-allowed-cn: accept only peer certificates with one of these CNs. */
  allowedCN?: string[];
  /** --peer-cert-allowed-hostname: accept only peer certificates valid for one of these hosts. */
  allowedHostnames?: string[];
  /** --peer-skip-client-san-verification: skip checking a peer certificate's SANs against its address. */
  skipClientSANVerify?: boolean;
  /** --peer-verify-member-identity: a peer's certificate must be that of the member it speaks for. */
  verifyMemberIdentity?: boolean;
  /** --tls-min-version: lowest TLS version accepted. */
  minVersion?: "TLSv1.2" | "TLSv1.3";
  /** --tls-max-version: highest TLS version accepted. */
  maxVersion?: "TLSv1.2" | "TLSv1.3";
}

/** TLS of the client API (https client URLs). */
export interface ClientTlsConfig {
  /** --cert-file: the client API's certificate (absolute path). */
  certFile: string;
  /** --key-file: its key. */
  keyFile: string;
  /** --trusted-ca-file: CA verifying API clients' certificates. */
  trustedCAFile?: string;
  /** --client-cert-auth: require client certificates from API clients. */
  clientCertAuth: boolean;
  /** --tls-min-version: lowest TLS version accepted. */
  minVersion?: "TLSv1.2" | "TLSv1.3";
  /** --tls-max-version: highest TLS version accepted. */
  maxVersion?: "TLSv1.2" | "TLSv1.3";
}

/** The --log-level values, least to most severe. */
export type LogLevelName = "debug" | "info" | "warn" | "error";

/** Everything a tsraft-kv member needs, validated. URLs are as given minus a trailing slash. */
export interface MemberConfiguration {
  /** --name: this member's name. */
  name: string;
  /** Absolute. */
  dataDir: string;
  /** Exactly one each for now (the server listens on one URL per role). */
  listenPeerUrls: string[];
  /** --listen-client-urls: where the client API (REST, gRPC, gateway) listens. */
  listenClientUrls: string[];
  /** --listen-metrics-urls: extra URLs serving only /metrics and /health ([] for none). */
  listenMetricsUrls: string[];
  /** --initial-advertise-peer-urls: what other members dial. */
  initialAdvertisePeerUrls: string[];
  /** --advertise-client-urls: client URLs published in the membership. */
  advertiseClientUrls: string[];
  /** The members of a new cluster; [] when joining with --join. Ignored once the data dir exists. */
  initialCluster: ClusterMember[];
  /** --initial-cluster-token: mixed into member and cluster IDs. */
  initialClusterToken: string;
  /** --initial-cluster-state: "new" bootstraps initialCluster, "existing" joins (first start only). */
  initialClusterState: "new" | "existing";
  /** Client URL of a running member to join through (first start only). */
  join?: string;
  /** --join-as-learner: join as a non-voting member. */
  joinAsLearner: boolean;
  /** --force-new-cluster: restart as the only member, keeping committed data. */
  forceNewCluster: boolean;
  /** --strict-reconfig-check: refuse membership changes that would leave no quorum of live voters. */
  strictReconfigCheck: boolean;
  /** --heartbeat-interval in ms (the raft tick). */
  heartbeatIntervalMs: number;
  /** --election-timeout in ms (a whole multiple of the heartbeat interval). */
  electionTimeoutMs: number;
  /** Raft's tick is the heartbeat interval: tickMs = heartbeatIntervalMs, heartbeatTicks = 1. */
  tickMs: number;
  /** Always 1: a heartbeat every tick. */
  heartbeatTicks: 1;
  /** electionTimeoutMs / heartbeatIntervalMs. */
  electionTicks: number;
  /** --snapshot-count: applied entries between snapshots. */
  snapshotCount: number;
  /** --snapshot-catchup-entries: entries kept in the log behind a snapshot. */
  snapshotCatchUpEntries: number;
  /** Largest key in bytes the client API accepts. */
  maxKeyBytes: number;
  /** Largest value in bytes the client API accepts. */
  maxValueBytes: number;
  /** How long a client request may wait for raft, in ms. */
  requestTimeoutMs: number;
  /** Peer TLS, when --peer-cert-file, --peer-trusted-ca-file or --peer-client-cert-file is set. */
  peerTls?: PeerTlsConfig;
  /** Client API TLS, when --cert-file is set. */
  clientTls?: ClientTlsConfig;
  /** --log-level. */
  logLevel: LogLevelName;
  /** "auto": console (human-readable) on a terminal, json otherwise. */
  logFormat: "auto" | "json" | "console";
  /** "stderr", "stdout" or a file path (absolute). */
  logOutput: string;
  /** --metrics: detail of the exported metrics. */
  metrics: "basic" | "extensive";
  /** --unsafe-no-fsync: skip fdatasync (tests only; acknowledged writes may be lost on power failure). */
  unsafeNoFsync: boolean;
  /** Absolute path of the config file read, if any. */
  configFile?: string;
}

/** Where each setting of the result came from (option name -> the key as written, or "default"). */
export type ConfigOrigins = Record<string, { source: ConfigSource; key: string }>;

/** What loadConfig decided: print help, print the version, or run with this configuration. */
export type LoadResult =
  | { action: "help" }
  | { action: "version" }
  | { action: "run"; config: MemberConfiguration; warnings: string[]; origins: ConfigOrigins };

/** The inputs of loadConfig (everything it reads is injectable for tests). */
export interface LoadOptions {
  /** Arguments after the program (and subcommand) name. */
  argv: readonly string[];
  /** Default: process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Relative paths resolve against this (default process.cwd()), as etcd resolves them. */
  cwd?: string;
  /** Reads the config file (default fs.readFileSync utf8); tests inject it. */
  readFile?: (path: string) => string;
  /** Whether a TLS file is readable (default: fs.accessSync R_OK); tests inject it. */
  fileReadable?: (path: string) => boolean;
}

/** Defaults, equal to tsraft-kv's before this module (kv's memberDefaults and defaultLimits). */
export const CONFIG_DEFAULTS = {
  listenPeerUrl: "http://127.0.0.1:2380",
  listenClientUrl: "http://127.0.0.1:2379",
  initialClusterToken: "tsraft-kv",
  heartbeatIntervalMs: 100,
  electionTicks: 10,
  snapshotCount: 100_000,
  snapshotCatchUpEntries: 5_000,
  maxKeyBytes: 1536,
  maxValueBytes: 1024 * 1024,
  requestTimeoutMs: 5000,
  logLevel: "info" as LogLevelName,
  metrics: "basic" as const,
  strictReconfigCheck: true,
};

/** etcd's ceiling on --election-timeout. */
export const MAX_ELECTION_TIMEOUT_MS = 50_000;

const fail = (s: RawSetting, msg: string): ConfigError =>
  new ConfigError(
    s.source,
    s.key,
    msg,
    typeof s.value === "object" ? JSON.stringify(s.value) : String(s.value),
  );

/** A value shown in a message: strings quoted, others as JSON. */
const show = (v: RawValue): string => JSON.stringify(v);

/**
 * A URL as tsraft-kv takes it: http or https, an explicit port, nothing but
 * scheme://host:port (a trailing slash is dropped: member IDs are hashed
 * from peer URLs, and tsraft-kv always dropped it).
 */
export function checkUrl(u: string, where: { source: ConfigSource; key: string }): string {
  const fail1 = (m: string) => new ConfigError(where.source, where.key, `${m}: ${JSON.stringify(u)}`, u);
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    throw fail1("not a URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw fail1("use http or https");
  if (!/^https?:\/\/(\[[0-9a-fA-F:.]+\]|[^/:@?#[\]]+):[0-9]+\/?$/i.test(u)) {
    if (
      url.username !== "" ||
      url.password !== "" ||
      url.search !== "" ||
      url.hash !== "" ||
      url.pathname.length > 1
    ) {
      throw fail1("a URL here is scheme://host:port, without path, query or user");
    }
    throw fail1("the URL needs an explicit port");
  }
  const port = Number(u.replace(/\/$/, "").slice(u.replace(/\/$/, "").lastIndexOf(":") + 1));
  if (port < 1 || port > 65535) throw fail1("port out of range 1-65535");
  return u.replace(/\/$/, "");
}

function stringsOf(s: RawSetting): string[] {
  const v = s.value;
  const parts = Array.isArray(v)
    ? v.map((x) => {
        if (typeof x !== "string" && typeof x !== "number")
          throw fail(s, `list items must be strings, got ${show(x as RawValue)}`);
        return String(x).trim();
      })
    : String(v)
        .split(",")
        .map((x) => x.trim());
  const out = parts.filter((x) => x !== "");
  if (out.length === 0) throw fail(s, `${show(v)} is empty`);
  return out;
}

function urlsOf(s: RawSetting): string[] {
  const out = stringsOf(s).map((u) => checkUrl(u, s));
  const dup = out.find((u, i) => out.indexOf(u) !== i);
  if (dup !== undefined) throw fail(s, `${JSON.stringify(dup)} is listed twice`);
  return out;
}

function uintOf(s: RawSetting): number {
  const v = s.value;
  const text = typeof v === "number" ? String(v) : typeof v === "string" ? v.trim() : "";
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(Number(text)) || Number(text) <= 0) {
    throw fail(s, `${s.key} must be a positive integer, got ${show(v)}`);
  }
  return Number(text);
}

function stringOf(s: RawSetting): string {
  const v = s.value;
  if (typeof v !== "string" && typeof v !== "number") throw fail(s, `${show(v)} is not a string`);
  const t = String(v);
  if (t === "") throw fail(s, "must not be empty");
  if (/[\u0000-\u001f\u007f]/.test(t)) throw fail(s, `${show(t)} holds control characters`);
  return t;
}

function enumOf<T extends string>(s: RawSetting, values: readonly T[]): T {
  const t = stringOf(s);
  if (!(values as readonly string[]).includes(t)) {
    throw fail(s, `${show(t)} is not one of ${values.join(", ")}`);
  }
  return t as T;
}

/**
 * Parses --initial-cluster: `name=peerURL,...` (a name given twice gets
 * several peer URLs, as in etcd) or plain `peerURL,...` (raftexample style:
 * member i is named m<i>). A YAML list of `name=url` strings is accepted too.
 */
export function parseInitialCluster(
  value: string | readonly unknown[],
  where: { source: ConfigSource; key: string } = { source: "flag", key: "--initial-cluster" },
): ClusterMember[] {
  const s: RawSetting = { option: optionByName.get("initial-cluster")!, value, ...where };
  const parts = stringsOf(s);
  const out: ClusterMember[] = [];
  const byName = new Map<string, ClusterMember>();
  const seenUrl = new Map<string, string>();
  let plain = 0;
  for (const part of parts) {
    const eq = part.indexOf("=");
    if (eq < 0) plain++;
    const name = eq < 0 ? `m${out.length + 1}` : part.slice(0, eq).trim();
    if (name === "") throw fail(s, `empty member name in ${JSON.stringify(part)}`);
    const url = checkUrl(eq < 0 ? part : part.slice(eq + 1).trim(), where);
    const other = seenUrl.get(url);
    if (other !== undefined) throw fail(s, `${JSON.stringify(url)} is given to ${other} and ${name}`);
    seenUrl.set(url, name);
    const m = byName.get(name);
    if (m !== undefined) m.peerURLs.push(url);
    else {
      const n = { name, peerURLs: [url] };
      byName.set(name, n);
      out.push(n);
    }
  }
  if (plain > 0 && plain < parts.length) {
    throw fail(s, "mixes name=URL entries with bare URLs; use one form");
  }
  return out;
}

/** Memberships of each setting group, for precedence between alternative names. */
function groupOf(o: OptionDef): string {
  return o.setting ?? o.name;
}

/**
 * Merges sources: per setting group, the highest source that sets any of its
 * options wins; two options of one group set by the same source is an error.
 */
function merge(layers: readonly RawSettings[]): Map<string, RawSetting> {
  const out = new Map<string, RawSetting>();
  const decided = new Set<string>();
  for (const layer of layers) {
    const byGroup = new Map<string, RawSetting>();
    for (const s of layer.values()) {
      const g = groupOf(s.option);
      if (decided.has(g)) continue;
      const prev = byGroup.get(g);
      if (prev !== undefined) {
        throw new ConfigError(s.source, s.key, `${s.key} and ${prev.key} set the same thing; give one`);
      }
      byGroup.set(g, s);
    }
    for (const [g, s] of byGroup) {
      decided.add(g);
      out.set(s.option.name, s);
    }
  }
  return out;
}

const TLS_VERSION = { "TLS1.2": "TLSv1.2", "TLS1.3": "TLSv1.3" } as const;

/**
 * Reads flags, environment and config file and returns the validated member
 * configuration, or the help / version action. Throws ConfigError (one line
 * naming the flag, variable or file key and the bad value) for anything
 * wrong; nothing on disk is touched besides reading the config file and
 * checking that TLS files are readable.
 */
export function loadConfig(opts: LoadOptions): LoadResult {
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? process.env;
  const flags: ParsedFlags = parseFlags(opts.argv);
  if (flags.help) return { action: "help" };
  if (flags.version) return { action: "version" };
  const fromEnv = readEnv(env);
  const warnings = [...fromEnv.warnings];

  const cfSetting = flags.settings.get("config-file") ?? fromEnv.settings.get("config-file");
  let fileSettings: RawSettings = new Map();
  let configFile: string | undefined;
  if (cfSetting !== undefined) {
    configFile = resolvePath(cwd, stringOf(cfSetting));
    let text: string;
    try {
      text = (opts.readFile ?? ((p) => readFileSync(p, "utf8")))(configFile);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw fail(cfSetting, `cannot read ${configFile}: ${e.code ?? e.message}`);
    }
    const parsed = parseConfigFile(text, configFile);
    fileSettings = parsed.settings;
    warnings.push(...parsed.warnings);
  }
  for (const s of flags.settings.values()) {
    const e = fromEnv.settings.get(s.option.name);
    if (e !== undefined) warnings.push(`${e.key} is shadowed by ${s.key}`);
  }

  const merged = merge([flags.settings, fromEnv.settings, fileSettings]);
  const cfg = build(merged, cwd, opts.fileReadable ?? readable, warnings);
  if (configFile !== undefined) {
    cfg.config.configFile = configFile;
    cfg.origins["config-file"] = { source: cfSetting!.source, key: cfSetting!.key };
  }
  return { action: "run", config: cfg.config, warnings, origins: cfg.origins };
}

function readable(p: string): boolean {
  try {
    accessSync(p, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function build(
  m: Map<string, RawSetting>,
  cwd: string,
  fileReadable: (p: string) => boolean,
  warnings: string[],
): { config: MemberConfiguration; origins: ConfigOrigins } {
  const origins: ConfigOrigins = {};
  const get = (name: string): RawSetting | undefined => {
    const s = m.get(name);
    if (s !== undefined) origins[name] = { source: s.source, key: s.key };
    return s;
  };
  const dflt = (name: string) => {
    origins[name] ??= { source: "default", key: `--${name}` };
  };
  /** The key to name in a message about a setting: as the operator wrote it, or its flag. */
  const keyOf = (name: string) => m.get(name)?.key ?? `--${name}`;
  const combo = (name: string, msg: string) => {
    const s = m.get(name);
    return new ConfigError(s?.source ?? "default", keyOf(name), msg);
  };
  const bool = (name: string, d = false) => {
    const s = get(name);
    if (s === undefined) {
      dflt(name);
      return d;
    }
    return parseBool(s.value, s.source, s.key);
  };
  const uint = (name: string) => {
    const s = get(name);
    return s === undefined ? undefined : uintOf(s);
  };
  const str = (name: string) => {
    const s = get(name);
    return s === undefined ? undefined : stringOf(s);
  };
  const path = (name: string) => {
    const s = get(name);
    return s === undefined ? undefined : resolvePath(cwd, stringOf(s));
  };
  const urls = (name: string) => {
    const s = get(name);
    return s === undefined ? undefined : urlsOf(s);
  };
  const one = (name: string, list: string[] | undefined) => {
    if (list !== undefined && list.length > 1) {
      throw combo(name, `${list.join(",")}: tsraft-kv listens on one URL per role; give one`);
    }
    return list;
  };

  // --- identity and cluster
  const idS = get("id");
  const id = idS === undefined ? undefined : uintOf(idS);
  const icS = get("initial-cluster");
  const initial = icS === undefined ? undefined : parseInitialCluster(icS.value as string, icS);
  let name = str("name");
  if (name !== undefined && /[,=]/.test(name)) {
    throw combo(
      "name",
      `${JSON.stringify(name)}: a member name cannot hold "," or "=" (--initial-cluster syntax)`,
    );
  }
  if (id !== undefined) {
    if (initial === undefined) throw combo("id", `${keyOf("id")} needs --initial-cluster`);
    const mm = initial[id - 1];
    if (mm === undefined) {
      throw combo(
        "id",
        `${keyOf("id")} ${id} is beyond the ${initial.length} members of ${keyOf("initial-cluster")}`,
      );
    }
    if (name !== undefined && name !== mm.name) {
      throw combo(
        "name",
        `${keyOf("name")} ${name} does not match member ${id} (${mm.name}) of ${keyOf("initial-cluster")}`,
      );
    }
    name = mm.name;
  }
  if (name === undefined) throw new ConfigError("default", "--name", "--name (or --id) is required");

  const joinS = get("join");
  const join = joinS === undefined ? undefined : checkUrl(stringOf(joinS), joinS);
  const learner = bool("learner");
  if (learner && join === undefined) throw combo("learner", `${keyOf("learner")} needs --join`);
  if (join !== undefined && initial !== undefined) {
    throw combo("join", `${keyOf("join")} and ${keyOf("initial-cluster")} are mutually exclusive`);
  }
  const stateS = get("initial-cluster-state");
  let state = stateS === undefined ? undefined : enumOf(stateS, ["new", "existing"] as const);
  if (join !== undefined) {
    if (state === "new") {
      throw combo(
        "initial-cluster-state",
        `${keyOf("initial-cluster-state")} new contradicts ${keyOf("join")} (joining is existing)`,
      );
    }
    state = "existing";
  }
  if (state === undefined) {
    dflt("initial-cluster-state");
    state = "new";
  }
  const forceNew = bool("force-new-cluster");
  if (forceNew && join !== undefined) {
    throw combo(
      "force-new-cluster",
      `${keyOf("force-new-cluster")} rebuilds from this member's own data; it cannot --join`,
    );
  }
  const token = str("initial-cluster-token") ?? CONFIG_DEFAULTS.initialClusterToken;
  dflt("initial-cluster-token");

  // --- URLs
  const self = initial?.find((x) => x.name === name);
  if (initial !== undefined && self === undefined) {
    throw combo("name", `${keyOf("name")} ${JSON.stringify(name)} is not in ${keyOf("initial-cluster")}`);
  }
  let listenPeer = one("listen-peer-urls", urls("listen-peer-urls"));
  if (listenPeer === undefined) {
    dflt("listen-peer-urls");
    // Listen where --initial-cluster says this member is, rather than on a default port nobody dials.
    listenPeer =
      self !== undefined && self.peerURLs.length === 1 ? [...self.peerURLs] : [CONFIG_DEFAULTS.listenPeerUrl];
  }
  let listenClient = one("listen-client-urls", urls("listen-client-urls"));
  if (listenClient === undefined) {
    dflt("listen-client-urls");
    listenClient = [CONFIG_DEFAULTS.listenClientUrl];
  }
  const listenMetrics = one("listen-metrics-urls", urls("listen-metrics-urls")) ?? [];
  const advPeerS = m.get("initial-advertise-peer-urls");
  const advertisePeer = urls("initial-advertise-peer-urls") ?? [...listenPeer];
  const advertiseClient = urls("advertise-client-urls") ?? [...listenClient];
  for (const [optName, list, fallback] of [
    ["initial-advertise-peer-urls", advertisePeer, "listen-peer-urls"],
    ["advertise-client-urls", advertiseClient, "listen-client-urls"],
  ] as const) {
    for (const u of list) {
      const host = new URL(u).hostname.replace(/^\[|\]$/g, "");
      if (host === "0.0.0.0" || host === "::") {
        const why = m.has(optName) ? "" : ` (it defaults to ${keyOf(fallback)})`;
        throw combo(
          optName,
          `${keyOf(optName)} ${u}: other members cannot dial an unspecified address${why}; set ${m.has(optName) ? "a reachable one" : `--${optName}`}`,
        );
      }
    }
  }
  if (self !== undefined && state === "new") {
    const a = new Set(advertisePeer);
    if (a.size !== self.peerURLs.length || self.peerURLs.some((u) => !a.has(u))) {
      const which =
        advPeerS !== undefined
          ? keyOf("initial-advertise-peer-urls")
          : `${keyOf("listen-peer-urls")} (the advertised peer URLs by default)`;
      throw combo(
        "initial-cluster",
        `${keyOf("initial-cluster")} has ${name}=${self.peerURLs.join(",")} but ${which} is ${advertisePeer.join(",")}`,
      );
    }
  }
  const initialCluster: ClusterMember[] =
    initial ?? (join === undefined ? [{ name, peerURLs: [...advertisePeer] }] : []);

  // --- timing
  const hb = uint("heartbeat-interval") ?? CONFIG_DEFAULTS.heartbeatIntervalMs;
  dflt("heartbeat-interval");
  const etS = get("election-timeout");
  const eticksS = get("election-ticks");
  let electionMs: number;
  let eKey: string;
  if (etS !== undefined) {
    electionMs = uintOf(etS);
    eKey = etS.key;
    if (electionMs % hb !== 0) {
      throw fail(
        etS,
        `${electionMs} ms is not a multiple of ${keyOf("heartbeat-interval")} ${hb} ms (raft counts it in heartbeats)`,
      );
    }
  } else if (eticksS !== undefined) {
    electionMs = uintOf(eticksS) * hb;
    eKey = eticksS.key;
  } else {
    dflt("election-timeout");
    electionMs = CONFIG_DEFAULTS.electionTicks * hb;
    eKey = "--election-timeout";
  }
  const eName = etS !== undefined ? "election-timeout" : eticksS !== undefined ? "election-ticks" : undefined;
  if (electionMs < 5 * hb) {
    // Only reachable with an explicit election setting: the default is 10 heartbeats.
    throw combo(
      eName ?? "election-timeout",
      `${eKey} ${eticksS !== undefined && etS === undefined ? `${uintOf(eticksS)} (${electionMs} ms)` : `${electionMs} ms`} ` +
        `is less than 5 x ${keyOf("heartbeat-interval")} ${hb} ms, as etcd requires`,
    );
  }
  if (electionMs > MAX_ELECTION_TIMEOUT_MS) {
    throw eName !== undefined
      ? combo(eName, `${eKey}: ${electionMs} ms is above etcd's limit of ${MAX_ELECTION_TIMEOUT_MS} ms`)
      : combo(
          "heartbeat-interval",
          `${keyOf("heartbeat-interval")} ${hb} ms makes the default election timeout (10 heartbeats) ` +
            `${electionMs} ms, above etcd's limit of ${MAX_ELECTION_TIMEOUT_MS} ms`,
        );
  }
  const snapshotCount = uint("snapshot-count") ?? CONFIG_DEFAULTS.snapshotCount;
  dflt("snapshot-count");
  const catchUpSet = uint("snapshot-catchup-entries");
  const catchUp =
    catchUpSet ?? Math.min(CONFIG_DEFAULTS.snapshotCatchUpEntries, Math.floor(snapshotCount / 2));
  dflt("snapshot-catchup-entries");
  if (catchUp >= snapshotCount) {
    throw combo(
      "snapshot-catchup-entries",
      `${keyOf("snapshot-catchup-entries")} ${catchUp} must be smaller than ${keyOf("snapshot-count")} ${snapshotCount}`,
    );
  }

  // --- TLS
  const file = (name: string) => {
    const p = path(name);
    if (p !== undefined && !fileReadable(p)) throw combo(name, `${keyOf(name)}: cannot read ${p}`);
    return p;
  };
  const pair = (c: string, k: string) => {
    const cf = file(c);
    const kf = file(k);
    if ((cf === undefined) !== (kf === undefined)) {
      const given = cf !== undefined ? c : k;
      const missing = cf !== undefined ? k : c;
      throw combo(given, `${keyOf(given)} needs --${missing} too`);
    }
    return [cf, kf] as const;
  };
  const tlsMin = str("tls-min-version");
  const tlsMax = str("tls-max-version");
  const minV =
    tlsMin === undefined
      ? undefined
      : TLS_VERSION[enumOf(m.get("tls-min-version")!, ["TLS1.2", "TLS1.3"] as const)];
  const maxV =
    tlsMax === undefined
      ? undefined
      : TLS_VERSION[enumOf(m.get("tls-max-version")!, ["TLS1.2", "TLS1.3"] as const)];
  if (minV === "TLSv1.3" && maxV === "TLSv1.2") {
    throw combo(
      "tls-min-version",
      `${keyOf("tls-min-version")} TLS1.3 is above ${keyOf("tls-max-version")} TLS1.2`,
    );
  }

  const [peerCert, peerKey] = pair("peer-cert-file", "peer-key-file");
  const [peerClientCert, peerClientKey] = pair("peer-client-cert-file", "peer-client-key-file");
  const peerCa = file("peer-trusted-ca-file");
  const peerCrl = file("peer-crl-file");
  const peerCertAuth = bool("peer-client-cert-auth");
  const allowedCnS = get("peer-cert-allowed-cn");
  const allowedHostS = get("peer-cert-allowed-hostname");
  const skipSan = bool("peer-skip-client-san-verification");
  if (allowedCnS !== undefined && allowedHostS !== undefined) {
    throw combo(
      "peer-cert-allowed-cn",
      `${keyOf("peer-cert-allowed-cn")} and ${keyOf("peer-cert-allowed-hostname")} are mutually exclusive`,
    );
  }
  if (peerCertAuth && peerCa === undefined) {
    throw combo(
      "peer-client-cert-auth",
      `${keyOf("peer-client-cert-auth")} needs --peer-trusted-ca-file to verify peers with`,
    );
  }
  const peerHttps = [...listenPeer, ...advertisePeer].some((u) => u.startsWith("https:"));
  if (listenPeer.some((u) => u.startsWith("https:")) && peerCert === undefined) {
    throw combo(
      "listen-peer-urls",
      `${keyOf("listen-peer-urls")} ${listenPeer[0]} is https: give --peer-cert-file and --peer-key-file`,
    );
  }
  let peerTls: PeerTlsConfig | undefined;
  if (peerCert !== undefined || peerCa !== undefined || peerClientCert !== undefined) {
    peerTls = { clientCertAuth: peerCertAuth };
    if (peerCert !== undefined) peerTls.certFile = peerCert;
    if (peerKey !== undefined) peerTls.keyFile = peerKey;
    if (peerClientCert !== undefined) peerTls.clientCertFile = peerClientCert;
    if (peerClientKey !== undefined) peerTls.clientKeyFile = peerClientKey;
    if (peerCa !== undefined) peerTls.trustedCAFile = peerCa;
    if (peerCrl !== undefined) peerTls.crlFile = peerCrl;
    if (allowedCnS !== undefined) peerTls.allowedCN = stringsOf(allowedCnS);
    if (allowedHostS !== undefined) peerTls.allowedHostnames = stringsOf(allowedHostS);
    if (skipSan) peerTls.skipClientSANVerify = true;
    if (bool("peer-verify-member-identity")) peerTls.verifyMemberIdentity = true;
    if (minV !== undefined) peerTls.minVersion = minV;
    if (maxV !== undefined) peerTls.maxVersion = maxV;
    if (!peerHttps && initialCluster.every((x) => x.peerURLs.every((u) => u.startsWith("http:")))) {
      warnings.push("peer TLS files are given but every peer URL is http://: peer traffic is not encrypted");
    }
  } else {
    const orphan = [
      "peer-client-cert-auth",
      "peer-cert-allowed-cn",
      "peer-cert-allowed-hostname",
      "peer-crl-file",
      "peer-skip-client-san-verification",
      "peer-verify-member-identity",
    ].find((n) => m.has(n));
    if (orphan !== undefined) {
      throw combo(
        orphan,
        `${keyOf(orphan)} needs --peer-cert-file and --peer-key-file (or --peer-trusted-ca-file)`,
      );
    }
  }

  const [cert, key] = pair("cert-file", "key-file");
  const ca = file("trusted-ca-file");
  const clientCertAuth = bool("client-cert-auth");
  if (clientCertAuth && ca === undefined) {
    throw combo(
      "client-cert-auth",
      `${keyOf("client-cert-auth")} needs --trusted-ca-file to verify clients with`,
    );
  }
  if (listenClient.some((u) => u.startsWith("https:")) && cert === undefined) {
    throw combo(
      "listen-client-urls",
      `${keyOf("listen-client-urls")} ${listenClient[0]} is https: give --cert-file and --key-file`,
    );
  }
  let clientTls: ClientTlsConfig | undefined;
  if (cert !== undefined && key !== undefined) {
    clientTls = { certFile: cert, keyFile: key, clientCertAuth };
    if (ca !== undefined) clientTls.trustedCAFile = ca;
    if (minV !== undefined) clientTls.minVersion = minV;
    if (maxV !== undefined) clientTls.maxVersion = maxV;
    if (!listenClient.some((u) => u.startsWith("https:"))) {
      warnings.push(
        `${keyOf("cert-file")} is given but ${keyOf("listen-client-urls")} is http://: the client API is not encrypted`,
      );
    }
  } else if (ca !== undefined || clientCertAuth) {
    throw combo(
      ca !== undefined ? "trusted-ca-file" : "client-cert-auth",
      `${keyOf(ca !== undefined ? "trusted-ca-file" : "client-cert-auth")} needs --cert-file and --key-file`,
    );
  }

  // --- logging, limits, the rest
  const lvS = get("log-level");
  const logLevel =
    lvS === undefined ? CONFIG_DEFAULTS.logLevel : enumOf(lvS, ["debug", "info", "warn", "error"] as const);
  dflt("log-level");
  const lfS = get("log-format");
  const logFormat = lfS === undefined ? "auto" : enumOf(lfS, ["json", "console"] as const);
  dflt("log-format");
  const loS = get("log-outputs");
  let logOutput = "stderr";
  if (loS !== undefined) {
    const outs = stringsOf(loS);
    if (outs.length > 1) throw fail(loS, `${outs.join(",")}: one output only`);
    const o = outs[0]!;
    logOutput =
      o === "stderr" || o === "default" ? "stderr" : o === "stdout" ? "stdout" : resolvePath(cwd, o);
  }
  dflt("log-outputs");
  const mS = get("metrics");
  const metrics = mS === undefined ? CONFIG_DEFAULTS.metrics : enumOf(mS, ["basic", "extensive"] as const);
  dflt("metrics");

  const dataDir = path("data-dir") ?? resolvePath(cwd, `${name}.tsraft`);
  dflt("data-dir");
  const config: MemberConfiguration = {
    name,
    dataDir,
    listenPeerUrls: listenPeer,
    listenClientUrls: listenClient,
    listenMetricsUrls: listenMetrics,
    initialAdvertisePeerUrls: advertisePeer,
    advertiseClientUrls: advertiseClient,
    initialCluster,
    initialClusterToken: token,
    initialClusterState: state,
    joinAsLearner: learner,
    forceNewCluster: forceNew,
    strictReconfigCheck: bool("strict-reconfig-check", CONFIG_DEFAULTS.strictReconfigCheck),
    heartbeatIntervalMs: hb,
    electionTimeoutMs: electionMs,
    tickMs: hb,
    heartbeatTicks: 1,
    electionTicks: electionMs / hb,
    snapshotCount,
    snapshotCatchUpEntries: catchUp,
    maxKeyBytes: uint("max-key-bytes") ?? CONFIG_DEFAULTS.maxKeyBytes,
    maxValueBytes: uint("max-value-bytes") ?? CONFIG_DEFAULTS.maxValueBytes,
    requestTimeoutMs: uint("request-timeout") ?? CONFIG_DEFAULTS.requestTimeoutMs,
    logLevel,
    logFormat,
    logOutput,
    metrics,
    unsafeNoFsync: bool("unsafe-no-fsync"),
  };
  for (const n of ["max-key-bytes", "max-value-bytes", "request-timeout"]) dflt(n);
  if (join !== undefined) config.join = join;
  if (peerTls !== undefined) config.peerTls = peerTls;
  if (clientTls !== undefined) config.clientTls = clientTls;
  // Every option the sources set was looked at above; a setting nobody read would be a bug here.
  for (const o of OPTIONS) {
    if (m.has(o.name) && origins[o.name] === undefined && o.name !== "config-file") {
      throw new Error(`config: ${o.name} was set but never read`);
    }
  }
  return { config, origins };
}
