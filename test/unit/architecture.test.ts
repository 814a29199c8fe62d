// The layout's rules, checked on the source itself: no import cycle between files
// or between the parts (folders) of src/, and SQL on a table only in the part that
// owns it. docs/architecture.md draws the same picture.
import t from 'tap';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { REPO } from '../helpers/daemon.js';

const SRC = join(REPO, 'src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

const FILES = sources(SRC).map((f) => relative(REPO, f));

/** Every relative import of `file` (type-only ones too), as repo-relative .ts paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(REPO, file), 'utf8');
  return ts
    .preProcessFile(text, true, true)
    .importedFiles.map((i) => i.fileName)
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => relative(REPO, resolve(dirname(join(REPO, file)), spec)).replace(/\.js$/, '.ts'));
}

/** A part: the folder under src/ a file is in, or the file itself at the top. */
const partOf = (file: string) => file.split('/').slice(0, 2).join('/').replace(/\.ts$/, '');

/** Strongly connected components with more than one member (or a self-loop): the cycles. */
function cycles(graph: Map<string, Set<string>>): string[][] {
  let index = 0;
  const stack: string[] = [];
  const on = new Set<string>();
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) !== idx.get(v)) return;
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      on.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1 || graph.get(v)?.has(v)) out.push(scc.sort());
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

t.test('no import cycle between files, nor between the parts of src/', async (t) => {
  const files = new Map(FILES.map((f) => [f, new Set(importsOf(f))]));
  for (const [f, deps] of files) for (const d of deps) t.ok(files.has(d), `${f} imports ${d}, which exists`);
  t.same(cycles(files), [], 'file-level cycles');
  const parts = new Map<string, Set<string>>();
  for (const [f, deps] of files) {
    const from = partOf(f);
    if (!parts.has(from)) parts.set(from, new Set());
    for (const d of deps) if (partOf(d) !== from) parts.get(from)!.add(partOf(d));
  }
  t.same(cycles(parts), [], 'part-level cycles');
});

/** Each table and the part of src/ that alone may name it in SQL. */
const OWNERS: Record<string, string> = {
  nodes: 'src/inventory',
  node_macs: 'src/inventory',
  profiles: 'src/inventory',
  inventory_generation: 'src/inventory',
  events: 'src/events',
  dhcp_leases: 'src/dhcp',
  dhcp_inventory_generation: 'src/dhcp',
  dhcp_leases_by_address: 'src/dhcp', // dhcp-004's new table, renamed dhcp_leases
  schema_migrations: 'src/db',
};

// A table named after a statement keyword: queries, writes, DDL and triggers alike.
const SQL = /\b(?:FROM|JOIN|INTO|UPDATE|TABLE|EXISTS|ON)\s+([a-z_]+)\b/g;

t.test('SQL on a table only in the part that owns it', async (t) => {
  const created = new Set<string>();
  for (const file of FILES) {
    const text = readFileSync(join(REPO, file), 'utf8');
    for (const m of text.matchAll(/CREATE TABLE (?:IF NOT EXISTS )?([a-z_]+)/g)) created.add(m[1]!);
    for (const m of text.matchAll(SQL)) {
      const table = m[1]!;
      const owner = OWNERS[table];
      if (owner) t.equal(partOf(file), owner, `${file} names table ${table}`);
    }
  }
  t.same(
    [...created].filter((tbl) => !OWNERS[tbl]),
    [],
    'every table has an owner',
  );
  t.ok(created.size >= 6, 'the tables were found');
});

/** The repository's own text files (not what npm, the build or git put there). */
function repoFiles(dir = REPO): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (['node_modules', 'dist', 'build', '.git', 'data', 'assets', '.tap'].includes(name)) return [];
    const path = join(dir, name);
    return statSync(path).isDirectory() ? repoFiles(path) : [path];
  });
}

t.test('the repo explains itself: docs/ exists, links resolve inside it, nothing points outside', async (t) => {
  const files = repoFiles();
  t.ok(
    files.some((f) => relative(REPO, f) === 'docs/architecture.md'),
    'docs/architecture.md',
  );
  for (const file of files.filter((f) => /\.(md|ts|js|json|yaml|sh|c|hbs)$|\/scripts\/|\/bench\//.test(f))) {
    const text = readFileSync(file, 'utf8');
    const name = relative(REPO, file);
    t.notMatch(
      text,
      /\.\.\/shared|shared\/(SPEC|notes|lab-recipe)|pitfalls \u00a7|SPEC \u00a7/,
      `${name} refers to nothing outside the repo`,
    );
    if (!name.endsWith('.md')) continue;
    for (const m of text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/.test(target)) continue; // a URL
      const abs = resolve(dirname(file), target);
      t.ok(
        abs.startsWith(REPO) && statSync(abs, { throwIfNoEntry: false }),
        `${name} links to ${target}, which exists`,
      );
    }
  }
});
