// `rackjoin serve`: the daemon in the foreground, stopped by SIGTERM/SIGINT, reloaded by SIGHUP.
import { configPath, loadConfig } from '../config.js';
import { createLogger } from '../log.js';
import { startDaemon } from '../serve.js';

export async function serve(configFile: string | undefined): Promise<void> {
  const file = configPath(configFile);
  const { config, locate } = loadConfig(file);
  const log = createLogger({ level: config.log.level });
  const daemon = await startDaemon(config, log, { locate });
  log.info({ config: file ?? '(built-in defaults)' }, 'config');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    // A stuck close must not keep the process (and port 67) forever.
    setTimeout(() => process.exit(1), 10_000).unref();
    daemon.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    try {
      daemon.parts.inventory.reload();
    } catch {
      /* logged by reload; the database keeps the last good inventory */
    }
  });
}
