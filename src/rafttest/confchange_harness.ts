// The handler for etcd's confchange/testdata files: a Changer over a tracker
// whose last index advances by one after every directive.

import { Changer, ConfChangeError } from "../confchange/index.ts";
import { findArg, parseBool, type TestData } from "../datadriven/index.ts";
import { ConfChangeParseError, confChangesFromString } from "../raftpb/index.ts";
import { ProgressTracker } from "../tracker/index.ts";

export class ConfChangeHarness {
  readonly tracker = new ProgressTracker(10, 0);
  lastIndex = 0;

  handle(d: TestData): string {
    try {
      return this.run(d);
    } finally {
      this.lastIndex++;
    }
  }

  private run(d: TestData): string {
    let ccs: ReturnType<typeof confChangesFromString>;
    try {
      ccs = confChangesFromString(d.input);
    } catch (err) {
      if (err instanceof ConfChangeParseError) return err.message;
      throw err;
    }
    const c = new Changer(this.tracker, this.lastIndex);
    try {
      let r: ReturnType<Changer["simple"]>;
      switch (d.cmd) {
        case "simple":
          r = c.simple(ccs);
          break;
        case "enter-joint": {
          const a = findArg(d, "autoleave");
          const autoLeave = d.cmdArgs.length > 0 && a !== undefined ? parseBool(a.vals[0] ?? "") : false;
          r = c.enterJoint(autoLeave, ccs);
          break;
        }
        case "leave-joint":
          if (ccs.length > 0) return "this command takes no input\n";
          r = c.leaveJoint();
          break;
        default:
          return "unknown command";
      }
      this.tracker.setConfig(r.config, r.progress);
    } catch (err) {
      if (err instanceof ConfChangeError) return `${err.message}\n`;
      throw err;
    }
    return `${this.tracker.config.toString()}\n${this.tracker.progress.toString()}`;
  }
}
