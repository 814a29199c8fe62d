// A Debian preseed as debconf reads it: `debconf-set-selections --checkonly` must accept
// every line without a word (it only warns, and exits 0, on an unknown type), and the
// commands debian-installer runs with `sh -c` (preseed/early_command, late_command,
// partman/early_command) must parse, as debconf stored them: a line ending in \ joined
// to the next.
import type { Debconf } from './installer-tools.js';
import { commandProblems } from './shell-check.js';

const COMMANDS = /(^|\/)(early|late)_command$/;

export function preseedProblems(debconf: Debconf, text: string, where: string): string[] {
  const { check, values } = debconf.load(text);
  const out: string[] = [];
  const said = check.stderr.trim();
  if (check.status !== 0 || said)
    out.push(`${where}: debconf-set-selections --checkonly: ${said || `exit ${check.status}`}`);
  const commands = [...values].filter(([name]) => COMMANDS.test(name));
  return [...out, ...commandProblems(commands.map(([name, command]) => ({ where: `${where} ${name}`, command })))];
}
