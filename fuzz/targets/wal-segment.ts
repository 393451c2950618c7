// The WAL record decoder (src/wal/decoder.ts) over whole segments: valid
// segments written by our Encoder, then damaged. Any damage gives records or
// a WalError, never anything else; and where the damage is of a known kind
// the outcome must be the right one:
//  - a truncated last segment (a crash mid-write) reads back a prefix of what
//    was written and is either clean or a torn tail, never "corrupt", so that
//    repair may cut it and nothing before it is lost;
//  - one changed byte never yields changed record data: what is read is a
//    prefix of what was written, followed by an error or the end;
//  - in a segment that is not the last, any damage is an error (corruption
//    or a broken CRC chain), never a torn tail, and never a silent success
//    with fewer records.
import fc from "fast-check";
import type { Entry } from "../../src/index.ts";
import {
  Decoder,
  decodeWalSnapshot,
  Encoder,
  encodeWalSnapshot,
  RecordType,
  WalError,
  WalErrorCode,
  WalSnapshot,
} from "../../src/wal/index.ts";
import {
  DecodeError,
  decodeEntry,
  decodeHardState,
  encodeEntry,
  encodeHardState,
  type Profile,
} from "../../src/wire.ts";
import { MemFS } from "../memfs.ts";
import {
  applyMutations,
  checkTime,
  FuzzFailure,
  type FuzzTarget,
  hex,
  type Mutation,
  mutation,
} from "../target.ts";
import { confState, entry, hardState } from "../values.ts";

type Rec = { type: number; data: Uint8Array | null };

const recSpec = fc.oneof(
  { weight: 6, arbitrary: entry.map((e) => ({ k: "entry" as const, e })) },
  { weight: 2, arbitrary: hardState.map((h) => ({ k: "state" as const, h })) },
  {
    weight: 1,
    arbitrary: fc
      .record({ i: fc.nat(1000), t: fc.nat(50), cs: fc.option(confState, { nil: null }) })
      .map((s) => ({ k: "snap" as const, s: new WalSnapshot(s.i, s.t, s.cs) })),
  },
);
type RecSpec = typeof recSpec extends fc.Arbitrary<infer T> ? T : never;

type Damage =
  | { k: "mutate"; muts: Mutation[] }
  | { k: "truncate"; at: number }
  | { k: "set"; at: number; v: number };

interface Input {
  profile: Profile;
  metadata: Uint8Array;
  first: RecSpec[];
  second: RecSpec[];
  /** The damaged segment is followed by an intact one. */
  split: boolean;
  damage: Damage;
}

function payload(r: RecSpec, profile: Profile): { type: number; data: Uint8Array; entry?: Entry } {
  if (r.k === "entry") return { type: RecordType.Entry, data: encodeEntry(r.e, profile), entry: r.e };
  if (r.k === "state") return { type: RecordType.State, data: encodeHardState(r.h, profile) };
  return { type: RecordType.Snapshot, data: encodeWalSnapshot(r.s, profile) };
}

/** Writes one segment as the WAL does: crc record, metadata, then records. */
function writeSegment(
  fs: MemFS,
  path: string,
  prevCrc: number,
  i: Input,
  recs: RecSpec[],
  expect: Rec[],
): number {
  const fd = fs.openSync(path, "w");
  const enc = new Encoder(fs, fd, 0, prevCrc, i.profile);
  enc.appendCrc(prevCrc);
  expect.push({ type: RecordType.Crc, data: null });
  enc.appendData(RecordType.Metadata, i.metadata);
  expect.push({ type: RecordType.Metadata, data: i.metadata });
  for (const r of recs) {
    const p = payload(r, i.profile);
    if (p.entry !== undefined) enc.appendEntry(p.entry);
    else enc.appendData(p.type, p.data);
    expect.push({ type: p.type, data: p.data });
  }
  enc.flush();
  fs.closeSync(fd);
  return enc.crc;
}

function damage(b: Uint8Array, d: Damage): Uint8Array {
  if (d.k === "mutate") return applyMutations(b, d.muts);
  if (d.k === "truncate") return b.subarray(0, d.at % (b.length + 1));
  const out = b.slice();
  const at = d.at % out.length;
  out[at] = out[at] === d.v ? (d.v + 1) & 0xff : d.v;
  return out;
}

// Compares what the CRC protects: record data (absent and empty are the same
// bytes to the chain). The record type sits outside the CRC in etcd's format,
// so a damaged type byte cannot be told from a real one here; readAll stops at
// a type that does not exist, and payload decoding catches most swaps.
function sameData(a: Rec, b: Rec): boolean {
  const x = a.data ?? EMPTY;
  const y = b.data ?? EMPTY;
  return x.length === y.length && x.every((v, i) => v === y[i]);
}
const EMPTY = new Uint8Array(0);
const hasData = (r: Rec) => (r.data?.length ?? 0) > 0;

function checkPayload(r: Rec): void {
  // What readAll does with each record; its DecodeError becomes a WalError.
  try {
    if (r.type === RecordType.Entry) decodeEntry(r.data ?? new Uint8Array(0));
    else if (r.type === RecordType.State) decodeHardState(r.data ?? new Uint8Array(0));
    else if (r.type === RecordType.Snapshot) decodeWalSnapshot(r.data ?? new Uint8Array(0));
  } catch (e) {
    if (!(e instanceof DecodeError)) throw new FuzzFailure(`payload: untyped error ${(e as Error).stack}`);
  }
}

const target: FuzzTarget<Input> = {
  name: "wal-segment",
  description: "WAL record decoder over damaged segments: torn tails vs corruption, CRC chain, payloads",
  input: fc.record({
    profile: fc.constantFrom<Profile>("P37", "G36"),
    metadata: fc.uint8Array({ maxLength: 24 }),
    first: fc.array(recSpec, { maxLength: 12 }),
    second: fc.array(recSpec, { maxLength: 3 }),
    split: fc.boolean(),
    damage: fc.oneof(
      fc.record({
        k: fc.constant("mutate" as const),
        muts: fc.array(mutation, { minLength: 1, maxLength: 5 }),
      }),
      fc.record({ k: fc.constant("truncate" as const), at: fc.nat() }),
      fc.record({ k: fc.constant("set" as const), at: fc.nat(), v: fc.nat(255) }),
    ),
  }),
  show: (i) =>
    `split=${i.split} damage=${JSON.stringify(i.damage)} records=${i.first.length}+${i.second.length}`,
  run: (i) => {
    const fs = new MemFS();
    const expect: Rec[] = [];
    const crc = writeSegment(fs, "/w/0.wal", 0, i, i.first, expect);
    const firstCount = expect.length;
    if (i.split) writeSegment(fs, "/w/1.wal", crc, i, i.second, expect);
    const damaged = damage(fs.files.get("/w/0.wal")!, i.damage);
    fs.files.set("/w/0.wal", damaged);

    const names = i.split ? ["0.wal", "1.wal"] : ["0.wal"];
    const refs = names.map((name) => ({ name, fd: fs.openSync(`/w/${name}`, "r") }));
    const got: Rec[] = [];
    let err: WalError | null = null;
    const t0 = performance.now();
    try {
      const d = new Decoder(fs, refs);
      while (d.next()) {
        const data = d.data();
        got.push({ type: d.rec.type, data: data === null ? null : data.slice() });
      }
    } catch (e) {
      if (!(e instanceof WalError)) throw new FuzzFailure(`untyped error: ${(e as Error).stack}`);
      err = e;
    }
    checkTime(t0);
    for (const r of got) checkPayload(r);
    if (i.damage.k === "mutate") return;
    // The CRC covers record data, not the type (as in etcd): a type changed
    // to one that does not exist stops readAll there (unexpected block type).
    const bad = got.findIndex((r) => r.type < RecordType.Metadata || r.type > RecordType.Snapshot);
    if (bad >= 0) {
      got.length = bad;
      err = new WalError(WalErrorCode.UnexpectedBlockType, "unexpected block type");
    }

    const where = `bytes=${hex(damaged, 96)} error=${err?.code ?? "none"} read=${got.length}/${expect.length}`;
    // Records with no data leave the CRC chain as it was, so their loss is
    // invisible to it (and loses no bytes): compare the records with data.
    const gotData = got.filter(hasData);
    const expectData = expect.filter(hasData);
    for (let k = 0; k < gotData.length; k++) {
      if (k >= expectData.length || !sameData(gotData[k]!, expectData[k]!))
        throw new FuzzFailure(`record ${k} read back differs from what was written; ${where}`);
    }
    if (i.split) {
      if (err?.code === WalErrorCode.UnexpectedEOF)
        throw new FuzzFailure(`damage in a non-final segment reported as a torn tail; ${where}`);
      if (err === null && gotData.length !== expectData.length)
        throw new FuzzFailure(`records lost without an error; ${where}`);
    } else if (i.damage.k === "truncate") {
      if (err !== null && err.code !== WalErrorCode.UnexpectedEOF)
        throw new FuzzFailure(`a truncated last segment reported as ${err.code}; ${where}`);
      if (got.length > firstCount) throw new FuzzFailure(`read more than written; ${where}`);
    }
  },
};

export default target;
