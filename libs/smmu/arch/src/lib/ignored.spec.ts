// SPDX-License-Identifier: Apache-2.0
// IGNORED fields: a reserved encoding in a field the architecture ignores is not reported, so a
// valid Linux structure decodes clean, while the same encoding in a used field is.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CD, STE } from '../index';

const reservedFields = (d: { reserved: readonly { field: string }[] }) => d.reserved.map((r) => r.field);

describe('IGNORED fields (IHI0070 5.2, 5.4)', () => {
  it('CD.TG1=0 is reserved, but ignored while EPD1=1 as Linux writes it', () => {
    assert.deepEqual(reservedFields(CD.decode(CD.build({ V: 1, EPD1: 1, AA64: 1, TG0: 'G4K' }))), []);
    assert.deepEqual(reservedFields(CD.decode(CD.build({ V: 1, EPD1: 0, AA64: 1, TG0: 'G4K' }))), ['TG1']);
  });

  it('CD.TG0=3 is reported only while EPD0=0', () => {
    assert.deepEqual(reservedFields(CD.decode(CD.build({ V: 1, EPD0: 1, EPD1: 1, TG0: 3 }))), []);
    assert.deepEqual(reservedFields(CD.decode(CD.build({ V: 1, EPD0: 0, EPD1: 1, TG0: 3 }))), ['TG0']);
  });

  it('an STE with V=0 ignores everything else', () => {
    assert.deepEqual(reservedFields(STE.decode(STE.build({ V: 0, Config: 1, S1Fmt: 3 }))), []);
    assert.deepEqual(reservedFields(STE.decode(STE.build({ V: 1, Config: 1 }))), ['Config']);
  });

  it('stage-1 fields are ignored while Config[0]=0, stage-2 fields while Config[1]=0', () => {
    assert.deepEqual(reservedFields(STE.decode(STE.build({ V: 1, Config: 'S2_TRANS', S1Fmt: 3, S1DSS: 3 }))), []);
    assert.deepEqual(reservedFields(STE.decode(STE.build({ V: 1, Config: 'S1_TRANS', S1Fmt: 3, S1DSS: 3 }))), ['S1Fmt', 'S1DSS']);
    assert.deepEqual(reservedFields(STE.decode(STE.build({ V: 1, Config: 'BYPASS', S2TG: 3 }))), []);
    assert.deepEqual(reservedFields(STE.decode(STE.build({ V: 1, Config: 'NESTED', S2TG: 3 }))), ['S2TG']);
  });
});
