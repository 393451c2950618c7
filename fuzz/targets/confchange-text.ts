// The conf-change text parser ("v1 l2 r3 u4", as in etcd's test files):
// every string yields changes or a ConfChangeParseError, and what parses
// prints back to text that parses to the same changes.
import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import { ConfChangeParseError, confChangesFromString, confChangesToString } from "../../src/index.ts";
import { isUint64 } from "../../src/wire.ts";
import { checkTime, FuzzFailure, type FuzzTarget } from "../target.ts";
import { id64 } from "../values.ts";

// Node IDs over the whole unsigned 64-bit range (etcd writes them in decimal here).
const token = fc.tuple(fc.constantFrom("v", "l", "r", "u"), id64).map(([k, n]) => `${k}${n}`);
const valid = fc.array(token, { maxLength: 8 }).map((ts) => ts.join(" "));

const nasty = fc.constantFrom(
  "v",
  "v-1",
  "v+1",
  "v1.5",
  "v0x10",
  "v1e3",
  "v 1",
  "x1",
  "v9007199254740992",
  "v18446744073709551615",
  "v18446744073709551616",
  `v${"9".repeat(400)}`,
  "v١٢", // Arabic-Indic digits
  "v\u00a01",
  "\t v1 \n",
  "v1  v2",
  "v1\tv2",
  "",
  " ",
);

type Mut = [number, string];

function mutate(s: string, muts: readonly Mut[]): string {
  let out = s;
  for (const [at, piece] of muts) {
    const i = out.length === 0 ? 0 : at % (out.length + 1);
    out = at % 3 === 0 ? out.slice(0, i) + piece + out.slice(i + 1) : out.slice(0, i) + piece + out.slice(i);
  }
  return out;
}

const target: FuzzTarget<string> = {
  name: "confchange-text",
  description: "confChangesFromString: the text form of membership changes (v1 l2 r3 u4)",
  input: fc.oneof(
    { weight: 3, arbitrary: valid },
    { weight: 2, arbitrary: fc.string({ maxLength: 40, unit: "binary" }) },
    {
      weight: 4,
      arbitrary: fc
        .tuple(
          valid,
          fc.array(fc.tuple(fc.nat(), fc.oneof(fc.string({ maxLength: 3 }), nasty)), {
            minLength: 1,
            maxLength: 4,
          }),
        )
        .map(([s, m]) => mutate(s, m)),
    },
    { weight: 1, arbitrary: nasty },
  ),
  show: (s) => JSON.stringify(s),
  run: (s) => {
    const t0 = performance.now();
    let changes: ReturnType<typeof confChangesFromString>;
    try {
      changes = confChangesFromString(s);
    } catch (e) {
      if (!(e instanceof ConfChangeParseError)) {
        throw new FuzzFailure(`untyped error: ${e instanceof Error ? e.stack : String(e)}`);
      }
      checkTime(t0);
      return;
    }
    checkTime(t0);
    if (changes.length > s.length)
      throw new FuzzFailure(`${changes.length} changes from ${s.length} characters`);
    for (const c of changes) {
      if (!isUint64(c.nodeId)) throw new FuzzFailure(`node id ${c.nodeId} is not an unsigned 64-bit bigint`);
      if (c.type < 0 || c.type > 3) throw new FuzzFailure(`change type ${c.type}`);
    }
    const again = confChangesFromString(confChangesToString(changes));
    const plain = (xs: typeof changes) => xs.map((c) => [c.type, c.nodeId]);
    if (!isDeepStrictEqual(plain(again), plain(changes)))
      throw new FuzzFailure("text round trip changed the changes");
  },
};

export default target;
