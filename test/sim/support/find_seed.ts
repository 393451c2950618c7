// Finds seeds that fail with one of the old behaviours re-planted (to pin a
// regression test after the simulator changed):
//   node --import tsx test/sim/support/find_seed.ts <fix> [from] [count]
import { runSeed } from "../../../sim/simulator.ts";
import { revertedFixes, withReverted } from "./reverted.ts";

const [name, from = "1", count = "5000"] = process.argv.slice(2);
if (name === undefined || !revertedFixes.some((f) => f.name === name)) {
  console.error(`usage: find_seed.ts <${revertedFixes.map((f) => f.name).join("|")}> [from] [count]`);
  process.exit(2);
}
for (let seed = Number(from); seed < Number(from) + Number(count); seed++) {
  const r = withReverted(name, () => runSeed({ seed }));
  if (!r.ok && runSeed({ seed }).ok) {
    console.log(`seed ${seed}: ${r.failure!.kind}: ${r.failure!.message}`);
    process.exit(0);
  }
}
console.log("none found");
