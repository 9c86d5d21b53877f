// SPDX-License-Identifier: Apache-2.0
// The catalogue as a whole: ids carry the series document's identifiers, every fault scenario
// of section 4 is there, entries are well formed and valid scenarios under every policy.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildScenario, CATALOGUE, entryDocument, entryPolicies } from '../catalogue';
import { POLICIES } from './spec';

/** Every fault scenario identifier of kdump-adopt-series.md section 4. */
const SECTION_4 = ['S1a', 'S1b', 'S2', 'S3', 'S4', 'S5', 'S6a', 'S6b', 'S7a', 'S7b', 'S7c', 'S7d', 'S8a', 'S8b', 'S8c', 'S9', 'S10a', 'S10b', 'S10c', 'S10d', 'S10e', 'S10f', 'S10g', 'S10h', 'S10i', 'S10j', 'S10k', 'S10l', 'S11', 'S12', 'S13', 'S14', 'S15', 'S16', 'S17', 'S18', 'S19', 'S20', 'S21', 'S22'];

describe('the scenario catalogue', () => {
  it('has the baseline and every section-4 scenario, each id starting with its identifier', () => {
    const ids = CATALOGUE.map((e) => e.id);
    assert.ok(ids.includes('baseline'));
    for (const s of SECTION_4) assert.ok(ids.some((id) => id.startsWith(`${s}-`)), `no catalogue entry for ${s}`);
    for (const id of ids) assert.match(id, /^(baseline|S\d+[a-z]?-[a-z0-9-]+|R\d+-M\d-[a-z0-9-]+)$/);
    assert.equal(new Set(ids).size, ids.length, 'ids are unique');
  });

  it('the S10c and S10g sub-cases cover each validation the document lists', () => {
    const ids = CATALOGUE.map((e) => e.id);
    for (const s of ['S10c-bad-strtab-fmt', 'S10c-log2size-below-split', 'S10c-log2size-above-sidsize', 'S10c-bad-split', 'S10c-l1-entries-exceed-max', 'S10c-linear-log2size-cap', 'S10c-unaligned-l1-base']) assert.ok(ids.includes(s), s);
    for (const s of ['S10g-cd-asid-zero', 'S10g-cd-asid-too-wide', 'S10g-s1contextptr-zero', 'S10g-s1cdmax-too-large', 'S10g-bad-s1fmt', 'S10g-s2-vmid-zero']) assert.ok(ids.includes(s), s);
  });

  it('every entry states its source and outcome and predicts at least one policy', () => {
    for (const e of CATALOGUE) {
      assert.match(e.source, /kdump-adopt-series\.md/, e.id);
      assert.ok(e.outcome.length > 10, e.id);
      assert.ok(entryPolicies(e).length > 0, e.id);
      for (const checks of Object.values(e.predict)) assert.ok(checks!.length > 0, e.id);
    }
    assert.ok(CATALOGUE.filter((e) => e.headline).length >= 3, 'the demo has headline scenarios');
  });

  it('every entry is a valid scenario under every policy', () => {
    for (const e of CATALOGUE) for (const p of POLICIES) assert.equal(buildScenario(entryDocument(e), { policy: p }).kdump.policy, p);
  });
});
