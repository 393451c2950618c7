// The snapshot loader (readSnapFile): `.snap` files as the Snapshotter writes
// them, damaged. Every file loads as a Snapshot or fails with a SnapError;
// a loaded snapshot holds no more bytes than the file; and a file with one
// changed byte never loads as a different snapshot (the CRC-32C over the
// data catches every single-byte change in it).
import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import { crc32cUpdate } from "../../src/fileutil/index.ts";
import type { Snapshot } from "../../src/index.ts";
import { encodeSnapFile, readSnapFile, SnapError } from "../../src/snap/index.ts";
import { encodeSnapshot, type Profile } from "../../src/wire.ts";
import { MemFS } from "../memfs.ts";
import {
  applyMutations,
  checkTime,
  FuzzFailure,
  type FuzzTarget,
  footprint,
  hex,
  type Mutation,
  mutation,
} from "../target.ts";
import { snapshot } from "../values.ts";

interface Input {
  snap: Snapshot;
  profile: Profile;
  damage: { k: "mutate"; muts: Mutation[] } | { k: "set"; at: number; v: number } | { k: "none" };
}

const PATH = "/snap/0000000000000001-0000000000000001.snap";

const target: FuzzTarget<Input> = {
  name: "snap-file",
  description: "readSnapFile: a .snap file (snappb envelope, CRC-32C, raftpb.Snapshot)",
  input: fc.record({
    snap: snapshot,
    profile: fc.constantFrom<Profile>("P37", "G36"),
    damage: fc.oneof(
      {
        weight: 6,
        arbitrary: fc.record({
          k: fc.constant("mutate" as const),
          muts: fc.array(mutation, { minLength: 1, maxLength: 5 }),
        }),
      },
      { weight: 3, arbitrary: fc.record({ k: fc.constant("set" as const), at: fc.nat(), v: fc.nat(255) }) },
      { weight: 1, arbitrary: fc.record({ k: fc.constant("none" as const) }) },
    ),
  }),
  show: (i) => `damage=${JSON.stringify(i.damage)} file=${hex(file(i))}`,
  run: (i) => {
    const orig = encodeSnapshot(i.snap, i.profile);
    const bytes = file(i);
    const fs = new MemFS();
    fs.files.set(PATH, bytes);
    const t0 = performance.now();
    let s: Snapshot;
    try {
      s = readSnapFile(PATH, fs);
    } catch (e) {
      if (!(e instanceof SnapError)) throw new FuzzFailure(`untyped error: ${(e as Error).stack}`);
      if (i.damage.k === "none" && orig.length > 0)
        throw new FuzzFailure(`an intact file failed to load: ${e.message}`);
      checkTime(t0);
      return;
    }
    checkTime(t0);
    if (footprint(s).bytes > bytes.length) throw new FuzzFailure("loaded more bytes than the file holds");
    const again = encodeSnapshot(s, i.profile);
    if (i.damage.k !== "mutate" && !isDeepStrictEqual(again, orig))
      throw new FuzzFailure(`loaded a different snapshot: ${hex(again)} instead of ${hex(orig)}`);
  },
};

function file(i: Input): Uint8Array {
  const data = encodeSnapshot(i.snap, i.profile);
  const b = encodeSnapFile(crc32cUpdate(0, data), data);
  if (i.damage.k === "mutate") return applyMutations(b, i.damage.muts);
  if (i.damage.k === "set") {
    const out = b.slice();
    const at = i.damage.at % out.length;
    out[at] = out[at] === i.damage.v ? (i.damage.v + 1) & 0xff : i.damage.v;
    return out;
  }
  return b;
}

export default target;
