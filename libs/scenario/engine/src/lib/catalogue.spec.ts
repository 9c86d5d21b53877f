// SPDX-License-Identifier: Apache-2.0
// The catalogue as a whole: ids carry the series document's identifiers, every fault scenario
// of section 4 is there, entries are well formed and valid scenarios under every policy.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildScenario, CATALOGUE, catalogueIssues, entryDocument, entryPolicies, type CatalogueEntry } from '../catalogue';
import { POLICIES } from './spec';

/** Every fault scenario identifier of kdump-adopt-series.md section 4. */
const SECTION_4 = [
  'S1a',
  'S1b',
  'S2',
  'S3',
  'S4',
  'S5',
  'S6a',
  'S6b',
  'S7a',
  'S7b',
  'S7c',
  'S7d',
  'S8a',
  'S8b',
  'S8c',
  'S9',
  'S10a',
  'S10b',
  'S10c',
  'S10d',
  'S10e',
  'S10f',
  'S10g',
  'S10h',
  'S10i',
  'S10j',
  'S10k',
  'S10l',
  'S11',
  'S12',
  'S13',
  'S14',
  'S15',
  'S16',
  'S17',
  'S18',
  'S19',
  'S20',
  'S21',
  'S22',
];

describe('predictions against the report contract', () => {
  const entry = (checks: CatalogueEntry['predict'][keyof CatalogueEntry['predict']]): CatalogueEntry => ({
    ...CATALOGUE[0]!,
    id: 'T-typo',
    predict: { 'adopt-v7': checks },
  });
  it('the whole catalogue holds (it would not load otherwise)', () => {
    assert.deepEqual(catalogueIssues(CATALOGUE), []);
  });
  it('a path naming a field the report does not have is refused, naming the entry, the policy and the fields there are', () => {
    const [issue, ...rest] = catalogueIssues([entry([['corruption.crashedKernelByte', '>', 0]])]);
    assert.equal(rest.length, 0);
    assert.match(
      issue!,
      /^catalogue T-typo predict\.adopt-v7: \["corruption\.crashedKernelByte", '>'\]: corruption has no field crashedKernelByte \(fields: .*crashedKernelBytes/,
    );
  });
  it('so is an operator its value cannot take, and a selector on something that is not a list', () => {
    const issues = catalogueIssues([
      entry([
        ['policy', '>', 1],
        ['adoption', 'logs', 'x'],
        ['corruption[0]', '=', 1],
        ['devices[0000:01:00.0].nam', '=', 'x'],
      ]),
    ]);
    assert.equal(issues.length, 4, issues.join('\n'));
    assert.match(issues[0]!, /policy is a str, not a number/);
    assert.match(issues[1]!, /adoption is not a list of log lines/);
    assert.match(issues[2]!, /corruption is not a list, so \[0\] selects nothing/);
    assert.match(issues[3]!, /devices\[0000:01:00\.0\] has no field nam/);
  });
  it('map keys and nullable numbers are fine', () => {
    assert.deepEqual(
      catalogueIssues([
        entry([
          ['mmio.writesTo.ANY_REGISTER', '=', null],
          ['devices[x].dma.total.faulted', '>', 0],
          ['log', '!logs', 'x'],
        ]),
      ]),
      [],
    );
  });
});

describe('the scenario catalogue', () => {
  it('has the baseline and every section-4 scenario, each id starting with its identifier', () => {
    const ids = CATALOGUE.map((e) => e.id);
    assert.ok(ids.includes('baseline'));
    for (const s of SECTION_4)
      assert.ok(
        ids.some((id) => id.startsWith(`${s}-`)),
        `no catalogue entry for ${s}`,
      );
    for (const id of ids) assert.match(id, /^(baseline|S\d+[a-z]?-[a-z0-9-]+|R\d+-M\d-[a-z0-9-]+)$/);
    assert.equal(new Set(ids).size, ids.length, 'ids are unique');
  });

  it('the S10c and S10g sub-cases cover each validation the document lists', () => {
    const ids = CATALOGUE.map((e) => e.id);
    for (const s of [
      'S10c-bad-strtab-fmt',
      'S10c-log2size-below-split',
      'S10c-log2size-above-sidsize',
      'S10c-bad-split',
      'S10c-l1-entries-exceed-max',
      'S10c-linear-log2size-cap',
      'S10c-unaligned-l1-base',
    ])
      assert.ok(ids.includes(s), s);
    for (const s of ['S10g-cd-asid-zero', 'S10g-cd-asid-too-wide', 'S10g-s1contextptr-zero', 'S10g-s1cdmax-too-large', 'S10g-bad-s1fmt', 'S10g-s2-vmid-zero'])
      assert.ok(ids.includes(s), s);
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
