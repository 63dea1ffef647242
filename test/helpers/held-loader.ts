/**
 * A model loader that loads the real model but holds its session runs until the test releases
 * them: deterministic queueing on the real server, with no timing assumptions.
 */
import { loadModel, type LoadDeps, type ModelSpec } from '../../src/pipelines/registry.js';
import type { NamedTensors } from '../../src/models/session/tensor.js';

function openableGate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, resolve: open };
}

export function heldLoader() {
  let gate = openableGate();
  let held = 0;
  return {
    /** Runs started and waiting at the gate. */
    get held() {
      return held;
    },
    /** Lets every held run (and all later ones) through. */
    release() {
      gate.resolve();
    },
    /** Holds runs again from now on. */
    hold() {
      gate = openableGate();
    },
    loader: async (spec: ModelSpec, deps: LoadDeps) => {
      const loaded = await loadModel(spec, deps);
      const run = loaded.pool.run.bind(loaded.pool);
      loaded.pool.run = async (session: string, feeds: NamedTensors, outputs: string[]) => {
        held++;
        await gate.promise;
        held--;
        return run(session, feeds, outputs);
      };
      return loaded;
    },
  };
}
