// SPDX-License-Identifier: Apache-2.0
// The converter and the recording format, on an excerpt of a real cycle's files
// (fixtures/status-quo-dma.*: QEMU 10.0.2's trace with the page-table walk and cache events
// left out, translations and later accesses thinned; the console as the host stamped it).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { convert, parseConsole, parseTrace, registerName } from './convert';
import { formatRecording } from './format';
import { recipeEnv } from './initramfs';
import { qemuArgs } from './qemu';
import { loadRecipe, parseRecipe } from './recipe';

const here = __dirname;
const recipe = loadRecipe(join(here, 'recipes', 'status-quo-dma.json'));
const fixture = (f: string) => readFileSync(join(here, 'fixtures', f), 'utf8');
const rec = convert(fixture('status-quo-dma.trace.log'), fixture('status-quo-dma.console.log'), recipe, { 'qemu-system-aarch64': '10.0.2' });

describe('reference converter', () => {
  it('names registers from the architecture tables and undoes QEMU folding page 1 onto page 0', () => {
    assert.deepEqual(registerName(0x20), { name: 'CR0', offset: 0x20 });
    assert.deepEqual(registerName(0xa8), { name: 'EVENTQ_PROD', offset: 0x100a8 });
    assert.deepEqual(registerName(0xac), { name: 'EVENTQ_CONS', offset: 0x100ac });
    assert.deepEqual(registerName(0x80), { name: 'STRTAB_BASE', offset: 0x80 });
    assert.equal(registerName(0x7f0).name, 'UNKNOWN_0x7f0');
  });

  it('parses trace lines and the guest-error lines between them', () => {
    const ev = parseTrace('7872@1796677200.880562:smmuv3_read_mmio addr: 0x0 val:0xd44101b size: 0x4(0)\ninvalid sid=16 (L1STD span=0)\n');
    assert.deepEqual(ev, [
      { t: 1796677200.880562, ev: 'smmuv3_read_mmio', args: 'addr: 0x0 val:0xd44101b size: 0x4(0)' },
      { t: 1796677200.880562, ev: 'guest_error', args: 'invalid sid=16 (L1STD span=0)' },
    ]);
    assert.deepEqual(parseConsole('1796677217.5 [    0.1] Bye!\r\n'), [{ t: 1796677217.5, line: '[    0.1] Bye!' }]);
  });

  it("reads the SMMU's ID registers as the primary kernel saw them", () => {
    assert.deepEqual(rec.idr, { IDR0: '0xd44101b', IDR1: '0x2730010', IDR3: '0x1414', IDR5: '0x74', IIDR: '0x0' });
  });

  it("splits the kernels at machine_kexec's Bye! and keeps each probe's accesses in order", () => {
    const k = rec.kernels.kdump.probe.mmio;
    assert.deepEqual(k[0], { register: 'IDR0', offset: '0x0', dir: 'read', size: 4, value: '0xd44101b', repeat: 1 });
    // 6.12's kdump kernel finds SMMUEN set: GBPA.ABORT by the update protocol, then CR0=0.
    assert.deepEqual(
      k.slice(5, 11).map((a) => `${a.register} ${a.dir} ${a.value}`),
      ['CR0 read 0xd', 'GBPA read 0x1000', 'GBPA write 0x80101000', 'GBPA read 0x101000', 'CR0 write 0x0', 'CR0ACK read 0x0'],
    );
    assert.ok(k.some((a) => a.register === 'EVENTQ_PROD' && a.offset === '0x100a8'));
    // The kdump kernel leaves the event queue off (arm_smmu_device_reset: is_kdump_kernel()).
    assert.deepEqual(k.at(-1), { register: 'CR0ACK', offset: '0x24', dir: 'read', size: 4, value: '0x9', repeat: 1 });
    assert.equal(rec.kernels.primary.probe.mmio.filter((a) => a.register === 'CR0' && a.dir === 'write').at(-1)?.value, '0xd');
  });

  it('groups commands by the CMDQ_PROD write that published them', () => {
    for (const k of ['primary', 'kdump'] as const) {
      assert.deepEqual(rec.kernels[k].probe.commandBatches, [
        [{ op: 'CFGI_STE_RANGE', range: [0, 0xffffffff] }, { op: 'CMD_SYNC' }],
        [{ op: 'TLBI_NSNH_ALL' }, { op: 'CMD_SYNC' }],
      ]);
    }
    const later = rec.kernels.kdump.after.batches;
    assert.deepEqual(later[0], { ops: 'TLBI_NH_ASID,CMD_SYNC', repeat: 1, first: [{ op: 'TLBI_NH_ASID', asid: 1 }, { op: 'CMD_SYNC' }] });
    assert.deepEqual(later[1], { ops: 'CFGI_CD,CMD_SYNC', repeat: 2, first: [{ op: 'CFGI_CD', sid: 8 }, { op: 'CMD_SYNC' }] });
    const va = later.find((b) => b.ops === 'TLBI_NH_VA,CMD_SYNC');
    assert.equal(va?.first[0]?.inval?.[0]?.pages, 1);
  });

  it("keeps each kernel's SMMU and IOMMU lines, without printk timestamps", () => {
    assert.ok(rec.kernels.primary.dmesg.includes('arm-smmu-v3 9050000.smmuv3: ias 44-bit, oas 44-bit (features 0x00088705)'));
    assert.ok(!rec.kernels.primary.dmesg.some((l) => l.includes('currently enabled')));
    assert.ok(rec.kernels.kdump.dmesg.includes('arm-smmu-v3 9050000.smmuv3: SMMU currently enabled! Resetting...'));
    assert.ok(rec.kernels.kdump.dmesg.includes('e1000e 0000:00:02.0: Adding to iommu group 1'));
    assert.deepEqual(
      rec.kernels.kdump.steps.map((s) => s.step),
      ['stage2-start', 'insmod virtio_blk', 'insmod e1000e', 'net-up eth0', 'kdump-run', 'stage2-end'],
    );
    assert.ok(rec.kernels.primary.steps.every((s) => s.at <= 0) && rec.kernels.kdump.steps.every((s) => s.at > 0));
  });

  it('follows each device across the crash: the NIC meets an invalid L1 descriptor, then an abort STE, then its kdump domain', () => {
    const nic = rec.devices.find((d) => d.name === '0000:00:02.0')!;
    assert.equal(nic.sid, 0x10);
    assert.deepEqual(
      nic.phases.crashed.map((r) => r.outcome),
      ['translated'],
    );
    assert.deepEqual(
      nic.phases.kdump.map((r) => (r.event ? `${r.outcome}(${r.event})` : r.outcome)),
      ['error(C_BAD_STREAMID)', 'abort', 'translated'],
    );
    const disk = rec.devices.find((d) => d.name === '0000:00:01.0')!;
    assert.deepEqual(disk.phases.crashed, []);
    assert.ok(rec.boundaries.kdumpFirstAccess > 0 && rec.boundaries.kdumpReset! > rec.boundaries.kdumpFirstAccess);
  });

  it('refuses a cycle whose primary kernel never reached kexec', () => {
    assert.throws(() => convert('', '1.0 [    0.1] hello\n', recipe, {}), /no "Kernel panic" line and no "Bye!" line/);
  });

  it('writes one access, command or outcome per line, and reads back the same', () => {
    const text = formatRecording(rec);
    assert.deepEqual(JSON.parse(text), rec);
    assert.match(text, /^ +\{"register":"IDR0","offset":"0x0","dir":"read","size":4,"value":"0xd44101b","repeat":1\},$/m);
  });
});

describe('reference recipes', () => {
  it('refuses a bad recipe naming the field and the rule', () => {
    const good = JSON.parse(readFileSync(join(here, 'recipes', 'late-driver.json'), 'utf8')) as Record<string, unknown>;
    assert.throws(
      () => parseRecipe({ ...good, machine: { memoryMiB: 64, crashkernelMiB: 256, cpu: 'cortex-a57' } }, 'r'),
      /r\.machine\.memoryMiB: must be >= 512/,
    );
    assert.throws(() => parseRecipe({ ...good, extra: 1 }, 'r'), /must NOT have additional properties \(extra\)/);
    assert.throws(
      () => parseRecipe({ ...good, devices: [{ name: '0000:00:03.0', model: 'e1000e', slot: 2, module: 'e1000e' }] }, 'r'),
      /r\.devices\.0\.name: a device in slot 2 is 0000:00:02\.0/,
    );
    assert.throws(
      () => parseRecipe({ ...good, kdump: { moduleDelaysS: { nvme: 2 }, runS: 1 } }, 'r'),
      /r\.kdump\.moduleDelaysS\.nvme: no device of the recipe is bound by module nvme/,
    );
    assert.throws(() => parseRecipe({ ...good, primary: { crashAfterS: 2, cmdline: ['init=/bin/sh'] } }, 'r'), /r\.primary\.cmdline\.0: must match pattern/);
  });

  it("passes a recipe's IOMMU command-line parameters to each kernel", () => {
    const lazy = loadRecipe(join(here, 'recipes', 'lazy-dma.json'));
    assert.match(recipeEnv(lazy), /^KDUMP_APPEND="iommu\.strict=0"$/m);
    assert.match(
      qemuArgs(lazy, 'Image', 'initrd', 'disk.img', { trace: 't.log', console: 'c.log' }, 4321).join(' '),
      /-append console=ttyAMA0 crashkernel=256M rdinit=\/init iommu\.strict=0 /,
    );
  });

  it("tells /init the recipe's modules, delays and timing", () => {
    const late = loadRecipe(join(here, 'recipes', 'late-driver.json'));
    assert.equal(
      recipeEnv(late),
      'PRIMARY_MODULES="virtio_blk e1000e"\nKDUMP_MODULES="virtio_blk e1000e"\nDISK_DMA=1\nCRASH_AFTER=2\nKDUMP_RUN=2\nKDUMP_APPEND=""\nDELAY_e1000e=4\n',
    );
    assert.match(recipeEnv(loadRecipe(join(here, 'recipes', 'status-quo-acpi.json'))), /^KDUMP_APPEND="acpi=force"$/m);
  });

  it("puts every device behind QEMU's SMMUv3 in its slot, and traces the SMMU", () => {
    const a = qemuArgs(recipe, 'Image', 'initrd', 'disk.img', { trace: 't.log', console: 'c.log' }, 4321).join(' ');
    assert.match(a, /-M virt,iommu=smmuv3 /);
    assert.match(a, /virtio-blk-pci,drive=d1,iommu_platform=on,disable-legacy=on,addr=0x1/);
    assert.match(a, /hostfwd=tcp:127\.0\.0\.1:4321-10\.0\.2\.15:22 -device e1000e,netdev=n2,addr=0x2/);
    assert.match(a, /crashkernel=256M/);
    assert.match(a, /-trace smmuv3_\* -trace smmu_\* -d guest_errors/);
    assert.doesNotMatch(a, /-bios|acpi=force/);
    const acpi = qemuArgs(
      loadRecipe(join(here, 'recipes', 'status-quo-acpi.json')),
      'Image',
      'initrd',
      'disk.img',
      { trace: 't.log', console: 'c.log' },
      4321,
    ).join(' ');
    assert.match(acpi, /-bios \S+QEMU_EFI\.fd -kernel Image .*rdinit=\/init acpi=force/);
  });
});
