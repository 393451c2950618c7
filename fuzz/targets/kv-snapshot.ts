// tsraft-kv's snapshot loader: the store image a member receives from the
// leader (a peer's bytes) or reads from its own .snap file. Bad bytes must
// give a DecodeError and leave nothing half-restored behind.
import fc from "fast-check";
import { DecodeError } from "../../src/index.ts";
import { Command, Op } from "../../src/kv/command.ts";
import { type KeyValue, KvStore, serializeSnapshot } from "../../src/kv/store.ts";
import { decoderTarget } from "../target.ts";
import { u64 } from "../values.ts";

interface Image {
  revision: number;
  extra: Uint8Array;
  records: KeyValue[];
}

const record = fc
  .record({
    key: fc.string({ maxLength: 12 }),
    value: fc.uint8Array({ maxLength: 24 }),
    createRevision: u64,
    modRevision: u64,
    version: fc.nat(100),
  })
  .map((r): KeyValue => ({ ...r }));

export default decoderTarget<Image>({
  name: "kv-snapshot",
  description: "tsraft-kv KvStore.restore: a store image from a snapshot",
  decode: (b) => {
    const s = new KvStore();
    s.apply(new Command(Op.Put, new TextEncoder().encode("untouched"), new Uint8Array(1)));
    const before = s.revision;
    let extra: Uint8Array;
    try {
      extra = s.restore(b);
    } catch (e) {
      // A refused image leaves the store as it was.
      if (s.revision !== before || s.size !== 1) throw new Error("a refused snapshot changed the store");
      throw e;
    }
    return { revision: s.revision, extra, records: s.capture().records };
  },
  encode: (v) => serializeSnapshot({ revision: v.revision, records: v.records }, v.extra),
  values: fc
    .record({
      revision: u64,
      extra: fc.uint8Array({ maxLength: 16 }),
      records: fc.uniqueArray(record, { selector: (r) => r.key, maxLength: 5 }),
    })
    .map((r) => ({ ...r })),
  isTypedError: (e) => e instanceof DecodeError,
});
