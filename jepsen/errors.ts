// Typed errors of the Jepsen-style harness. Each has a stable `code`.

/** A history file (JSON lines) that does not parse or holds an impossible operation. */
export class HistoryFormatError extends Error {
  readonly code = "ERR_JEPSEN_HISTORY";
  /** 1-based line of the file, 0 when the problem is not tied to one line. */
  readonly line: number;
  constructor(message: string, line = 0) {
    super(line > 0 ? `line ${line}: ${message}` : message);
    this.name = "HistoryFormatError";
    this.line = line;
  }
}

/** Bad command-line options or harness configuration. */
export class JepsenConfigError extends Error {
  readonly code = "ERR_JEPSEN_CONFIG";
  constructor(message: string) {
    super(message);
    this.name = "JepsenConfigError";
  }
}

/**
 * The system under test could not be brought into the state a step needs
 * (a member that does not start or become healthy, a membership call that
 * keeps failing): the run is aborted, its history is still checked.
 */
export class ClusterSetupError extends Error {
  readonly code = "ERR_JEPSEN_CLUSTER";
  constructor(message: string) {
    super(message);
    this.name = "ClusterSetupError";
  }
}
