// fileutil: the lowest layer under the WAL and the snapshotter. The
// file-system interface they write through (so tests can inject faults), the
// CRC-32C both formats checksum with, and the hex digits both put in file
// names. Imports no other tsraft folder.

export { crc32cRange, crc32cUpdate } from "./crc.ts";
export { type FileSystem, fsyncDir, nodeFileSystem, readWhole, writeAll } from "./fs.ts";
export { hex16 } from "./names.ts";
