// The member configuration as etcd names it: flags, TSRAFT_ environment
// variables and a YAML config file, merged with documented precedence
// (resolve.ts) into one validated object; typed errors and exit codes.

export { ConfigError, type ConfigSource } from "./errors.ts";
export { ExitCode, exitCodeFor, exitCodeTable } from "./exit_codes.ts";
export { configHelp } from "./help.ts";
export {
  envName,
  OPTIONS,
  type OptionDef,
  type OptionGroup,
  type OptionKind,
  UNSUPPORTED_ETCD_KEYS,
} from "./options.ts";
export {
  type ClientTlsConfig,
  type ClusterMember,
  CONFIG_DEFAULTS,
  type ConfigOrigins,
  checkUrl,
  type LoadOptions,
  type LoadResult,
  type LogLevelName,
  loadConfig,
  MAX_ELECTION_TIMEOUT_MS,
  type MemberConfiguration,
  type PeerTlsConfig,
  parseInitialCluster,
} from "./resolve.ts";
export { parseBool, parseConfigFile, parseFlags, readEnv } from "./sources.ts";
