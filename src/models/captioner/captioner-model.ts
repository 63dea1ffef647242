/** What every captioner family's loader gives: its workers, its image settings and its tokens. */
import type { ImageProcessorSettings } from '../image/index.js';
import type { WorkerPool } from '../session/worker-pool.js';

export interface CaptionerModelBase {
  randomWeights: boolean;
  image: ImageProcessorSettings;
  itemDims: [number, number, number];
  pool: WorkerPool;
  startTokenId: number;
  eosTokenIds: number[];
  /** Every past the decoder takes → the present that feeds it. */
  pastToPresent: Record<string, string>;
  /** Positions the decoder has (a caption cannot be longer). */
  maxPositions: number;
  decode(ids: number[]): string;
}
