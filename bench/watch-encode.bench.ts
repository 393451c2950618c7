// node --import tsx bench/watch-encode.bench.ts [--n 1000000] [--rounds 3]
//
// CPU per event-delivery WatchResponse, one PUT event with a 256-byte value,
// in the two ways a Watch stream can build it: as objects encoded whole
// (ResponseHeader, Event and KeyValue with their BigInts, then the fast
// encoder; what every watcher cost before src/v3rpc/watch_encode.ts) and
// spliced from parts shared across watchers (WatchResponseSplicer, the
// watch_id field per watcher). Process CPU (user+system, GC included) per
// response, the two alternating per round; both give the same bytes
// (test/v3rpc/watch_encode.test.ts).
import { encodeWatchResponse, type WatchResponse } from "../src/etcdpb/index.ts";
import { KeyRev, toKeyValue, type WatchEvent } from "../src/mvcc/index.ts";
import { WatchResponseSplicer, watchIdField } from "../src/v3rpc/index.ts";

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : def;
};
const N = Number(opt("n", "1000000"));
const rounds = Number(opt("rounds", "3"));

const key = new TextEncoder().encode("w0/000123");
const kr = new KeyRev("w0/000123", key, 5000, 0, 5000, 1, new Uint8Array(256).fill(0x61), 0n, false);
const cluster = 0xcdef0123456789abn;
const member = 0xfedcba9876543210n;
const term = 2n;

/** The object path: one response built and encoded per watcher. */
function whole(watchId: bigint, evs: WatchEvent[]): Uint8Array {
  const r: WatchResponse = {
    $typeName: "etcdserverpb.WatchResponse",
    header: {
      $typeName: "etcdserverpb.ResponseHeader",
      clusterId: cluster,
      memberId: member,
      revision: 5000n,
      raftTerm: term,
    },
    watchId,
    created: false,
    canceled: false,
    compactRevision: 0n,
    cancelReason: "",
    fragment: false,
    events: evs.map((e) => ({
      $typeName: "mvccpb.Event",
      type: e.type,
      kv: toKeyValue(e.kv),
      prevKv: e.prev === undefined ? undefined : toKeyValue(e.prev),
    })),
  };
  return encodeWatchResponse(r);
}

const splicer = new WatchResponseSplicer();
const idf = watchIdField(7n);
const cpuNs = (fn: () => number): number => {
  const c0 = process.cpuUsage();
  let sink = 0;
  for (let i = 0; i < N; i++) sink += fn();
  const c = process.cpuUsage(c0);
  if (sink === 0) throw new Error("nothing encoded");
  return ((c.user + c.system) * 1000) / N;
};
// Each call gets fresh WatchEvent objects, as the hub makes them per watcher.
const viaObjects = () => whole(7n, [{ type: 0, kv: kr, prev: undefined }]).length;
const viaSplice = () =>
  splicer.encode(cluster, member, term, 5000, idf, [{ type: 0, kv: kr, prev: undefined }]).length;

for (let r = 0; r < rounds; r++) {
  const [a, b] =
    r % 2 === 0
      ? [cpuNs(viaObjects), cpuNs(viaSplice)]
      : [0, 0].map((_, i) => cpuNs(i === 0 ? viaSplice : viaObjects)).reverse();
  console.log(
    `round ${r + 1}: objects + encode ${a!.toFixed(0)} ns CPU/response, spliced ${b!.toFixed(0)} ns CPU/response`,
  );
}
