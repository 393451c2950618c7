// tsraft-kv's command decoder: what every member applies from a committed
// log entry. Bad bytes must give a DecodeError (the member skips the entry,
// as every other member does), never a crash.
import fc from "fast-check";
import { DecodeError } from "../../src/index.ts";
import { Command, decodeCommand, encodeCommand, type Op } from "../../src/kv/command.ts";
import { decoderTarget } from "../target.ts";

export default decoderTarget({
  name: "kv-command",
  description: "tsraft-kv decodeCommand: a put, delete or publish from a committed entry",
  decode: (b) => decodeCommand(b),
  encode: (c) => encodeCommand(c),
  values: fc
    .record({
      op: fc.integer({ min: 1, max: 2 }),
      key: fc.uint8Array({ maxLength: 20 }),
      value: fc.uint8Array({ maxLength: 40 }),
      expected: fc.oneof(fc.constant(-1), fc.nat(1000)),
    })
    .map((r) => new Command(r.op as Op, r.key, r.op === 2 ? new Uint8Array(0) : r.value, r.expected)),
  isTypedError: (e) => e instanceof DecodeError,
});
