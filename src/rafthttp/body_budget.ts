// Reading pipeline bodies without letting peers take the member's memory.
//
// A pipeline POST carries one raft message, read whole before it is decoded
// (the decoder needs the complete protobuf). Three bounds hold whatever the
// peers send:
//   - per body: at most maxMessageBytes (413 beyond it);
//   - across bodies: the bytes held by all bodies being read at once stay
//     within maxInflightBodyBytes (the BodyBudget), so many large bodies
//     arriving together cannot add up past it; the body that would cross the
//     budget is refused, not queued;
//   - in time: a body that sends nothing for bodyIdleTimeout is dropped, so a
//     slow or stalled sender cannot hold its share of the budget forever.
// The budget is given back exactly once, when the read settles (success,
// limit, stall, error or abort): `held` counts what this read added.

import type { IncomingMessage } from "node:http";
import { limitExceeded, RaftHttpError, RaftHttpErrorCode } from "./errors.ts";

/** Pipeline body bytes held by all requests being read, against the shared maximum. */
export class BodyBudget {
  inFlight = 0;
  readonly max: number;

  constructor(max: number) {
    this.max = max;
  }
}

/**
 * Reads a whole body, failing past `limit` bytes (LimitExceeded), when the
 * bodies being read together would exceed the budget (Busy), or when the
 * body stalls for `idleMs` (Busy). Whatever it held is given back to the
 * budget when it settles.
 */
export function readBody(
  req: IncomingMessage,
  limit: number,
  budget: BodyBudget,
  idleMs: number,
): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    let held = 0;
    let idle = setTimeout(() => onStall(), idleMs);
    const onStall = (): void => {
      cleanup();
      reject(new RaftHttpError(RaftHttpErrorCode.Busy, `request body stalled for ${idleMs} ms`));
    };
    const onData = (c: Buffer): void => {
      n += c.length;
      if (n > limit) {
        cleanup();
        reject(limitExceeded("request body", n, limit));
        return;
      }
      if (budget.inFlight + c.length > budget.max) {
        cleanup();
        reject(
          new RaftHttpError(
            RaftHttpErrorCode.Busy,
            `pipeline bodies in flight would exceed ${budget.max} bytes; refusing this one`,
          ),
        );
        return;
      }
      budget.inFlight += c.length;
      held += c.length;
      clearTimeout(idle);
      idle = setTimeout(() => onStall(), idleMs);
      parts.push(c);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(parts.length === 1 ? parts[0]! : Buffer.concat(parts, n));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onAborted = (): void => onError(new Error("request aborted"));
    const cleanup = (): void => {
      clearTimeout(idle);
      budget.inFlight -= held;
      held = 0;
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    const onClose = (): void => {
      if (!req.complete) onAborted();
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
}
