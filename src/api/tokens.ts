// Operator bearer tokens: from config `api.tokens`, or, when none are configured,
// one admin token generated into dataDir/admin.token (0600) so a fresh `npm start`
// is usable and still not open. Tokens are compared by hash in constant time.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';

export type Scope = 'read' | 'admin';

export interface ApiTokens {
  /** The token's name and scope, or null when it is not one of ours. */
  check(presented: string): { name: string; scope: Scope } | null;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export const ADMIN_TOKEN_FILE = 'admin.token';

export function loadApiTokens(config: Config, log: Logger): ApiTokens {
  let entries = config.api.tokens.map((t) => ({ name: t.name, scope: t.scope as Scope, hash: digest(t.token) }));
  if (entries.length === 0) {
    const file = join(config.dataDir, ADMIN_TOKEN_FILE);
    if (!existsSync(file)) {
      writeFileSync(file, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
      log.warn({ file }, 'no api.tokens configured: generated an admin token');
    }
    entries = [{ name: 'generated-admin', scope: 'admin', hash: digest(readFileSync(file, 'utf8').trim()) }];
  }
  return {
    check(presented) {
      const h = digest(presented);
      for (const e of entries) if (timingSafeEqual(h, e.hash)) return { name: e.name, scope: e.scope };
      return null;
    },
  };
}
