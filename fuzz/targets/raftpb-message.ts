// raftpb.decodeMessage: a raft message (the wire format), responses nested.
import { DecodeError, decodeMessage, encodeMessage } from "../../src/wire.ts";
import { decoderTarget } from "../target.ts";
import { message } from "../values.ts";

export default decoderTarget({
  name: "raftpb-message",
  description: "raftpb decodeMessage: a raft message (the wire format), responses nested",
  decode: (b, copy) => decodeMessage(b, { copy }),
  encode: (v, profile) => encodeMessage(v, profile),
  values: message,
  isTypedError: (e) => e instanceof DecodeError,
});
