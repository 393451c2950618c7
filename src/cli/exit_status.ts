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
 * The message of an error as one line: line breaks folded, the message of
 * each `cause` appended when it adds something. With `stack` (the debug log
 * level), the stack traces follow on further lines.
 */
export function describeError(err: unknown, stack = false): string {
  const parts: string[] = [];
  const stacks: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e != null && depth < 8; depth++) {
    const msg = oneLine(e instanceof Error ? e.message : String(e));
    if (msg !== "" && !parts.some((p) => p.includes(msg))) parts.push(msg);
    if (stack && e instanceof Error && e.stack !== undefined) stacks.push(e.stack);
    e = e instanceof Error ? e.cause : undefined;
  }
  const line = parts.length > 0 ? parts.join(": ") : "unknown error";
  return stack && stacks.length > 0 ? `${line}\n${stacks.join("\ncaused by: ")}` : line;
}

function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, "; ").trim();
}
