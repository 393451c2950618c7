// From an error that ends a tsraft-kv process to its exit status and the one
// line that says why.
//
// The status comes from src/config's exitCodeFor (by the error's `code`,
// through `cause`). One wrinkle: KvMember.start turns the host's start
// errors into a KvConfigError (code ERR_KV_CONFIG, which alone would read as
// "bad configuration") and keeps the host's code in `reason`; that code is
// the one that tells "port in use" from "data dir locked", so it is used
// when present.

import { ExitCode, exitCodeFor } from "../config/index.ts";

/** The exit status for an error that stops the process (never 0). */
export function exitStatusOf(err: unknown): ExitCode {
  const e = err as { code?: unknown; reason?: unknown; cause?: unknown } | null;
  let status: ExitCode;
  if (e?.code === "ERR_KV_CONFIG" && typeof e.reason === "string") {
    status = exitCodeFor({ code: e.reason, cause: e.cause });
  } else if (e?.code === "ERR_LOG_CONFIG") {
    // --log-outputs names a file that cannot be opened, or a bad level: the configuration is wrong.
    status = ExitCode.BadConfig;
  } else {
    status = exitCodeFor(err);
  }
  return status === ExitCode.Ok ? ExitCode.Fatal : status;
}

/**
 * The message of an error as one line (line breaks folded). The wrappers
 * that reach here (the host's start and fatal errors) already say in their
 * message what their `cause` says, so causes are not repeated; with `stack`
 * (the debug log level) the stack traces of the error and its causes follow
 * on further lines.
 */
export function describeError(err: unknown, stack = false): string {
  const line = oneLine(err instanceof Error ? err.message : String(err)) || "unknown error";
  if (!stack) return line;
  const stacks: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e instanceof Error && depth < 8; depth++) {
    if (e.stack !== undefined) stacks.push(e.stack);
    e = e.cause;
  }
  return stacks.length > 0 ? `${line}\n${stacks.join("\ncaused by: ")}` : line;
}

function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, "; ").trim();
}
