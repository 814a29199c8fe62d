// The built CLI as an operator runs it: the command table's usage and help, --version,
// "did you mean", exit codes, and a closed pipe. No daemon: none of these reach the API.
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLI, REPO } from '../helpers/daemon.js';
import { closest, editDistance } from '../../src/suggest.js';

const execFileP = promisify(execFile);

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    // An unreachable API: a command that got past its parsing fails with 1, not 2.
    const env = { ...process.env, RACKJOIN_URL: 'http://127.0.0.1:1', RACKJOIN_TOKEN: 'x'.repeat(16) };
    const { stdout, stderr } = await execFileP(process.execPath, [CLI, ...args], { env, timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const COMMANDS = ['serve', 'check', 'nodes', 'node', 'import', 'reimage', 'watch', 'explain', 'help'];

t.test('edit distance and the closest word', async (t) => {
  t.equal(editDistance('nodse', 'nodes'), 1, 'a swap is one edit');
  t.equal(editDistance('', 'abc'), 3);
  t.equal(editDistance('kitten', 'sitting'), 3);
  t.equal(closest('nodse', COMMANDS), 'nodes');
  t.equal(closest('NODES', COMMANDS), 'nodes', 'case is ignored');
  t.equal(closest('reimag', COMMANDS), 'reimage');
  t.equal(closest('colour', ['mode', 'range', 'router']), null, 'nothing close: no guess');
  t.equal(closest('x', ['y']), null, 'a one-letter word is never "close" to another');
});

t.test('--version prints package.json version', async (t) => {
  const { version } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
  for (const flag of ['--version', '-V']) {
    const r = await cli([flag]);
    t.equal(r.code, 0, flag);
    t.equal(r.stdout, `rackjoin ${version}\n`, flag);
  }
});

t.test('usage lists every command; help and --help for every command', async (t) => {
  const top = await cli(['help']);
  t.equal(top.code, 0);
  for (const name of COMMANDS) t.match(top.stdout, new RegExp(`^  ${name}\\b`, 'm'), `usage lists ${name}`);
  t.match(top.stdout, /--version/);
  t.same((await cli(['--help'])).stdout, top.stdout, '--help is the same text');
  const bare = await cli([]);
  t.equal(bare.code, 2, 'no command: usage on stderr, exit 2');
  t.equal(bare.stderr, top.stdout);

  for (const name of COMMANDS) {
    const viaHelp = await cli(['help', name]);
    t.equal(viaHelp.code, 0, `help ${name}`);
    t.match(viaHelp.stdout, new RegExp(`^usage: rackjoin ${name}\\b`), `help ${name} starts with its synopsis`);
    t.match(viaHelp.stdout, /^ {2}-h, --help {14}this help$/m);
    for (const flag of name === 'node' ? ['--help', '-h'] : ['--help']) {
      const r = await cli([name, flag]);
      t.equal(r.code, 0, `${name} ${flag} exits 0`);
      t.equal(r.stdout, viaHelp.stdout, `${name} ${flag} is its help`);
      t.equal(r.stderr, '');
    }
  }
  const node = await cli(['help', 'node']);
  t.match(node.stdout, /^usage: rackjoin node ID \[--json\] \[--pcap FILE\]$/m);
  t.match(node.stdout, /^ {2}--json {18}the API response as JSON$/m);
  const nodes = await cli(['help', 'nodes']);
  t.match(nodes.stdout, /^usage: rackjoin nodes \[--state S\] \[--label K=V\]\.\.\. \[--json\]$/m);
  t.notMatch(node.stdout, /Unknown option/);
});

t.test('a mistyped command or option: did you mean, exit 2', async (t) => {
  const cmd = await cli(['nodse']);
  t.equal(cmd.code, 2);
  t.equal(cmd.stdout, '');
  t.match(
    cmd.stderr,
    /^rackjoin: unknown command "nodse" \(did you mean "nodes"\?\)\n`rackjoin help` lists the commands\n$/,
  );
  const far = await cli(['frobnicate']);
  t.equal(far.code, 2);
  t.match(far.stderr, /^rackjoin: unknown command "frobnicate"\n/, 'no guess when nothing is close');
  const help = await cli(['help', 'expalin']);
  t.equal(help.code, 2);
  t.match(help.stderr, /unknown command "expalin" \(did you mean "explain"\?\)/);

  const opt = await cli(['nodes', '--jsno']);
  t.equal(opt.code, 2);
  t.match(opt.stderr, /^rackjoin: nodes: unknown option --jsno \(did you mean "--json"\?\)\n/);
  t.match(opt.stderr, /^usage: rackjoin nodes \[--state S\]/m, 'the command synopsis follows');
  const power = await cli(['reimage', 'w1', '--power-cylce']);
  t.match(power.stderr, /unknown option --power-cylce \(did you mean "--power-cycle"\?\)/);
  const top = await cli(['--verison']);
  t.equal(top.code, 2);
  t.match(top.stderr, /unknown option --verison \(did you mean "--version"\?\)/);

  const missing = await cli(['node']);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /^rackjoin: node: missing ID\nusage: rackjoin node ID \[--json\] \[--pcap FILE\]\n/);
  const extra = await cli(['import', 'a', 'b']);
  t.equal(extra.code, 2);
  t.match(extra.stderr, /import: unexpected argument "b"/);
  const value = await cli(['nodes', '--state']);
  t.equal(value.code, 2);
  t.match(value.stderr, /nodes: Option '--state <value>' argument missing/);
});

t.test('expected failures get one line, no stack trace', async (t) => {
  const down = await cli(['nodes']);
  t.equal(down.code, 1, 'parsed fine, the API is down: exit 1');
  t.match(down.stderr, /^rackjoin: cannot reach rackjoin at http:\/\/127\.0\.0\.1:1 /);
  t.notMatch(down.stderr, /\n\s+at /, 'no stack trace');
  const ws = mkdtempSync(join(tmpdir(), 'rj-cli-'));
  t.teardown(() => rmSync(ws, { recursive: true, force: true }));
  const conf = await cli(['serve', '--config', join(ws, 'missing.yaml')]);
  t.equal(conf.code, 2);
  t.notMatch(conf.stderr, /\n\s+at /);
});

t.test('a closed pipe ends the CLI quietly', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rj-pipe-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const err = join(dir, 'stderr');
  const rc = join(dir, 'rc');
  // `true` has exited before node starts: the CLI's first write meets a closed pipe (EPIPE).
  // `head -c 10` reads a little and closes.
  for (const reader of ['true', 'head -c 10 >/dev/null']) {
    await execFileP('/bin/sh', [
      '-c',
      `{ "$0" "$1" help 2>"$2"; echo $? >"$3"; } | ${reader}`,
      process.execPath,
      CLI,
      err,
      rc,
    ]);
    t.equal(readFileSync(err, 'utf8'), '', `| ${reader}: nothing on stderr`);
    t.equal(readFileSync(rc, 'utf8').trim(), '0', `| ${reader}: exit 0`);
  }
});
