// What `rackjoin check`, `serve` and every inventory reload find wrong with a site,
// in one shape: errors refuse the start or the reload before anything is written;
// warnings are logged and shown where they matter (explain, GET /api/v1/nodes/:id).

export type Severity = 'error' | 'warning';

export interface Finding {
  severity: Severity;
  /** `file:line`, or the file alone; null when it concerns the host, not a file. */
  where: string | null;
  message: string;
  /** The profile or node it concerns, so a node's view can show it. */
  profile?: string;
  node?: string;
}

/** A profile or node with the `file:line` its findings name. */
export interface Located<T> {
  value: T;
  where: string;
}

export const error = (where: string | null, message: string, about: Pick<Finding, 'profile' | 'node'> = {}) =>
  ({ severity: 'error', where, message, ...about }) satisfies Finding;
export const warning = (where: string | null, message: string, about: Pick<Finding, 'profile' | 'node'> = {}) =>
  ({ severity: 'warning', where, message, ...about }) satisfies Finding;

export const errorsOf = (findings: Finding[]) => findings.filter((f) => f.severity === 'error');
export const warningsOf = (findings: Finding[]) => findings.filter((f) => f.severity === 'warning');

/** `check`'s exit code, as kea-dhcp4 -t and nginx -t have it: 0 clean, 1 warnings only, 2 errors. */
export function exitCodeOf(findings: Finding[]): 0 | 1 | 2 {
  if (errorsOf(findings).length > 0) return 2;
  return findings.length > 0 ? 1 : 0;
}

/** One line per finding: `error: inventory/site.yaml:12: node worker-01: ...`. */
export function formatFinding(f: Finding): string {
  return `${f.severity}: ${f.where ? `${f.where}: ` : ''}${f.message}`;
}

/** A start or reload refused: every error found, not only the first. */
export class SiteCheckError extends Error {
  constructor(
    readonly findings: Finding[],
    what: string,
  ) {
    const errors = errorsOf(findings);
    super(`${what} refused (${errors.length} error${errors.length === 1 ? '' : 's'}):\n${lines(errors)}`);
    this.name = 'SiteCheckError';
  }
}

const lines = (fs: Finding[]) => fs.map((f) => `  ${formatFinding(f)}`).join('\n');
