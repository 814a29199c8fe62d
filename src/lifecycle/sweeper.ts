// Runs the lifecycle's timeout check on an interval, often enough that a node is
// failed within a quarter of its budget past the deadline (bounded 1-15 s).
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Lifecycle } from './lifecycle.js';

export function sweepIntervalMs(timeouts: Config['timeouts']): number {
  const shortest = Math.min(timeouts.pxe, timeouts.install, timeouts.join) * 1000;
  return Math.min(15_000, Math.max(1000, Math.floor(shortest / 4)));
}

export function startTimeoutSweeper(lifecycle: Lifecycle, timeouts: Config['timeouts'], log: Logger): () => void {
  const timer = setInterval(() => {
    try {
      lifecycle.checkTimeouts();
    } catch (err) {
      log.error({ err }, 'timeout sweep failed');
    }
  }, sweepIntervalMs(timeouts));
  timer.unref();
  return () => clearInterval(timer);
}
