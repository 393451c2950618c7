// Reading raw settings from the three sources: command-line flags, TSRAFT_
// environment variables and a YAML config file. Nothing is interpreted here
// beyond the syntax of each source; resolve.ts merges and validates.

import { parse as parseYaml, YAMLParseError } from "yaml";
import { ConfigError, type ConfigSource } from "./errors.ts";
import {
  envName,
  OPTIONS,
  type OptionDef,
  optionByFlag,
  optionByName,
  UNSUPPORTED_ETCD_KEYS,
} from "./options.ts";

/** A raw value: text from flags and env, whatever YAML gave for the file, true for a bare boolean flag. */
export type RawValue = string | boolean | number | readonly unknown[];

/** One setting as one source gave it. */
export interface RawSetting {
  option: OptionDef;
  value: RawValue;
  source: ConfigSource;
  /** The key as the operator wrote it: `--tick-ms`, `TSRAFT_NAME`, `etcd.yaml: peer-transport-security.cert-file`. */
  key: string;
}

/** Settings of one source by option name. */
export type RawSettings = Map<string, RawSetting>;

const bad = (source: ConfigSource, key: string, msg: string, value?: string): ConfigError =>
  new ConfigError(source, key, msg, value);

/** What the command line asked for besides settings. */
export interface ParsedFlags {
  settings: RawSettings;
  help: boolean;
  version: boolean;
}

/**
 * Parses `--flag value`, `--flag=value` and, for booleans, `--flag` or
 * `--flag=true|false` (a boolean never takes the next argument, as in Go's
 * flag package, so `--learner true` is an error). A flag given twice under
 * the same name keeps the last value (so a script can append an override);
 * one setting given under two names (`--listen-peer` and
 * `--listen-peer-urls`) is an error. `-h` is --help. Positional arguments
 * are errors: a member takes none.
 */
export function parseFlags(argv: readonly string[]): ParsedFlags {
  const settings: RawSettings = new Map();
  let help = false;
  let version = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "-h") {
      help = true;
      continue;
    }
    if (!arg.startsWith("--") || arg === "--") {
      throw bad("flag", arg, `unexpected argument ${JSON.stringify(arg)} (flags start with --)`, arg);
    }
    const eq = arg.indexOf("=");
    const flag = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const key = `--${flag}`;
    const opt = optionByFlag.get(flag);
    if (opt === undefined) {
      if (UNSUPPORTED_ETCD_KEYS.includes(flag)) {
        throw bad("flag", key, `${key} is an etcd flag with no meaning in tsraft-kv`);
      }
      throw bad("flag", key, `unknown flag ${key} (see --help)`);
    }
    let value: RawValue;
    if (opt.kind === "bool") {
      value = eq < 0 ? true : arg.slice(eq + 1);
    } else if (eq >= 0) {
      value = arg.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith("--") && next.length > 2)) {
        throw bad("flag", key, `${key} needs a value${opt.arg ? ` (${opt.arg})` : ""}`);
      }
      value = next;
      i++;
    }
    if (opt.name === "help" || opt.name === "version") {
      const on = parseBool(value, "flag", key);
      if (opt.name === "help") help = on;
      else version = on;
      continue;
    }
    const prev = settings.get(opt.name);
    if (prev !== undefined && prev.key !== key) {
      throw bad("flag", key, `${key} and ${prev.key} set the same thing; give one`);
    }
    settings.set(opt.name, { option: opt, value, source: "flag", key });
  }
  return { settings, help, version };
}

/** Go's strconv.ParseBool set, case-insensitive. */
export function parseBool(v: RawValue, source: ConfigSource, key: string): boolean {
  if (typeof v === "boolean") return v;
  const s = String(v).toLowerCase();
  if (s === "true" || s === "t" || s === "1") return true;
  if (s === "false" || s === "f" || s === "0") return false;
  throw bad(source, key, `${JSON.stringify(String(v))} is not a boolean (true or false)`, String(v));
}

export interface ParsedEnv {
  settings: RawSettings;
  /** Unknown TSRAFT_ variables, and aliases that are not read from the environment. */
  warnings: string[];
}

/**
 * Reads TSRAFT_<NAME> for every option that the environment may set (the
 * etcd names only: aliases are flag-only). An empty variable counts as unset,
 * as a blank line in an environment file means. Other TSRAFT_ variables are
 * reported as warnings, not errors (tests and tools use the prefix too).
 * ETCD_ variables are not read: an environment prepared for a real etcd on
 * the same host must not silently configure tsraft-kv (its ETCD_DATA_DIR
 * would point a tsraft member at etcd's data).
 */
export function readEnv(env: Readonly<Record<string, string | undefined>>): ParsedEnv {
  const settings: RawSettings = new Map();
  const warnings: string[] = [];
  const known = new Set<string>();
  for (const opt of OPTIONS) {
    if (opt.noEnv) continue;
    const name = envName(opt.name);
    known.add(name);
    const v = env[name];
    if (v === undefined || v === "") continue;
    settings.set(opt.name, { option: opt, value: v, source: "env", key: name });
  }
  const aliasEnv = new Map<string, string>();
  for (const opt of OPTIONS) {
    for (const a of opt.aliases ?? []) aliasEnv.set(envName(a), envName(opt.name));
    if (opt.noEnv && opt.setting === "election") aliasEnv.set(envName(opt.name), envName("election-timeout"));
  }
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith("TSRAFT_") || known.has(name)) continue;
    const use = aliasEnv.get(name);
    warnings.push(
      use !== undefined
        ? `environment variable ${name} is not read; use ${use}`
        : `unrecognized environment variable ${name}`,
    );
  }
  return { settings, warnings };
}

/** Config-file keys (flat and nested) to options. */
const fileKeyToOption: ReadonlyMap<string, OptionDef> = new Map(
  OPTIONS.filter((o) => !o.noFile).flatMap((o) => [
    [o.name, o] as const,
    ...(o.fileKeys ?? []).map((k) => [k, o] as const),
  ]),
);

const SECTIONS = new Set(["client-transport-security", "peer-transport-security"]);

export interface ParsedFile {
  settings: RawSettings;
  /** etcd keys that tsraft ignores, set to something other than empty/false/0. */
  warnings: string[];
}

/**
 * Parses a YAML config file with etcd's keys (`name`, `data-dir`,
 * `listen-peer-urls`, ..., and the `client-transport-security` /
 * `peer-transport-security` sections). A key with an empty (null) value is
 * unset, as in etcd's sample file. Unknown keys are errors (a typo must not
 * pass silently); etcd keys that tsraft has no use for are warnings, so an
 * etcd config file loads. `label` names the file in messages.
 */
export function parseConfigFile(text: string, label: string): ParsedFile {
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: false, uniqueKeys: true });
  } catch (err) {
    const e = err as Error;
    const where =
      err instanceof YAMLParseError ? ` line ${text.slice(0, err.pos[0]).split("\n").length}:` : "";
    throw bad("file", label, `not valid YAML:${where} ${e.message.split("\n")[0]}`);
  }
  const settings: RawSettings = new Map();
  const warnings: string[] = [];
  if (doc === null || doc === undefined) return { settings, warnings };
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw bad("file", label, "the top level must be a mapping of etcd config keys");
  }
  const visit = (key: string, value: unknown) => {
    const where = `${label}: ${key}`;
    if (SECTIONS.has(key)) {
      if (value === null || value === undefined) return;
      if (typeof value !== "object" || Array.isArray(value)) throw bad("file", where, "must be a mapping");
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) visit(`${key}.${k}`, v);
      return;
    }
    const opt = fileKeyToOption.get(key);
    if (opt === undefined) {
      if (UNSUPPORTED_ETCD_KEYS.includes(key)) {
        if (value !== null && value !== undefined && value !== false && value !== 0 && value !== "") {
          warnings.push(`${where}: etcd's ${key} has no meaning in tsraft-kv; ignored`);
        }
        return;
      }
      if (optionByName.get(key)?.noFile) throw bad("file", where, `${key} cannot be set in a config file`);
      throw bad("file", where, `unknown key ${JSON.stringify(key)}`);
    }
    if (value === null || value === undefined) return;
    if (typeof value === "object" && !Array.isArray(value)) {
      throw bad("file", where, "must be a value, not a mapping");
    }
    const prev = settings.get(opt.name);
    if (prev !== undefined)
      throw bad("file", where, `${key} and ${prev.key.slice(label.length + 2)} set the same thing; give one`);
    settings.set(opt.name, { option: opt, value: value as RawValue, source: "file", key: where });
  };
  for (const [k, v] of Object.entries(doc as Record<string, unknown>)) visit(k, v);
  return { settings, warnings };
}
