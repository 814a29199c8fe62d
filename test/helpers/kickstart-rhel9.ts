// What Rocky/RHEL 9's installer (anaconda, through pykickstart) accepts in a kickstart:
// the commands and their long options, the sections and their header options. Taken from
// pykickstart 3.74's RHEL9 handler, which ksvalidator -v RHEL9 checks against (pykickstart
// is not packaged for Debian 12 nor on npm, so the tests cannot run it); regenerate with
//   from pykickstart.version import makeVersion, RHEL9
//   h = makeVersion(RHEL9)
//   for name, cls in sorted(h.commandMap.items()):  # skipping Deprecated/RemovedCommand
//       [s for a in h.commands[name]._getParser()._actions for s in a.option_strings]
// and KickstartParser(h)._sections for the sections.

/** Command → its long options (without --). Options may be abbreviated, as argparse allows. */
const OPTIONS: Record<string, string> = {
  auth: '',
  authconfig: '',
  authselect: '',
  autopart:
    'backuppassphrase cipher encrypted escrowcert fstype luks-version noboot nohome nolvm noswap passphrase pbkdf pbkdf-iterations pbkdf-memory pbkdf-time type',
  bootloader:
    'append boot-drive default disabled driveorder extlinux iscrypted leavebootorder location md5pass nombr password timeout',
  cdrom: '',
  clearpart: 'all cdl disklabel drives initlabel linux list none',
  cmdline: 'non-interactive',
  driverdisk: 'biospart source',
  eula: 'accept accepted agree agreed',
  fcoe: 'autovlan dcb nic',
  firewall: 'disable disabled enable enabled ftp http port remove-service service smtp ssh trust use-system-defaults',
  firstboot: 'disable disabled enable enabled reconfig',
  graphical: 'non-interactive',
  group: 'gid name',
  halt: 'eject kexec',
  harddrive: 'dir partition',
  hmc: '',
  ignoredisk: 'drives only-use',
  iscsi: 'iface ipaddr password port reverse-password reverse-user target user',
  iscsiname: '',
  keyboard: 'switch vckeymap xlayouts',
  lang: 'addsupport',
  liveimg: 'checksum noverifyssl proxy url',
  logging: 'host level port',
  logvol:
    'backuppassphrase cachemode cachepvs cachesize chunksize cipher encrypted escrowcert fsoptions fsprofile fstype grow hibernation label luks-version maxsize metadatasize mkfsoptions name noformat passphrase pbkdf pbkdf-iterations pbkdf-memory pbkdf-time percent poolname profile recommended resize size thin thinpool useexisting vgname',
  mediacheck: '',
  module: 'disable name stream',
  mount: 'mkfsoptions mountoptions reformat',
  network:
    'activate bindto bondopts bondslaves bootproto bridgeopts bridgeslaves device dhcpclass essid ethtool gateway hostname interfacename ip ipv4-dns-search ipv4-ignore-auto-dns ipv6 ipv6-dns-search ipv6-ignore-auto-dns ipv6gateway mtu nameserver netmask no-activate nodefroute nodns noipv4 noipv6 notksdevice onboot teamconfig teamslaves vlanid wepkey wpakey',
  nfs: 'dir opts server',
  nvdimm: 'blockdevs mode namespace sectorsize',
  ostreecontainer: 'no-signature-verification remote stateroot transport url',
  ostreesetup: 'nogpg osname ref remote url',
  part: 'asprimary backuppassphrase cipher encrypted escrowcert fsoptions fsprofile fstype grow hibernation label luks-version maxsize mkfsoptions noformat onbiosdisk ondisk ondrive onpart passphrase pbkdf pbkdf-iterations pbkdf-memory pbkdf-time recommended resize size type usepart',
  partition:
    'asprimary backuppassphrase cipher encrypted escrowcert fsoptions fsprofile fstype grow hibernation label luks-version maxsize mkfsoptions noformat onbiosdisk ondisk ondrive onpart passphrase pbkdf pbkdf-iterations pbkdf-memory pbkdf-time recommended resize size type usepart',
  poweroff: 'eject kexec',
  raid: 'backuppassphrase chunksize cipher device encrypted escrowcert fsoptions fsprofile fstype label level luks-version mkfsoptions noformat passphrase pbkdf pbkdf-iterations pbkdf-memory pbkdf-time spares useexisting',
  realm: '',
  reboot: 'eject kexec',
  repo: 'baseurl cost excludepkgs ignoregroups includepkgs install metalink mirrorlist name noverifyssl proxy sslcacert sslclientcert sslclientkey',
  reqpart: 'add-boot',
  rescue: 'nomount romount',
  rhsm: 'activation-key connect-to-insights organization proxy rhsm-baseurl server-hostname',
  rootpw: 'allow-ssh iscrypted lock plaintext',
  selinux: 'disabled enforcing permissive',
  services: 'disabled enabled',
  shutdown: 'eject kexec',
  skipx: '',
  snapshot: 'name when',
  sshkey: 'username',
  sshpw: 'iscrypted lock plaintext sshkey username',
  syspurpose: 'addon role sla usage',
  text: 'non-interactive',
  timesource: 'ntp-disable ntp-pool ntp-server nts',
  timezone: 'isUtc nontp ntpservers utc',
  updates: '',
  url: 'metalink mirrorlist noverifyssl proxy sslcacert sslclientcert sslclientkey url',
  user: 'gecos gid groups homedir iscrypted lock name password plaintext shell uid',
  vnc: 'host password port',
  volgroup: 'noformat pesize reserved-percent reserved-space useexisting',
  xconfig: 'defaultdesktop startxonboot',
  zerombr: '',
  zfcp: 'devnum fcplun wwpn',
  zipl: 'force-secure-boot no-secure-boot secure-boot',
};
export const COMMANDS: Record<string, string[]> = Object.fromEntries(
  Object.entries(OPTIONS).map(([name, options]) => [name, options ? options.split(' ') : []]),
);

/** Commands RHEL 9 still parses but warns about, and those it refuses. */
export const DEPRECATED = ['autostep', 'btrfs', 'method'];
export const REMOVED = ['device', 'deviceprobe', 'dmraid', 'install', 'multipath'];

const SCRIPT = 'erroronfail interpreter log logfile';
const PACKAGES =
  'default exclude-weakdeps excludeWeakdeps excludedocs ignoremissing inst-langs instLangs multilib nocore retries timeout';
/**
 * Section → its header options (null: the addon's own, not checked); `script`: the body
 * is a script for --interpreter (default /bin/sh, which is bash on RHEL).
 */
export const SECTIONS: Record<string, { options: string[] | null; script: boolean }> = {
  '%pre': { options: SCRIPT.split(' '), script: true },
  '%pre-install': { options: SCRIPT.split(' '), script: true },
  '%post': { options: `${SCRIPT} nochroot`.split(' '), script: true },
  '%onerror': { options: SCRIPT.split(' '), script: true },
  '%traceback': { options: SCRIPT.split(' '), script: true },
  '%packages': { options: PACKAGES.split(' '), script: false },
  '%certificate': { options: ['dir', 'filename', 'type'], script: false },
  '%addon': { options: null, script: false },
  '%anaconda': { options: null, script: false },
};
