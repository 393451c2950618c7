// Typed error of the member configuration.

/** Where a setting came from; a ConfigError names it the way the operator wrote it. */
export type ConfigSource = "flag" | "env" | "file" | "default";

/**
 * A flag, environment variable or config-file key with a bad value, or a bad
 * combination of them. `message` is one line that starts with the key as the
 * operator wrote it (`--heartbeat-interval`, `TSRAFT_DATA_DIR`,
 * `etcd.yaml: peer-transport-security.cert-file`) and quotes the bad value;
 * the CLI prints it as is and exits with ExitCode.BadConfig.
 */
export class ConfigError extends Error {
  /** Always "ERR_CONFIG" (exit status ExitCode.BadConfig). */
  readonly code = "ERR_CONFIG";
  /** The source of the (first) offending setting. */
  readonly source: ConfigSource;
  /** The key as written: a flag with its dashes, an env var name, or `file: key`. */
  readonly key: string;
  /** The offending value as given, when there is one. */
  readonly value: string | undefined;
  constructor(source: ConfigSource, key: string, message: string, value?: string) {
    super(message.startsWith(key) ? message : `${key}: ${message}`);
    this.name = "ConfigError";
    this.source = source;
    this.key = key;
    this.value = value;
  }
}
