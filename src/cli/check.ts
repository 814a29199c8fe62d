// `rackjoin check`: the site check serve runs before it starts (src/check/site.ts),
// printed as kea-dhcp4 -t and dnsmasq --test do, with the exit code telling the rest.
import { errorsOf, exitCodeOf, formatFinding } from '../findings.js';
import { checkSite } from '../check/site.js';
import { loadConfig } from '../config.js';
import { thisHost } from '../host.js';
import { variablesTable } from './commands.js';

export function runCheck(file: string | null, print: (s: string) => void): number {
  const { config, locate } = loadConfig(file);
  const { findings, servedInterface, variables } = checkSite(config, locate, thisHost);
  for (const f of findings) print(formatFinding(f));
  for (const v of variables) {
    print(`profile ${v.profile}: installer variables for node ${v.node}`);
    print(variablesTable(v.variables).replace(/^/gm, '  '));
  }
  const errors = errorsOf(findings).length;
  const served = servedInterface ? `; DHCP (${config.dhcp.mode}) serves ${servedInterface}` : '';
  print(
    `${file ?? '(built-in defaults)'}, inventory ${config.inventory}: ` +
      `${errors} error(s), ${findings.length - errors} warning(s)${served}`,
  );
  return exitCodeOf(findings);
}
