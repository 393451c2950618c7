// node --import tsx bench/support/cpuprofile_summary.ts PROFILE.cpuprofile [--from S] [--to S] [--top N]
//
// Where a tsraft-kv member's time went, from a V8 .cpuprofile (node
// --cpu-prof; `npm run bench:kv -- --api grpc --profile DIR` writes one per
// member). Self time is grouped by where the code lives: our sources by
// src/<folder> (frames of the compiled CLI are mapped back through its
// source map), dependencies by package, Node's internals by subsystem, and
// V8's own buckets ((garbage collector), (program), (idle)). --from/--to
// keep only samples between those seconds after the profile started (the
// measured steps rather than start-up). The sampler ticks on wall-clock
// time while the thread runs JS or a syscall, so on a CPU-starved machine a
// frame that was descheduled is charged too: read shares, not absolutes.
import { readFileSync } from "node:fs";
import { findSourceMap, SourceMap } from "node:module";
import { fileURLToPath } from "node:url";

interface Frame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface Node {
  id: number;
  callFrame: Frame;
}
interface Profile {
  nodes: Node[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

const maps = new Map<string, SourceMap | null>();
function sourceOf(url: string, line: number, col: number): string | undefined {
  if (!maps.has(url)) {
    let m: SourceMap | null = null;
    try {
      const path = fileURLToPath(url);
      m = findSourceMap(path) ?? new SourceMap(JSON.parse(readFileSync(`${path}.map`, "utf8")));
    } catch {
      m = null;
    }
    maps.set(url, m);
  }
  const m = maps.get(url);
  if (!m) return undefined;
  const e = m.findEntry(line, col) as { originalSource?: string };
  return e.originalSource;
}

/** The bucket a frame's self time goes to. */
export function category(f: Frame): string {
  const u = f.url;
  if (u === "") {
    if (f.functionName.startsWith("(")) return f.functionName;
    return `native ${f.functionName}`;
  }
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
  if (nm) return nm[1]!;
  if (u.startsWith("node:")) {
    if (u.includes("http2")) return "node:http2";
    if (/node:_http|node:http\b|internal\/http/.test(u)) return "node:http (HTTP/1.1)";
    if (u.includes("stream") || u === "node:net" || u.includes("js_stream_socket")) return "node:streams/net";
    if (u.includes("fs")) return "node:fs";
    if (u.includes("timers") || u.includes("task_queues") || u.includes("async_hooks"))
      return "node:timers/ticks";
    return "node:other";
  }
  if (u.includes("/.build/") || u.includes("/dist/")) {
    const src = sourceOf(u, f.lineNumber, f.columnNumber);
    if (src !== undefined) {
      const m = /\/(src\/[^/]+)\/([^/]+)$/.exec(src) ?? /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(src);
      if (m) return m[2] !== undefined && m[1]!.startsWith("src/") ? `${m[1]}` : m[1]!;
      return src.replace(/^.*\/work\/main\//, "");
    }
    return "tsraft (unmapped)";
  }
  const s = /\/(src\/[^/]+)\//.exec(u);
  return s ? s[1]! : u;
}

export function summarize(p: Profile, fromS = 0, toS = Number.POSITIVE_INFINITY) {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const cat = new Map<string, number>();
  const fn = new Map<string, number>();
  let t = p.startTime;
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const d = p.timeDeltas[i] ?? 0;
    t += d;
    const s = (t - p.startTime) / 1e6;
    if (s < fromS || s >= toS) continue;
    const f = byId.get(p.samples[i]!)!.callFrame;
    const c = category(f);
    cat.set(c, (cat.get(c) ?? 0) + d);
    const name = `${f.functionName || "(anonymous)"} [${c}]`;
    fn.set(name, (fn.get(name) ?? 0) + d);
    total += d;
  }
  return { total, cat, fn };
}

if (process.argv[1]?.endsWith("cpuprofile_summary.ts")) {
  const args = process.argv.slice(2);
  const arg = (n: string, d: string) => (args.includes(n) ? args[args.indexOf(n) + 1]! : d);
  const p = JSON.parse(readFileSync(args[0]!, "utf8")) as Profile;
  const { total, cat, fn } = summarize(p, Number(arg("--from", "0")), Number(arg("--to", "Infinity")));
  const top = Number(arg("--top", "25"));
  const busy = total - (cat.get("(idle)") ?? 0);
  const show = (m: Map<string, number>, k: number) =>
    [...m]
      .filter(([l]) => !l.startsWith("(idle)"))
      .sort((a, b) => b[1] - a[1])
      .slice(0, k)
      .map(
        ([l, v]) =>
          `${(v / 1000).toFixed(0).padStart(8)} ms ${((100 * v) / busy).toFixed(1).padStart(5)}% of busy  ${l}`,
      )
      .join("\n");
  console.log(`window ${(total / 1e6).toFixed(1)} s, busy (not idle) ${(busy / 1e6).toFixed(1)} s`);
  console.log(`--- self time by where the code lives\n${show(cat, 40)}`);
  console.log(`--- self time by function\n${show(fn, top)}`);
}
