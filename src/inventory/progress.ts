// A node's progress columns (state, stage timestamps, netboot, token). Only the
// lifecycle (src/lifecycle) writes them; the lint config refuses this import
// anywhere else, so no other part can move a node behind the state machine.
import type { Db } from '../db.js';
import type { NodeState } from './states.js';
import { newNodeToken } from './store.js';

export class NodeProgress {
  constructor(private readonly db: Db) {}

  /** Enter `state` at `at`: the state, when it was entered, and its stage timestamp. */
  setState(nodeId: number, state: NodeState, at: number): void {
    const stages = JSON.parse(this.db.prepare('SELECT stages FROM nodes WHERE id = ?').pluck().get(nodeId) as string);
    stages[state] = at;
    this.db
      .prepare('UPDATE nodes SET state = ?, state_since = ?, stages = ?, updated_at = ? WHERE id = ?')
      .run(state, at, JSON.stringify(stages), at, nodeId);
  }

  /** Netboot off once installed (PXE then gets "boot from disk"); a reimage arms it again. */
  disarm(nodeId: number, at: number): void {
    this.db.prepare('UPDATE nodes SET netboot = 0, updated_at = ? WHERE id = ?').run(at, nodeId);
  }

  /**
   * Reimage: a fresh token (the last run's URLs and callbacks stop working), netboot
   * armed, state registered, and the stage timestamps of the last run cleared so
   * durations and timeouts describe this run only.
   */
  rearm(nodeId: number, at: number): void {
    this.db
      .prepare(
        `UPDATE nodes SET state = 'registered', state_since = ?, stages = ?, netboot = 1, token = ?, updated_at = ?
         WHERE id = ?`,
      )
      .run(at, JSON.stringify({ registered: at }), newNodeToken(), at, nodeId);
  }
}
