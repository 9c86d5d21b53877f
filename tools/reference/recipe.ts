// SPDX-License-Identifier: Apache-2.0
// A reference recipe: the machine QEMU emulates, the devices behind its SMMUv3, the DMA kept
// going through the crash and when each kernel binds which driver. Recipes are data
// (tools/reference/recipes/*.json), checked against recipe.schema.json with ajv, so a bad
// recipe is refused naming the field and the rule before anything is downloaded or booted.
import Ajv from 'ajv';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A PCIe device on QEMU's virt root bus, behind the SMMU (StreamID = devfn on bus 0). */
export interface RecipeDevice {
  /** dev_name as Linux prints it, 0000:00:<slot>.0. */
  readonly name: string;
  /** The QEMU device model. */
  readonly model: 'virtio-blk-pci' | 'e1000e';
  /** PCI slot on bus 0 (QEMU `addr=`). */
  readonly slot: number;
  /** The module /init loads to bind the device's driver (virtio-blk: the block driver; its
   *  PCI transport, virtio-pci, is built in and binds at boot). */
  readonly module: 'virtio_blk' | 'e1000e';
}

export interface Recipe {
  readonly name: string;
  readonly description: string;
  /** Debian's arm64 kernel image package (bookworm-security). */
  readonly kernelPackage: string;
  /** `firmware`: dt (QEMU hands the kernel a device tree) or acpi (UEFI, QEMU_EFI.fd, and
   *  `acpi=force`: the IORT describes the SMMU, as on an arm64 server). */
  readonly machine: { readonly memoryMiB: number; readonly crashkernelMiB: number; readonly cpu: string; readonly firmware: 'dt' | 'acpi' };
  readonly devices: readonly RecipeDevice[];
  readonly dma: {
    /** A dd read loop on the virtio disk in the primary kernel (drop_caches between passes). */
    readonly disk: boolean;
    /** TCP connects per second from the host to the guest NIC (QEMU user networking,
     *  hostfwd): each makes QEMU deliver frames the NIC writes into its receive ring, also
     *  after the primary kernel has died. 0: none. */
    readonly rxConnectsPerSecond: number;
  };
  /** `cmdline`: more kernel parameters for that kernel (the IOMMU core's: iommu.strict=0 for lazy invalidation, iommu.passthrough). */
  readonly primary: { readonly crashAfterS: number; readonly cmdline?: readonly string[] };
  readonly kdump: {
    /** Seconds the kdump kernel's /init waits before loading a module (absent: none). */
    readonly moduleDelaysS: Readonly<Record<string, number>>;
    /** Seconds the kdump kernel runs after its last module before powering off. */
    readonly runS: number;
    readonly cmdline?: readonly string[];
  };
}

const schema = JSON.parse(readFileSync(join(__dirname, 'recipe.schema.json'), 'utf8')) as object;
const validate = new Ajv({ allErrors: true, strict: true }).compile<Recipe>(schema);

/** Checks a parsed recipe; throws one error naming every field that breaks a rule. */
/**
 * The parameters a kernel of the recipe gets beyond the cycle's own: `acpi=force` on an ACPI
 * machine (Linux then takes the IORT), then the recipe's `cmdline` for that kernel.
 */
export function extraParams(r: Recipe, kernel: 'primary' | 'kdump'): string[] {
  return [...(r.machine.firmware === 'acpi' ? ['acpi=force'] : []), ...(r[kernel].cmdline ?? [])];
}

export function parseRecipe(doc: unknown, what = 'recipe'): Recipe {
  if (!validate(doc)) {
    const lines = (validate.errors ?? []).map(
      (e) =>
        `${what}${e.instancePath.replaceAll('/', '.') || ''}: ${e.message ?? 'invalid'}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`,
    );
    throw new Error(lines.join('\n'));
  }
  const r = doc;
  const slots = new Set<number>();
  for (const [i, d] of r.devices.entries()) {
    if (slots.has(d.slot)) throw new Error(`${what}.devices.${i}.slot: slot ${d.slot} is used twice`);
    slots.add(d.slot);
    const want = `0000:00:${d.slot.toString(16).padStart(2, '0')}.0`;
    if (d.name !== want) throw new Error(`${what}.devices.${i}.name: a device in slot ${d.slot} is ${want} (dev_name on QEMU virt's bus 0)`);
  }
  for (const m of Object.keys(r.kdump.moduleDelaysS)) {
    if (!r.devices.some((d) => d.module === m)) throw new Error(`${what}.kdump.moduleDelaysS.${m}: no device of the recipe is bound by module ${m}`);
  }
  return r;
}

export function loadRecipe(path: string): Recipe {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`, { cause: e });
  }
  return parseRecipe(doc, path);
}

/** StreamID of a device: QEMU's virt machine maps RID to StreamID 1:1, and the root bus is 0. */
export const streamIdOf = (d: RecipeDevice): number => d.slot << 3;
