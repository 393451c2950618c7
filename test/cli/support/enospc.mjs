// Preloaded into a member process (node --import) by the exit-code tests: once
// the file named by $FAULT_ENOSPC_FILE exists, every fdatasync (the thread
// pool's and the inline one the WAL uses for a lone write) fails with ENOSPC,
// as on a full disk, so that the WAL's next save fails while the
// member is running. node:fs's ESM bindings are refreshed from the patched
// module object (syncBuiltinESMExports), which the WAL reads through.
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";

const flag = process.env.FAULT_ENOSPC_FILE;
if (flag !== undefined) {
  const enospc = () =>
    Object.assign(new Error("ENOSPC: no space left on device, fdatasync"), {
      code: "ENOSPC",
      errno: -28,
      syscall: "fdatasync",
    });
  const real = fs.fdatasync;
  fs.fdatasync = (fd, cb) => {
    if (!fs.existsSync(flag)) return real(fd, cb);
    process.nextTick(cb, enospc());
  };
  const realSync = fs.fdatasyncSync;
  fs.fdatasyncSync = (fd) => {
    if (fs.existsSync(flag)) throw enospc();
    return realSync(fd);
  };
  syncBuiltinESMExports();
}
