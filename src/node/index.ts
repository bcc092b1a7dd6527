/**
 * One node process: its configuration file, the wiring of store, transport, engine and HTTP API,
 * structured logs, and running it under signals.
 */
export {
  type HttpSettings,
  type ListenAddress,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type LogLevel,
  loadNodeSettings,
  NodeConfigError,
  type NodeSettings,
  nodeConfigJsonSchema,
  nodeConfigSchema,
  type TransportSettings,
} from './config.ts';
export { DataDirInUseError, dataDirHolder, LOCK_FILE, lockDataDir } from './data-lock.ts';
export { describeError, Logger, type LoggerOptions, type LogSink } from './log.ts';
export { CretoaiNode, type NodeEvents } from './node.ts';
export { runNode } from './run.ts';
export { type LoggedVote, VoteLoggingTransport } from './vote-log.ts';
