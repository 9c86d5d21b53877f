#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// `npm run demo`: twinctl transcripts of what the architecture library knows (the registers a
// kdump kernel reads first, what arm_smmu_device_reset writes, the crashed kernel's STEs, the
// commands and events on the queues), the SMMU and driver models in one process, and then the
// main job: the policy comparison matrix on the headline scenarios through the four services
// over NATS (tools/demo/matrix-demo.ts), with the reports under out/reports/.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'node_modules', '.bin', 'twinctl');

const steps = [
  ['An MMU-600-like SMMU as QEMU resets it: IDR0, then the SIDSIZE/queue sizes of IDR1', ['decode', 'IDR0', '0x0D44101A'], ['decode', 'IDR1', '0x02730010']],
  ['What the kdump kernel finds in CR0: SMMUEN|EVENTQEN|CMDQEN still set by the crashed kernel', ['decode', 'CR0', '0xD']],
  [
    'Linux arm_smmu_device_reset: CR1 (tables and queues ISH, WB/WB) and a 2-level STRTAB_BASE_CFG for 16 SID bits',
    ['encode', 'CR1', 'QUEUE_IC=WB', 'QUEUE_OC=WB', 'QUEUE_SH=ISH', 'TABLE_IC=WB', 'TABLE_OC=WB', 'TABLE_SH=ISH'],
    ['encode', 'STRTAB_BASE_CFG', 'FMT=TWO_LEVEL', 'SPLIT=8', 'LOG2SIZE=16'],
  ],
  ['An L1 stream table descriptor for one PCI bus (Span = SPLIT+1 = 9, 16 KiB L2 table)', ['encode', 'l1std', 'Span=9', 'L2Ptr=0x8a0004000']],
  [
    "The crashed kernel's DMA-domain STE: S1 translate through a 64K-leaf CD table, ATS on (Linux KUnit vector)",
    ['decode', 'ste', '0xF800F0F0F0F0F0EB', '0x00000000180000D6'],
  ],
  [
    'A CD for ASID 1997 with a 4K-granule stage-1 table (Linux KUnit vector)',
    ['decode', 'cd', '0x07CDE201C0003684', '0x000DBEEFDEADBEE0', '0', '0x0ABCDEF012345678'],
  ],
  [
    'Commands: CFGI_ALL, then a CMD_SYNC that signals completion by an MSI into its own slot',
    ['encode', 'cmd-CFGI_ALL'],
    ['encode', 'cmd-CMD_SYNC', 'CS=IRQ', 'MSH=ISH', 'MSIAttr=NORMAL_WB', 'MSIAddress=0x8a0010040'],
  ],
  [
    'An event the SMMU writes when DMA hits an unmapped IOVA (F_TRANSLATION, StreamID 0x100)',
    ['decode', 'evt', '0x0000010000000010', '0x0000000800000000', '0x00000000fffe1000', '0'],
  ],
  ['A guest that writes garbage: RES0 bits and reserved encodings are reported, never thrown', ['decode', 'ste', '0x0000000000000003', '0x00000E0000000000']],
];

let failed = 0;
for (const [title, ...cmds] of steps) {
  console.log(`\n# ${title}`);
  for (const args of cmds) {
    console.log(`$ twinctl ${args.join(' ')}`);
    const r = spawnSync(bin, args, { cwd: root, encoding: 'utf8' });
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    if (r.status !== 0) failed++;
  }
}
// The hardware model: what the crashed kernel's live SMMU does to in-flight DMA.
console.log('\n# The SMMU twin: a NIC keeps DMAing across the panic while a kdump kernel takes the SMMU over the status-quo way');
console.log('$ node tools/demo/smmu-demo.ts');
const hw = spawnSync(process.execPath, ['--conditions=kdump-twin-source', '-r', '@swc-node/register', join(root, 'tools/demo/smmu-demo.ts')], {
  cwd: root,
  encoding: 'utf8',
  env: { ...process.env, SWC_NODE_PROJECT: join(root, 'tsconfig.base.json') },
});
process.stdout.write(hw.stdout);
process.stderr.write(hw.stderr);
if (hw.status !== 0) failed++;

// The driver model: the same crash under every kdump policy.
console.log("\n# The kdump kernel's arm-smmu-v3 probe under each policy, NIC mid-DMA across the panic");
console.log('$ node tools/demo/kdump-demo.ts');
const kd = spawnSync(process.execPath, ['--conditions=kdump-twin-source', '-r', '@swc-node/register', join(root, 'tools/demo/kdump-demo.ts')], {
  cwd: root,
  encoding: 'utf8',
  env: { ...process.env, SWC_NODE_PROJECT: join(root, 'tsconfig.base.json') },
});
process.stdout.write(kd.stdout);
process.stderr.write(kd.stderr);
if (kd.status !== 0) failed++;

// The main job: the policy-by-scenario comparison on the headline scenarios, through the services.
console.log("\n# Crash scenarios through the four services: every kdump policy on the catalogue's headline scenarios");
console.log('$ node tools/demo/matrix-demo.ts   # starts NATS if needed and smmu-twin, dma-fleet, crash-generator, kdump-driver');
const mx = spawnSync(process.execPath, ['--conditions=kdump-twin-source', '-r', '@swc-node/register', join(root, 'tools/demo/matrix-demo.ts')], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, SWC_NODE_PROJECT: join(root, 'tsconfig.base.json') },
});
if (mx.status !== 0) failed++;

if (failed) {
  console.error(`\ndemo: ${failed} command(s) failed`);
  process.exit(1);
}
