// Typed error of the logging setup.

/** A logger option that cannot be honoured: an unknown level or format, an output that cannot be opened. */
export class LogConfigError extends Error {
  /** Always "ERR_LOG_CONFIG". */
  readonly code = "ERR_LOG_CONFIG";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LogConfigError";
  }
}
