// Static boot assets (loaders, kernels, initrds) under one root directory, shared by
// the TFTP server and the HTTP boot plane. Requests name files the way firmware
// does: with backslashes (Windows-built loaders), with a leading '/', or with '..'
// from a hostile client. Every name is normalised first, then the file's realpath
// must stay under the root's realpath, so a symlink cannot lead outside it.
import { realpathSync, statSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';

export type PathRefusal = 'empty' | 'nul' | 'dot-dot';
export type AssetRefusal = PathRefusal | 'not-found' | 'outside-root' | 'not-a-file';

export type NormalizedPath = { ok: true; path: string } | { ok: false; reason: PathRefusal };
export type ResolvedAsset = { ok: true; path: string; size: number } | { ok: false; reason: AssetRefusal };

/**
 * `\` becomes `/`, a leading `/` is dropped (the name is re-rooted, as tftpd-hpa
 * and dnsmasq do), empty and `.` segments disappear. A `..` segment is refused
 * outright rather than resolved: no boot loader needs one, and refusing keeps the
 * rule easy to audit.
 */
export function normalizeRequestPath(raw: string): NormalizedPath {
  if (raw.includes('\0')) return { ok: false, reason: 'nul' };
  const segments = raw
    .replace(/\\/g, '/')
    .split('/')
    .filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) return { ok: false, reason: 'dot-dot' };
  if (segments.length === 0) return { ok: false, reason: 'empty' };
  return { ok: true, path: segments.join('/') };
}

/** The real path and size of `raw` under `root`, or why it is not served. */
export async function resolveAsset(root: string, raw: string): Promise<ResolvedAsset> {
  const name = normalizeRequestPath(raw);
  if (!name.ok) return name;
  let rootReal: string;
  let real: string;
  try {
    rootReal = await realpath(root);
    real = await realpath(join(rootReal, name.path));
  } catch {
    return { ok: false, reason: 'not-found' };
  }
  if (!contained(rootReal, real)) return { ok: false, reason: 'outside-root' };
  try {
    const st = await stat(real);
    if (!st.isFile()) return { ok: false, reason: 'not-a-file' };
    return { ok: true, path: real, size: st.size };
  } catch {
    return { ok: false, reason: 'not-found' };
  }
}

/** The same answer as resolveAsset, synchronously: for `rackjoin check` and reloads, not for serving. */
export function resolveAssetSync(root: string, raw: string): ResolvedAsset {
  const name = normalizeRequestPath(raw);
  if (!name.ok) return name;
  try {
    const rootReal = realpathSync(root);
    const real = realpathSync(join(rootReal, name.path));
    if (!contained(rootReal, real)) return { ok: false, reason: 'outside-root' };
    const st = statSync(real);
    return st.isFile() ? { ok: true, path: real, size: st.size } : { ok: false, reason: 'not-a-file' };
  } catch {
    return { ok: false, reason: 'not-found' };
  }
}

function contained(rootReal: string, real: string): boolean {
  return real.startsWith(rootReal.endsWith(sep) ? rootReal : rootReal + sep);
}
