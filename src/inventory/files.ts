// Reading inventory YAML: every problem is reported with its file and line, and a
// directory is read whole or not at all (nothing is applied from a half-good set).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { dotted, validate } from '../schema/validate.js';
import { InventoryFileSchema, type InventoryFile } from './schema.js';

export interface InventorySource {
  /** Path as shown to operators (relative to the inventory directory). */
  file: string;
  inventory: InventoryFile;
  /** Line of each profile and node entry, to point at them in later errors. */
  lines: { profiles: number[]; nodes: number[] };
}

export class InventoryFileError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | null,
    detail: string,
  ) {
    super(`${file}${line ? `:${line}` : ''}: ${detail}`);
    this.name = 'InventoryFileError';
  }
}

const YAML_FILE = /\.ya?ml$/i;

/** Parse and validate one YAML text. `label` names it in errors. */
export function parseInventory(text: string, label: string): InventorySource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = e.linePos?.[0]?.line ?? null;
    throw new InventoryFileError(label, line, `not valid YAML: ${e.message.split('\n')[0]}`);
  }
  // An empty file is what a crashed editor or a half-finished copy leaves behind:
  // reading it as "no nodes" would delete every node it used to define.
  if (doc.contents === null || text.trim() === '') {
    throw new InventoryFileError(label, null, 'file is empty; delete it to remove its nodes, or write it whole');
  }
  const raw = doc.toJS();
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InventoryFileError(label, 1, 'top level must be a mapping with `profiles:` and/or `nodes:`');
  }
  const result = validate(InventoryFileSchema, raw);
  if (!result.ok) {
    const p = result.problems[0]!;
    const more = result.problems.length > 1 ? ` (and ${result.problems.length - 1} more problems)` : '';
    throw new InventoryFileError(label, lineOf(doc, lineCounter, p.path), `${dotted(p.path)}: ${p.message}${more}`);
  }
  return {
    file: label,
    inventory: result.value,
    lines: {
      profiles: entryLines(doc, lineCounter, 'profiles'),
      nodes: entryLines(doc, lineCounter, 'nodes'),
    },
  };
}

/** Every *.yaml / *.yml directly in `dir`, sorted by name, parsed and validated. */
export function readInventoryDir(dir: string): InventorySource[] {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    names = readdirSync(dir)
      .filter((n) => YAML_FILE.test(n))
      .sort();
  } catch (err) {
    throw new InventoryFileError(dir, null, `cannot read inventory directory: ${(err as Error).message}`);
  }
  return names.map((name) => {
    const path = join(dir, name);
    const label = relative(process.cwd(), path) || name;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new InventoryFileError(label, null, `cannot read: ${(err as Error).message}`);
    }
    return parseInventory(text, label);
  });
}

function lineOf(doc: Document, counter: LineCounter, path: (string | number)[]): number | null {
  // Walk up until a node exists: a missing key is reported at its parent.
  for (let depth = path.length; depth >= 0; depth--) {
    const node = doc.getIn(path.slice(0, depth), true) as { range?: [number, number, number] } | undefined;
    if (node && typeof node === 'object' && node.range) return counter.linePos(node.range[0]).line;
  }
  return null;
}

function entryLines(doc: Document, counter: LineCounter, key: string): number[] {
  const seq = isMap(doc.contents) ? doc.contents.get(key, true) : undefined;
  if (!isSeq(seq)) return [];
  return seq.items.map((item) => {
    const range = (item as { range?: [number, number, number] }).range;
    return range ? counter.linePos(range[0]).line : 0;
  });
}
