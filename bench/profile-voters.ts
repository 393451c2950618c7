// Profile driver (not a benchmark): RawNode3Voters for a fixed number of
// proposals; prints wall and CPU ns per proposal (and, with ALLOC=1, bytes
// allocated per proposal). node --cpu-prof --cpu-prof-dir=DIR --import tsx bench/profile-voters.ts SIZE BATCH N
import { allocatedBytes } from "./lib.ts";
import { Voters } from "./voters.ts";

const size = Number(process.argv[2] ?? 256);
const batch = Number(process.argv[3] ?? 1);
const n = Number(process.argv[4] ?? 300_000);
const v = new Voters(3, process.env.STORAGE === "compact");
const data = new Uint8Array(size).fill(0x61);
for (let i = 0; i < n / 4; i += batch) v.round(data, batch); // warm-up
const t = process.hrtime.bigint();
const c = process.cpuUsage();
for (let i = 0; i < n; i += batch) v.round(data, batch);
const cpu = process.cpuUsage(c);
v.check();
const wall = Number(process.hrtime.bigint() - t) / n;
console.log(
  `${size}/${batch}: ${wall.toFixed(0)} ns/proposal, cpu ${(((cpu.user + cpu.system) * 1000) / n).toFixed(0)} ns/proposal`,
);
if (process.env.ALLOC === "1") {
  const bytes = await allocatedBytes(() => {
    for (let i = 0; i < n; i += batch) v.round(data, batch);
  });
  console.log(`allocated ${(bytes / n).toFixed(0)} B/proposal`);
}
