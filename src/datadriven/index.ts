export * from "./datadriven.ts";
export * from "./diff.ts";
export * from "./runner.ts";
