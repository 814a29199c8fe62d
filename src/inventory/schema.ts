// Inventory documents (docs/configuration.md): profiles say how to install, nodes say which
// machines exist. The same schemas validate YAML files and API bodies.
import { Type, type Static } from '@sinclair/typebox';
import { Ipv4, Labels, Strict, StringEnum, TemplateVarName, TemplateVars } from '../schema/common.js';

export const LOADERS = ['ipxe', 'pxelinux', 'grub'] as const;
export const INSTALLERS = ['cloud-init', 'kickstart', 'preseed', 'none'] as const;
/** How an installed node is told to boot from its disk (docs/firmware.md: firmware differ). */
export const LOCAL_BOOT = ['exit', 'sanboot', 'http-404'] as const;

export const ProfileName = Type.String({
  pattern: '^[a-z0-9][a-z0-9._-]{0,62}$',
  description: 'lower-case letters, digits, . _ -',
});
// Names double as hostnames; a name that parses as a MAC would make "ID is a name or a MAC" ambiguous.
export const NodeName = Type.String({
  pattern: '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$',
  description: 'a DNS label: lower-case letters, digits and -',
});
/** Any spelling normalizeMac accepts; normalised after validation. */
export const MacString = Type.String({
  pattern: '^[0-9A-Fa-f]{2}([:-]?[0-9A-Fa-f]{2}){5}$',
  description: 'a MAC address',
});
/** Relative to assets/ or an absolute http(s) URL. */
const AssetRef = Type.String({ minLength: 1 });

export const ProfileSchema = Strict({
  name: ProfileName,
  loader: StringEnum(LOADERS, { default: 'ipxe' }),
  kernel: AssetRef,
  initrd: Type.Array(AssetRef, { default: [] }),
  cmdline: Type.String({ default: '' }),
  installer: StringEnum(INSTALLERS, { default: 'none' }),
  template: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' })),
  localBoot: StringEnum(LOCAL_BOOT, { default: 'exit' }),
  /** Installer template variables (mirror, proxy, Kubernetes version, ...); defaults in src/boot/installerVars.ts. */
  vars: Type.Record(TemplateVarName, Type.String(), { default: {}, additionalProperties: false }),
  kubernetes: Type.Optional(
    Strict({
      role: StringEnum(['worker', 'control-plane'] as const, { default: 'worker' }),
      labels: Type.Optional(Labels),
      taints: Type.Optional(Type.Array(Type.String())),
    }),
  ),
});
export type Profile = Static<typeof ProfileSchema>;

export const BmcSchema = Strict({
  type: StringEnum(['ipmi', 'redfish'] as const),
  address: Type.String({ minLength: 1 }),
  username: Type.Optional(Type.String()),
  // The password itself never enters the inventory or the database: only the variable that holds it.
  passwordEnv: Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' })),
});
export type Bmc = Static<typeof BmcSchema>;

const nodeFields = {
  name: NodeName,
  macs: Type.Array(MacString, { minItems: 1, maxItems: 16 }),
  ip: Type.Optional(Ipv4),
  profile: Type.Optional(ProfileName),
  labels: Type.Optional(Labels),
  /** Installer template variables for this node only; they override the profile's. */
  vars: Type.Optional(TemplateVars),
  bmc: Type.Optional(BmcSchema),
  /** Escape hatch for firmware quirks: the file the first PXE stage gets (snponly.efi, ...). */
  loaderFile: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._/-]*$' })),
  localBoot: Type.Optional(StringEnum(LOCAL_BOOT)),
};

export const NodeSpecSchema = Strict(nodeFields);
export type NodeSpec = Static<typeof NodeSpecSchema>;

/** PATCH body: every field optional; null clears an optional field. */
export const NodePatchSchema = Strict({
  macs: Type.Optional(nodeFields.macs),
  ip: Type.Optional(Type.Union([Ipv4, Type.Null()])),
  profile: Type.Optional(Type.Union([ProfileName, Type.Null()])),
  labels: Type.Optional(Labels),
  vars: Type.Optional(TemplateVars),
  bmc: Type.Optional(Type.Union([BmcSchema, Type.Null()])),
  loaderFile: Type.Optional(Type.Union([nodeFields.loaderFile, Type.Null()])),
  localBoot: Type.Optional(Type.Union([StringEnum(LOCAL_BOOT), Type.Null()])),
});
export type NodePatch = Static<typeof NodePatchSchema>;

export const InventoryFileSchema = Strict({
  profiles: Type.Array(ProfileSchema, { default: [] }),
  nodes: Type.Array(NodeSpecSchema, { default: [] }),
});
export type InventoryFile = Static<typeof InventoryFileSchema>;
