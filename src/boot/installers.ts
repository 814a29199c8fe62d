// Which files each installer fetches from rackjoin, defined once: the installer
// route accepts these names, the renderer picks their templates, explain and
// the template context point at the main one.
import type { Profile } from '../inventory/schema.js';

export const INSTALLER_FILES = [
  'user-data',
  'meta-data',
  'network-config',
  'vendor-data',
  'kickstart',
  'preseed',
] as const;
export type InstallerFile = (typeof INSTALLER_FILES)[number];

export interface InstallerKind {
  /** The file the kernel command line points the installer at; null: no installer config. */
  main: InstallerFile | null;
  /** Every file the installer may fetch. */
  files: readonly InstallerFile[];
  /** The built-in template family when a profile names none (`<family>.<file>.hbs`). */
  family: string | null;
  /** The template-context URL (`urls.<entry>`) the kernel command line must carry to reach the config. */
  entry: 'seed' | 'kickstart' | 'preseed' | null;
}

export const INSTALLERS: Record<Profile['installer'], InstallerKind> = {
  'cloud-init': {
    main: 'user-data',
    files: ['user-data', 'meta-data', 'network-config', 'vendor-data'],
    family: 'ubuntu-autoinstall',
    entry: 'seed',
  },
  kickstart: { main: 'kickstart', files: ['kickstart'], family: 'rocky-kickstart', entry: 'kickstart' },
  preseed: { main: 'preseed', files: ['preseed'], family: 'debian-preseed', entry: 'preseed' },
  none: { main: null, files: [], family: null, entry: null },
};

export function isInstallerFile(name: string): name is InstallerFile {
  return (INSTALLER_FILES as readonly string[]).includes(name);
}

/** cloud-init's NoCloud files are YAML; kickstart and preseed are plain text. */
export function contentType(file: InstallerFile): string {
  return INSTALLERS['cloud-init'].files.includes(file) ? 'text/yaml; charset=utf-8' : 'text/plain; charset=utf-8';
}
