/**
 * The `cretoai-node` command as a library: the program, the local multi-process cluster and
 * the load driver (the multi-process tests use them too).
 */
export { backupNode, localApiUrl, restoreNode, verifyNodeStore, wipeNode } from './admin.ts';
export {
  benchCommand,
  formatReports,
  type Io,
  launchLocalCluster,
  stopLocalCluster,
  upCommand,
} from './cluster-commands.ts';
export { CliError, explain } from './errors.ts';
export {
  freePorts,
  type InitializedCluster,
  type InitOptions,
  initCluster,
  writePrivateKey,
} from './init.ts';
export { type LoadOptions, type LoadProgress, type LoadReport, openEventStream, runLoad } from './load.ts';
export {
  cliEntry,
  LocalCluster,
  type LocalClusterEvents,
  type LocalClusterOptions,
  type LogLine,
} from './local-cluster.ts';
export { buildProgram, main } from './program.ts';
