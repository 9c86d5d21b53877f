// SPDX-License-Identifier: Apache-2.0
// twinctl end to end, as a user runs it: the npm bin in node_modules/.bin, a real process,
// its stdout, stderr and exit code. Expected values are worked out from IHI0070 by hand.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const root = join(__dirname, '..', '..', '..');
const bin = join(root, 'node_modules', '.bin', 'twinctl');

function twinctl(...args: string[]) {
  const r = spawnSync(bin, args, { cwd: root, encoding: 'utf8', env: { ...process.env, TWINCTL_FROM_SOURCE: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function json(...args: string[]) {
  const r = twinctl(...args);
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out);
}

describe('twinctl layout', () => {
  it('--list --json names registers without SMMU_ and every structure family', () => {
    const names: string[] = json('layout', '--list', '--json');
    for (const n of [
      'CR0',
      'STRTAB_BASE_CFG',
      'EVENTQ_PROD',
      'ste',
      'cd',
      'l1std',
      'cdl1',
      'evt',
      'cmd-CFGI_STE',
      'cmd-CMD_SYNC',
      'pte-s1-4k-page',
      'pte-s2-64k-table',
    ]) {
      assert.ok(names.includes(n), `missing ${n}`);
    }
    assert.ok(!names.some((n) => n.startsWith('SMMU_')));
  });

  it('STRTAB_BASE_CFG --json: page 0 offset 0x88, LOG2SIZE [5:0], SPLIT [10:6], FMT [17:16] (IHI0070 ch.6 SMMU_STRTAB_BASE_CFG)', () => {
    const l = json('layout', 'STRTAB_BASE_CFG', '--json');
    assert.equal(l.format, 'STRTAB_BASE_CFG');
    assert.equal(l.kind, 'register');
    assert.equal(l.offset, 0x88);
    assert.equal(l.page, 0);
    assert.equal(l.sizeBytes, 4);
    const by = Object.fromEntries(l.fields.map((f: { name: string }) => [f.name, f]));
    assert.deepEqual([by.LOG2SIZE.word, by.LOG2SIZE.lsb, by.LOG2SIZE.width], [0, 0, 6]);
    assert.deepEqual([by.SPLIT.lsb, by.SPLIT.width], [6, 5]);
    assert.deepEqual([by.FMT.lsb, by.FMT.width], [16, 2]);
    assert.deepEqual(by.FMT.values, { LINEAR: 0, TWO_LEVEL: 1 });
  });

  it('EVENTQ_PROD lives on page 1 at 0xA8 (IHI0070 ch.6 SMMU_EVENTQ_PROD); the Linux name EVTQ_PROD finds it', () => {
    const l = json('layout', 'EVTQ_PROD', '--json');
    assert.equal(l.format, 'EVENTQ_PROD');
    assert.equal(l.page, 1);
    assert.equal(l.offset, 0xa8);
  });

  it('ste --json: S2VMID is dw2[15:0], S1ContextPtr dw0[55:6] (IHI0070 5.2)', () => {
    const l = json('layout', 'ste', '--json');
    assert.equal(l.kind, 'structure');
    assert.equal(l.sizeBytes, 64);
    const by = Object.fromEntries(l.fields.map((f: { name: string }) => [f.name, f]));
    assert.deepEqual([by.S2VMID.word, by.S2VMID.lsb, by.S2VMID.width], [2, 0, 16]);
    assert.deepEqual([by.S1ContextPtr.word, by.S1ContextPtr.lsb, by.S1ContextPtr.width, by.S1ContextPtr.address], [0, 6, 50, true]);
  });

  it('--wire prints the twin.arch.v1 FormatLayout message', () => {
    const l = json('layout', 'cmd-CMD_SYNC', '--wire');
    assert.equal(l.kind, 2, 'FORMAT_KIND_STRUCTURE');
    assert.equal(l.fields[0].name, 'Opcode');
    assert.equal(l.fields[0].fixed, '70');
  });

  it('human output lists every field with its bits', () => {
    const r = twinctl('layout', 'CR0');
    assert.equal(r.code, 0);
    assert.match(r.out, /CR0 +page 0 offset 0x020 +32-bit RW +reset 0x0/);
    assert.match(r.out, /\[3\] +CMDQEN/);
  });

  it('an unknown format exits 2 and says so', () => {
    const r = twinctl('layout', 'CR9');
    assert.equal(r.code, 2);
    assert.match(r.err, /unknown format "CR9"/);
  });
});

describe('twinctl decode', () => {
  it('the KUnit CD-table STE (S1DSS=SSID0, ATS) decodes field by field (notes 7.3)', () => {
    const d = json('decode', 'ste', '0xF800F0F0F0F0F0EB', '0x00000000180000D6', '--json');
    assert.equal(d.format, 'ste');
    assert.equal(d.fields.V, 1);
    assert.equal(d.fields.Config, 5);
    assert.equal(d.names.Config, 'S1_TRANS');
    assert.equal(d.fields.S1Fmt, 2);
    assert.equal(d.fields.S1ContextPtr, 0xf0f0f0f0f0c0);
    assert.equal(d.fields.S1CDMax, 31);
    assert.equal(d.fields.S1DSS, 2);
    assert.equal(d.fields.EATS, 1);
    assert.equal(d.fields.S1STALLD, 1);
    assert.deepEqual(d.res0, []);
    assert.deepEqual(d.reserved, []);
  });

  it('cmd dispatches on the opcode: Linux SEV-mode CMD_SYNC 0x0FC02046 (notes 5)', () => {
    const d = json('decode', 'cmd', '0x0FC02046', '0', '--json');
    assert.equal(d.format, 'cmd-CMD_SYNC');
    assert.equal(d.names.CS, 'SEV');
    assert.equal(d.fields.MSH, 3);
    assert.equal(d.fields.MSIAttr, 0xf);
  });

  it('reports RES0 bits and reserved encodings by name instead of failing', () => {
    const d = json('decode', 'STRTAB_BASE_CFG', '0x20810', '--json');
    // 0x20810 = FMT 2 (bits [17:16], reserved) | bit 11 (RES0) | SPLIT 0 (bits [10:6], reserved) | LOG2SIZE 16
    assert.equal(d.fields.FMT, 2);
    assert.equal(d.fields.LOG2SIZE, 16);
    assert.equal(d.fields.SPLIT, 0);
    assert.deepEqual(d.res0, [{ bits: '[11]', word: 0, lsb: 11, width: 1, value: 1 }]);
    assert.deepEqual(
      d.reserved.map((r: { field: string }) => r.field),
      ['SPLIT', 'FMT'],
    );
  });

  it('values above 2^53 come out as hex strings', () => {
    const d = json('decode', 'evt', '0x0000000500000010', '0', '0xffffffffffff1000', '0', '--json');
    assert.equal(d.format, 'evt-F_TRANSLATION');
    assert.equal(d.fields.StreamID, 5);
    assert.equal(d.fields.InputAddr, '0xffffffffffff1000');
  });

  it('--wire prints the twin.arch.v1 DecodedFormat message', () => {
    const d = json('decode', 'CR0', '0x9', '--wire');
    assert.equal(d.format, 'CR0');
    assert.deepEqual(d.words, ['9']);
    assert.deepEqual(
      d.fields.filter((f: { value: string }) => f.value !== '0').map((f: { name: string }) => f.name),
      ['SMMUEN', 'CMDQEN'],
    );
  });

  it('rejects too many words and a register value wider than the register', () => {
    const r1 = twinctl('decode', 'l1std', '1', '2');
    assert.equal(r1.code, 1);
    assert.match(r1.err, /l1std has 1 64-bit dword/);
    const r2 = twinctl('decode', 'CR0', '0x100000000');
    assert.equal(r2.code, 1);
    assert.match(r2.err, /wider than 32 bits/);
  });
});

describe('twinctl encode', () => {
  it('Linux 2-level STRTAB_BASE_CFG for SIDSIZE 16 is 0x10210 (notes 1.7)', () => {
    assert.deepEqual(json('encode', 'STRTAB_BASE_CFG', 'FMT=TWO_LEVEL', 'SPLIT=8', 'LOG2SIZE=16', '--json'), { format: 'STRTAB_BASE_CFG', words: ['0x10210'] });
  });

  it('a Linux CFGI_ALL is opcode 0x04 with dw1 Range=0x1F (notes 5)', () => {
    assert.deepEqual(json('encode', 'cmd-CFGI_ALL', '--json'), { format: 'cmd-CFGI_ALL', words: ['0x4', '0x1f'] });
  });

  it('human output prints each dword', () => {
    const r = twinctl('encode', 'l1std', 'Span=9', 'L2Ptr=0x80004000');
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.trim(), 'dw0 0x0000000080004009');
  });

  it('a value too wide names the field and its width, exit 1', () => {
    const r = twinctl('encode', 'ste', 'S1CDMax=32');
    assert.equal(r.code, 1);
    assert.match(r.err, /ste\.S1CDMax dw0\[63:59\]: value 0x20 is wider than the field's 5 bits/);
  });

  it('an unknown field names the format and lists its fields, exit 1', () => {
    const r = twinctl('encode', 'CR0', 'SMMUEN=1', 'BOGUS=1');
    assert.equal(r.code, 1);
    assert.match(r.err, /CR0 has no field BOGUS \(fields: SMMUEN, PRIQEN/);
  });

  it('an unknown command exits 2 with the usage', () => {
    const r = twinctl('frobnicate');
    assert.equal(r.code, 2);
    assert.match(r.err, /unknown command "frobnicate"/);
    assert.match(r.err, /usage:/);
  });
});
