// The real tools that judge installer configs: Debian's cloud-init (unpacked by
// scripts/unpack-cloud-init, never installed) on Debian's own python3, that python's
// YAML loader and shlex, debconf-set-selections on a private database, sh -n and bash -n.
// Each returns what the tool said; the format checks (cloud-init-check.ts, preseed-check.ts,
// kickstart-check.ts, shell-check.ts) decide.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { E2E_WORK } from '../e2e/env.js';
import { REPO } from './daemon.js';

export interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

// Debian's interpreter, where python3-yaml and the rest live: PATH may lead to another one.
const PYTHON = '/usr/bin/python3';

function run(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Ran {
  const r = spawnSync(cmd, args, {
    input: opts.input ?? '',
    env: opts.env ?? process.env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `code` on Debian's python3 with `input` as JSON on stdin; it prints one JSON value. */
function pythonJson<T>(code: string, input: unknown, pythonPath?: string): T {
  const env = pythonPath ? { ...process.env, PYTHONPATH: pythonPath } : process.env;
  const r = run(PYTHON, ['-c', code], { input: JSON.stringify(input), env });
  if (r.status !== 0) throw new Error(`python3: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as T;
}

export type Parsed = { ok: true; value: unknown } | { ok: false; error: string };

// cloud-init reads NoCloud files with its safeyaml loader (PyYAML underneath): YAML 1.1,
// so 0755 is a number and `on` is true, as the machine will see it.
const LOAD_YAML = `
import json, sys
from cloudinit import safeyaml
try:
    print(json.dumps({"ok": True, "value": safeyaml.load(json.load(sys.stdin))}, default=str))
except Exception as e:
    print(json.dumps({"ok": False, "error": str(e)}))
`;

export class CloudInit {
  private keys: Set<string> | null = null;

  private constructor(
    /** The unpacked package: usr/bin/cloud-init, usr/lib/python3/dist-packages/cloudinit. */
    readonly root: string,
    readonly version: string,
  ) {}

  /** Unpacks Debian's cloud-init (once per version, cached beside the e2e kernel). */
  static unpack(): CloudInit {
    const r = run(join(REPO, 'scripts/unpack-cloud-init'), [], {
      env: { ...process.env, RACKJOIN_E2E_WORK: E2E_WORK },
    });
    if (r.status !== 0) throw new Error(`scripts/unpack-cloud-init failed: ${r.stderr.trim()}`);
    const root = r.stdout.trim().split('\n').pop()!;
    const probe = new CloudInit(root, '');
    const version = probe.run(['--version']);
    if (version.status !== 0) throw new Error(`cloud-init --version: ${version.stderr.trim()}`);
    // "/path/to/cloud-init 22.4.2"
    return new CloudInit(root, (version.stdout + version.stderr).trim().split(/\s+/).pop()!);
  }

  private get pythonPath(): string {
    return join(this.root, 'usr/lib/python3/dist-packages');
  }

  /** `cloud-init ARGS` as the package's entry point runs it. */
  run(args: string[]): Ran {
    return run(PYTHON, [join(this.root, 'usr/bin/cloud-init'), ...args], {
      env: { ...process.env, PYTHONPATH: this.pythonPath },
    });
  }

  /**
   * `cloud-init ARGS` on `text` written to a temporary file named `name`: {file} in ARGS
   * is that file, {out} a directory for output, whose files come back joined in `out`.
   */
  onFile(name: string, text: string, args: string[]): Ran & { out: string } {
    const dir = mkdtempSync(join(tmpdir(), 'rj-cloud-init-'));
    try {
      const file = join(dir, name);
      const outDir = join(dir, 'out');
      writeFileSync(file, text);
      const ran = this.run(args.map((a) => a.replaceAll('{file}', file).replaceAll('{out}', outDir)));
      const written = existsSync(outDir) ? readdirSync(outDir, { recursive: true, withFileTypes: true }) : [];
      const out = written
        .filter((f) => f.isFile())
        .map((f) => readFileSync(join(f.parentPath, f.name), 'utf8'))
        .join('\n');
      return { ...ran, out };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** `text` as cloud-init's YAML loader reads it. */
  loadYaml(text: string): Parsed {
    return pythonJson<Parsed>(LOAD_YAML, text, this.pythonPath);
  }

  /**
   * Every top-level key cloud-init's own schema describes. 22.4's schema allows unknown
   * keys (a misspelt `runcmds:` is "valid" and silently does nothing), so the checks ask it here.
   */
  knownKeys(): Set<string> {
    if (this.keys) return this.keys;
    const file = join(this.pythonPath, 'cloudinit/config/schemas/schema-cloud-config-v1.json');
    const schema = JSON.parse(readFileSync(file, 'utf8')) as {
      $defs: Record<string, { properties?: Record<string, unknown> }>;
      allOf: { $ref: string }[];
    };
    const keys = new Set<string>();
    for (const { $ref } of schema.allOf) {
      const def = schema.$defs[$ref.replace('#/$defs/', '')];
      for (const key of Object.keys(def?.properties ?? {})) keys.add(key);
    }
    this.keys = keys;
    return keys;
  }
}

export type Words = { words: string[] } | { error: string };

// Python's shlex in POSIX mode: the quoting rules of sh, and the very splitter pykickstart
// reads kickstart command lines with. punctuation: ; & | ( ) < > become tokens of their own.
const SHLEX = `
import json, shlex, sys
out = []
for item in json.load(sys.stdin):
    try:
        if item["punctuation"]:
            lex = shlex.shlex(item["line"], posix=True, punctuation_chars=True)
            lex.whitespace_split = True
            out.append({"words": list(lex)})
        else:
            out.append({"words": shlex.split(item["line"], comments=True)})
    except ValueError as e:
        out.append({"error": str(e)})
print(json.dumps(out))
`;

/** Split each line into words as a POSIX shell quotes them (punctuation: operators apart; else # comments dropped). */
export function shellWords(lines: string[], punctuation: boolean): Words[] {
  return pythonJson<Words[]>(
    SHLEX,
    lines.map((line) => ({ line, punctuation })),
  );
}

/** null when `shell -n` parses `script`, else what it said. sh is dash, as in Debian and Ubuntu. */
export function shellSyntaxError(shell: 'sh' | 'bash', script: string): string | null {
  const r = run(shell, ['-n'], { input: script });
  return r.status === 0 ? null : r.stderr.trim() || `${shell} -n exited ${r.status}`;
}

/** debconf-set-selections against a database of its own, so the host's debconf is neither read nor locked. */
export class Debconf {
  readonly version: string;

  constructor() {
    const r = run('dpkg-query', ['-W', '-f=${Version}', 'debconf']);
    this.version = r.stdout.trim();
  }

  /** `debconf-set-selections --checkonly`, and the answers debconf stores when it loads the file for real. */
  load(preseed: string): { check: Ran; values: Map<string, string> } {
    const dir = mkdtempSync(join(tmpdir(), 'rj-debconf-'));
    try {
      const rc = join(dir, 'debconf.conf');
      writeFileSync(
        rc,
        [
          'Config: config',
          'Templates: templates',
          '',
          'Name: config',
          'Driver: File',
          `Filename: ${join(dir, 'config.dat')}`,
          '',
          'Name: templates',
          'Driver: File',
          `Filename: ${join(dir, 'templates.dat')}`,
          '',
        ].join('\n'),
      );
      const file = join(dir, 'preseed.cfg');
      writeFileSync(file, preseed);
      const env = { ...process.env, DEBCONF_SYSTEMRC: rc };
      const check = run('debconf-set-selections', ['--checkonly', file], { env });
      const loaded = run('debconf-set-selections', [file], { env });
      if (loaded.status !== 0) return { check, values: new Map() };
      return { check, values: readDebconfDb(readFileSync(join(dir, 'config.dat'), 'utf8')) };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** debconf's File driver: RFC 822 stanzas; `Name:` the question, `Value:` its answer. */
function readDebconfDb(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const stanza of text.split(/\n\n+/)) {
    const name = /^Name: (.*)$/m.exec(stanza)?.[1];
    const value = /^Value: (.*)$/m.exec(stanza)?.[1];
    if (name !== undefined && value !== undefined) values.set(name, value);
  }
  return values;
}
