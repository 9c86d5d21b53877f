// SPDX-License-Identifier: Apache-2.0
// The hardware model in one story: a primary kernel brings the SMMU up and maps a NIC's receive
// buffer; the kernel panics with the NIC mid-DMA; then what the SMMU does with that DMA while a
// kdump kernel takes it over the status-quo way (disable, reprogram, re-enable). Each line is
// what the twin answers; nothing here is scripted output.
import { bringUp, cd, cmd, CR0, drainEvents, eventName, fixture, PageTables, ste, submit } from '@kdump-twin/smmu-model/testing';
import type { DmaResult } from '@kdump-twin/smmu-model';

const hex = (n: number | bigint) => `0x${n.toString(16)}`;
const f = fixture({ ackDelayNs: 200 });
const say = (s: string) => console.log(`[t=${String(f.clock.now()).padStart(7)} ns] ${s}`);
const show = (what: string, r: DmaResult) => {
  const t = r.translations[0]!;
  say(
    `${what}: ${r.completion} (${t.outcome} via ${t.path}${t.pa >= 0 ? ` -> PA ${hex(t.pa)}` : ''}${t.event ? `, ${t.event}${t.recorded ? ' recorded' : ' not recorded'}` : ''}${t.ste ? `, STE written by ${t.ste.writer} in the ${t.ste.epoch} epoch` : ''})`,
  );
};

// Primary kernel: arm_smmu_device_reset, a stage-1 DMA domain for the NIC (StreamID 0x21).
const q = bringUp(f, { strtabLog2: 8 });
const pt = new PageTables(f, 1, '4k', 48);
const rxBuf = f.alloc(4096);
pt.map(0xffff_f000, rxBuf);
const cdAddr = f.alloc(64, 64);
f.writeWords(cdAddr, cd(pt, 1));
f.writeWords(q.strtab + 64 * 0x21, ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(cdAddr), S1STALLD: 1, EATS: 'TRANS' }));
submit(f, q, [cmd.cfgiSte(0x21), cmd.sync()]);
say(`primary kernel: SMMU enabled (CR0ACK ${hex(f.reg('CR0ACK'))}), NIC StreamID 0x21 maps IOVA 0xfffff000 -> receive buffer ${hex(rxBuf)}`);
const packet = new Uint8Array(64).fill(0x5a);
show('NIC receive DMA', f.smmu.dma({ sid: 0x21, address: 0xffff_f000, write: true }, packet));

// Panic: the CPU stops, the NIC does not.
f.memory.setEpoch('kdump');
f.useWriter('kdump-cpu');
say('--- primary kernel panics; kexec into the kdump kernel; the NIC keeps receiving ---');
show('NIC DMA after the panic, SMMU untouched', f.smmu.dma({ sid: 0x21, address: 0xffff_f040, write: true }, packet));

// kdump, status quo: arm_smmu_device_reset sees SMMUEN=1, sets GBPA.ABORT, then CR0=0.
f.w('GBPA', Number(f.reg('GBPA')) | (1 << 20) | (1 << 31)); // arm_smmu_update_gbpa: read-modify-write with Update
f.clock.advance(1000);
f.cr0(0);
say(`kdump: GBPA.ABORT set (GBPA ${hex(f.reg('GBPA'))}), CR0=0 acknowledged`);
show('NIC DMA while the SMMU is disabled', f.smmu.dma({ sid: 0x21, address: 0xffff_f080, write: true }, packet));
// Without ABORT the same DMA would bypass translation and land at PA 0xffff_f080.
f.w('GBPA', (Number(f.reg('GBPA')) & ~(1 << 20)) | (1 << 31));
f.clock.advance(1000);
const bypass = f.smmu.dma({ sid: 0x21, address: 0x8000_0080, write: true }, packet);
show('the same DMA if GBPA bypassed instead (IOVA used as a PA)', bypass);
const corrupt = f.memory.attribute(0x8000_0080, 64)[0]!;
say(
  `  memory at 0x80000080 now last written by ${corrupt.record?.writer.kind} SID ${hex(corrupt.record?.writer.sid ?? 0)} in the ${corrupt.record?.epoch} epoch`,
);

// A guarded write the kdump driver makes too early is ignored and recorded.
f.cr0(CR0.CMDQEN | CR0.SMMUEN);
f.w('STRTAB_BASE', 0x9000_0000);
const v = f.smmu.violations().at(-1)!;
say(`violation recorded: ${v.register} <- ${hex(v.attempted)} ignored: ${v.rule}`);
show(
  'NIC DMA after re-enabling without CFGI_ALL (stale STE and TLB from the crashed kernel)',
  f.smmu.dma({ sid: 0x21, address: 0xffff_f0c0, write: true }, packet),
);
f.writeWords(q.strtab + 64 * 0x21, ste({ Config: 'ABORT' }));
submit(f, q, [cmd.cfgiAll(), cmd.tlbiNsnhAll(), cmd.sync()]);
show(
  'after the kdump kernel writes an abort STE and CFGI_ALL + TLBI_NSNH_ALL + CMD_SYNC',
  f.smmu.dma({ sid: 0x21, address: 0xffff_f100, write: true }, packet),
);
f.cr0(CR0.CMDQEN | CR0.EVENTQEN | CR0.SMMUEN);
f.writeWords(q.strtab + 64 * 0x21, [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]);
submit(f, q, [cmd.cfgiSte(0x21), cmd.sync()]);
show('with an invalid STE instead', f.smmu.dma({ sid: 0x21, address: 0xffff_f140, write: true }, packet));
say(`event queue: ${drainEvents(f, q).map(eventName).join(', ')}`);
const s = f.smmu.cacheStats();
say(
  `caches: STE ${s.ste.hits} hits / ${s.ste.misses} misses, TLB ${s.tlb.hits} hits / ${s.tlb.misses} misses; ${f.smmu.counters.commandsConsumed} commands consumed`,
);
