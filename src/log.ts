import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

// Keys whose values must never reach a log line, wherever they sit in an object.
// Tokens are credentials for the API, for node-facing URLs and for kubeadm join.
export const REDACT_PATHS = [
  'token',
  '*.token',
  'joinToken',
  '*.joinToken',
  'req.headers.authorization',
  'headers.authorization',
  'password',
  '*.password',
  'caCertHashes',
];

export function createLogger(opts: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const options: LoggerOptions = {
    level: opts.level ?? process.env.RACKJOIN_LOG_LEVEL ?? 'info',
    base: { svc: 'rackjoin' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  return opts.destination ? pino(options, opts.destination as never) : pino(options);
}
