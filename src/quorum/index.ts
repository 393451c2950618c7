export { JointConfig } from "./joint.ts";
export { ackScratch, MajorityConfig, majorityIndex, setString } from "./majority.ts";
export * from "./quorum.ts";
