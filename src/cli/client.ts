// The CLI's side of the API: $RACKJOIN_URL and a bearer token, errors as one line.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_TOKEN_FILE } from '../api/tokens.js';

export class ApiClientError extends Error {}

export interface ApiClient {
  baseUrl: string;
  request<T>(method: string, path: string, body?: unknown): Promise<T>;
  /** A GET whose body is not JSON (a pcap file), as bytes. */
  bytes(path: string): Promise<Buffer>;
  /** The raw response, for streams (server-sent events). */
  raw(path: string, init?: RequestInit): Promise<Response>;
}

/** $RACKJOIN_TOKEN, else the token `serve` generated in ./data when no tokens are configured. */
function findToken(env: NodeJS.ProcessEnv): string | undefined {
  if (env.RACKJOIN_TOKEN) return env.RACKJOIN_TOKEN;
  const file = env.RACKJOIN_TOKEN_FILE ?? join(env.RACKJOIN_DATA ?? './data', ADMIN_TOKEN_FILE);
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function apiClient(env: NodeJS.ProcessEnv = process.env): ApiClient {
  const baseUrl = (env.RACKJOIN_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  const token = findToken(env);
  const headers = (extra: Record<string, string> = {}): Record<string, string> => ({
    ...(token ? { authorization: `Bearer ${token}` } : {}),
    ...extra,
  });
  const raw = async (path: string, init: RequestInit = {}) => {
    try {
      return await fetch(`${baseUrl}${path}`, { ...init, headers: headers(init.headers as Record<string, string>) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new ApiClientError(
        `cannot reach rackjoin at ${baseUrl} (${cause}); is \`rackjoin serve\` running? set RACKJOIN_URL`,
      );
    }
  };
  /** The API's error as one line: its status and message. */
  const failure = (res: Response, text: string) => {
    const json = text ? (safeJson(text) as { message?: string }) : undefined;
    const msg = json?.message || text || res.statusText;
    const hint = res.status === 401 && !token ? ' (set RACKJOIN_TOKEN)' : '';
    return new ApiClientError(`${res.status} ${msg}${hint}`);
  };
  return {
    baseUrl,
    raw,
    async request<T>(method: string, path: string, body?: unknown): Promise<T> {
      const res = await raw(path, {
        method,
        ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      });
      const text = await res.text();
      if (!res.ok) throw failure(res, text);
      return (text ? safeJson(text) : undefined) as T;
    },
    async bytes(path: string): Promise<Buffer> {
      const res = await raw(path);
      if (!res.ok) throw failure(res, await res.text());
      return Buffer.from(await res.arrayBuffer());
    },
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { message: text.slice(0, 200) };
  }
}
