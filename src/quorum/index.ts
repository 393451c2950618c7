export { JointConfig } from "./joint.ts";
export { MajorityConfig, setString } from "./majority.ts";
export * from "./quorum.ts";
