// tsraft-kv's state machine for the host: the KvStore, fed decoded commands.

import type { AppliedCommand, StateMachine } from "../host/index.ts";
import { type ApplyResult, decodeCommand } from "./command.ts";
import { type KvStore, serializeSnapshotAsync } from "./store.ts";

export class KvStateMachine implements StateMachine<ApplyResult> {
  constructor(readonly store: KvStore) {}

  apply(cmds: readonly AppliedCommand[]): ApplyResult[] {
    const out: ApplyResult[] = new Array(cmds.length);
    for (let i = 0; i < cmds.length; i++) {
      let r: ApplyResult;
      try {
        r = this.store.apply(decodeCommand(cmds[i]!.data));
      } catch {
        // Every member refuses the same bytes alike: the stores stay identical.
        r = { revision: this.store.revision, ok: false, error: "BAD_COMMAND", prevRevision: 0 };
      }
      out[i] = r;
    }
    return out;
  }

  snapshot(): AsyncIterable<Uint8Array> {
    // Records are immutable: the capture is a consistent view even while writes go on.
    const cap = this.store.capture();
    return (async function* () {
      yield await serializeSnapshotAsync(cap, new Uint8Array(0));
    })();
  }

  async restore(image: AsyncIterable<Uint8Array>): Promise<void> {
    const parts: Uint8Array[] = [];
    for await (const c of image) parts.push(c);
    this.store.restore(Buffer.concat(parts));
  }
}
