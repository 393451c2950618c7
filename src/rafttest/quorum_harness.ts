// The handler for etcd's quorum/testdata files ("committed" and "vote").

import { parseUint, type TestData } from "../datadriven/index.ts";
import {
  INFINITE_INDEX,
  JointConfig,
  MajorityConfig,
  MapAckIndexer,
  voteResultNames,
} from "../quorum/index.ts";

/** Runs one directive of a quorum test file and returns its output. */
export function quorumHandler(d: TestData): string {
  const c = new MajorityConfig();
  const cj = new MajorityConfig();
  let joint = false;
  const idxs: Array<number | undefined> = [];
  const votes: Array<boolean | undefined> = [];
  const order: bigint[] = [];
  for (const arg of d.cmdArgs) {
    for (const v of arg.vals) {
      switch (arg.key) {
        case "cfg": {
          const id = BigInt(parseUint(v));
          c.ids.add(id);
          order.push(id);
          break;
        }
        case "cfgj":
          joint = true;
          if (v === "zero") {
            if (arg.vals.length !== 1) throw new Error("cannot mix 'zero' into configuration");
          } else {
            const id = BigInt(parseUint(v));
            cj.ids.add(id);
            order.push(id);
          }
          break;
        case "idx":
          if (v === "_") idxs.push(undefined);
          else {
            const n = parseUint(v);
            if (n === 0) throw new Error("use '_' as 0 to check assumptions");
            idxs.push(n);
          }
          break;
        case "votes":
          if (v === "y") votes.push(true);
          else if (v === "n") votes.push(false);
          else if (v === "_") votes.push(undefined);
          else throw new Error(`unknown vote: ${v}`);
          break;
        default:
          throw new Error(`unknown arg ${arg.key}`);
      }
    }
  }
  // Assign inputs to voters in the order they were first named.
  const voters: bigint[] = [];
  for (const id of order) if (!voters.includes(id)) voters.push(id);
  const input = d.cmd === "vote" ? votes : idxs;
  if (voters.length !== input.length) {
    return `error: mismatched input (explicit or _) for voters [${voters.join(",")}]: ${JSON.stringify(input)}`;
  }
  switch (d.cmd) {
    case "committed": {
      const l = new MapAckIndexer();
      voters.forEach((id, i) => {
        const v = idxs[i];
        if (v !== undefined) l.m.set(id, v);
      });
      const jc = new JointConfig(c, cj);
      const idx = joint ? jc.committedIndex(l) : c.committedIndex(l);
      const desc = joint ? jc.describe(l) : c.describe(l);
      return `${desc}${idx === INFINITE_INDEX ? "∞" : String(idx)}\n`;
    }
    case "vote": {
      const m = new Map<bigint, boolean>();
      voters.forEach((id, i) => {
        const v = votes[i];
        if (v !== undefined) m.set(id, v);
      });
      const r = joint ? new JointConfig(c, cj).voteResult(m) : c.voteResult(m);
      return `${voteResultNames[r]}\n`;
    }
    default:
      throw new Error(`unknown command: ${d.cmd}`);
  }
}
