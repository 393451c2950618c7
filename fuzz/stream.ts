// Targets for the rafthttp stream decoders: what a peer sends over a long-
// lived stream connection, arriving in arbitrary socket chunks. A peer's bad
// bytes must end that connection with a RaftHttpError, never crash the node,
// never produce a message with an unsafe number or an ID outside 64 bits,
// and never make the decoder
// hold more than the frame limit allows; intact streams decode to exactly
// the messages that were encoded, however they are chunked.

import fc from "fast-check";
import { Entry, formatId, Message, MessageType } from "../src/index.ts";
import {
  FrameBuffer,
  type FrameSink,
  LINK_HEARTBEAT,
  MessageDecoder,
  MessageEncoder,
  MsgAppV2Decoder,
  MsgAppV2Encoder,
  RaftHttpError,
} from "../src/rafthttp/index.ts";
import { DecodeError, isUint64, type Profile } from "../src/wire.ts";
import {
  applyMutations,
  checkTime,
  FuzzFailure,
  type FuzzTarget,
  hex,
  type Mutation,
  mutation,
} from "./target.ts";
import { message, u64 } from "./values.ts";

// The two ends of the stream, with hash-like IDs as etcd derives them (both
// >= 2^63, so every MsgApp the msgappv2 decoder rebuilds carries 10-byte IDs).
const LOCAL = 0x8211f1d0f64f3269n;
const REMOTE = 0xfd422379fda50e48n;

type Step =
  | { k: "app"; entries: { term: number; data: Uint8Array }[]; commit: number }
  | { k: "other"; m: Message }
  | { k: "beat" };

// A MsgApp as a leader sends it: only the fields raft sets on one.
const fullApp = fc
  .record({
    term: fc.nat(10),
    logTerm: fc.nat(10),
    index: fc.oneof(fc.nat(1000), u64),
    commit: fc.nat(1000),
    entries: fc.array(fc.record({ term: fc.nat(10), index: u64, data: fc.uint8Array({ maxLength: 24 }) }), {
      maxLength: 3,
    }),
  })
  .map((r) =>
    Message.create({
      type: MessageType.MsgApp,
      from: REMOTE,
      to: LOCAL,
      term: r.term,
      logTerm: r.logTerm,
      index: r.index,
      commit: r.commit,
      entries: r.entries.map((e) => new Entry(e.term, e.index, 0, e.data)),
    }),
  );

// The msgappv2 stream carries only MsgApps (and link heartbeats); the general
// stream carries any message.
function steps(kind: "message" | "msgappv2"): fc.Arbitrary<Step[]> {
  const other = kind === "message" ? fc.oneof(message, fullApp) : fullApp;
  const step: fc.Arbitrary<Step> = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        k: fc.constant("app" as const),
        entries: fc.array(fc.record({ term: fc.nat(5), data: fc.uint8Array({ maxLength: 24 }) }), {
          maxLength: 4,
        }),
        commit: fc.nat(1000),
      }),
    },
    { weight: 3, arbitrary: other.map((m) => ({ k: "other" as const, m })) },
    { weight: 1, arbitrary: fc.constant({ k: "beat" as const }) },
  );
  return fc.array(step, { maxLength: 8 });
}

export interface StreamInput {
  profile: Profile;
  steps: Step[];
  limit: number;
  damage: readonly Mutation[];
  /** Socket chunk sizes, cycled. */
  chunks: number[];
}

/** The messages a stream carries, with MsgApps that continue the previous one (msgappv2's short frames). */
function messages(i: StreamInput): Message[] {
  let term = 0;
  let index = 0;
  const out: Message[] = [];
  for (const s of i.steps) {
    if (s.k === "beat") out.push(LINK_HEARTBEAT);
    else if (s.k === "other") {
      out.push(s.m);
      term = s.m.term;
      index = s.m.entries.length > 0 ? s.m.entries[s.m.entries.length - 1]!.index : s.m.index;
    } else {
      // (No entries past the largest safe index: a leader never has them.)
      const n = index + s.entries.length > Number.MAX_SAFE_INTEGER ? 0 : s.entries.length;
      const entries = s.entries
        .slice(0, n)
        .map((e, j) => new Entry(Math.min(e.term, term), index + 1 + j, 0, e.data));
      out.push(
        Message.create({
          type: MessageType.MsgApp,
          from: REMOTE,
          to: LOCAL,
          term,
          logTerm: term,
          index,
          entries,
          commit: s.commit,
        }),
      );
      index += entries.length;
    }
  }
  return out;
}

// What survives the wire: the fields raft reads (presence bits aside).
function plain(m: Message): unknown[] {
  const e = (x: Entry) => [x.term, x.index, x.type, hex(x.data)];
  return [
    m.type,
    formatId(m.from),
    formatId(m.to),
    m.term,
    m.logTerm,
    m.index,
    m.commit,
    formatId(m.vote),
    m.reject,
    m.rejectHint,
    m.entries.map(e),
  ];
}

function checkSafe(m: Message, where: string): void {
  const nums = [m.type, m.term, m.logTerm, m.index, m.commit, m.rejectHint];
  for (const e of m.entries) nums.push(e.term, e.index, e.type);
  for (const n of nums) {
    if (!Number.isSafeInteger(n) || n < 0) throw new FuzzFailure(`decoded an unsafe number ${n}; ${where}`);
  }
  for (const id of [m.from, m.to, m.vote]) {
    if (!isUint64(id))
      throw new FuzzFailure(`decoded an ID that is not an unsigned 64-bit bigint: ${id}; ${where}`);
  }
}

export function streamTarget(kind: "message" | "msgappv2"): FuzzTarget<StreamInput> {
  return {
    name: `rafthttp-${kind}-stream`,
    description:
      kind === "message"
        ? "rafthttp general message stream decoder (8-byte length + raftpb.Message frames), any chunking"
        : "rafthttp msgappv2 stream decoder (link heartbeats, short MsgApp frames, full messages), any chunking",
    input: fc.record({
      profile: fc.constantFrom<Profile>("P37", "G36"),
      steps: steps(kind),
      limit: fc.constantFrom(64, 1024, 1 << 20),
      damage: fc.oneof(
        { weight: 1, arbitrary: fc.constant([]) },
        { weight: 3, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 4 }) },
      ),
      chunks: fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 5 }),
    }),
    show: (i) =>
      `limit=${i.limit} chunks=${i.chunks} damage=${JSON.stringify(i.damage)} steps=${i.steps.length}`,
    run: (i) => {
      const sent = messages(i);
      const fb = new FrameBuffer(64);
      const enc = kind === "message" ? new MessageEncoder(i.profile) : new MsgAppV2Encoder(i.profile);
      for (const m of sent) if (kind === "msgappv2" || m !== LINK_HEARTBEAT) enc.encode(m, fb);
      const intact = Uint8Array.from(fb.take());
      const bytes = i.damage.length === 0 ? intact : applyMutations(intact, i.damage);

      const got: Message[] = [];
      const sink: FrameSink = { onFrame: (m) => void got.push(m) };
      const dec =
        kind === "message"
          ? new MessageDecoder(sink, i.limit)
          : new MsgAppV2Decoder(sink, i.limit, LOCAL, REMOTE);
      let err: unknown = null;
      const t0 = performance.now();
      try {
        for (let at = 0, c = 0; at < bytes.length; c++) {
          const n = i.chunks[c % i.chunks.length]!;
          dec.push(bytes.subarray(at, at + n));
          at += n;
        }
      } catch (e) {
        if (!(e instanceof RaftHttpError)) throw new FuzzFailure(`untyped error: ${(e as Error).stack}`);
        // A wrapped TypeError or RangeError is a decoder bug, not bad input.
        if (e.cause instanceof Error && !(e.cause instanceof DecodeError))
          throw new FuzzFailure(`internal error behind ${e.message}: ${e.cause.stack}`);
        err = e;
      }
      checkTime(t0);
      const where = `bytes=${hex(bytes, 96)}`;
      for (const m of got) checkSafe(m, where);
      if (i.damage.length > 0) return;
      // Intact: every message back, in order, unless one was over the limit.
      if (err !== null) {
        if (!(err as RaftHttpError).message.includes("limit"))
          throw new FuzzFailure(`intact stream refused: ${err}; ${where}`);
        return;
      }
      const want = sent.filter((m) => kind === "msgappv2" || m !== LINK_HEARTBEAT);
      if (got.length !== want.length)
        throw new FuzzFailure(`decoded ${got.length} of ${want.length} messages; ${where}`);
      for (let k = 0; k < got.length; k++) {
        if (JSON.stringify(plain(got[k]!)) !== JSON.stringify(plain(want[k]!)))
          throw new FuzzFailure(`message ${k} differs after the stream; ${where}`);
      }
    },
  };
}
