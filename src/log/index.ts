// Structured logging: JSON lines through pino (human-readable on a
// terminal), levels, member and component on every line, rate-limited
// repeats, and an adapter that sends raft's messages through it.

export { formatConsoleLine } from "./console_format.ts";
export { LogConfigError } from "./errors.ts";
export {
  createLogger,
  DEFAULT_REPEAT_WINDOW_MS,
  type LimitOptions,
  Log,
  type LogDestination,
  type LogFields,
  type LogFormat,
  type LoggerOptions,
  type LogLevelName,
} from "./logger.ts";
export { RaftLogAdapter, raftLogger } from "./raft_adapter.ts";
export { type Admission, RepeatLimiter, type Reporter } from "./rate_limit.ts";
