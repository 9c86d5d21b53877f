// SPDX-License-Identifier: Apache-2.0
// Registers one node:test per catalogue entry and predicted policy: the run must meet the
// entry's predicted outcome, and its report must satisfy the report contract.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CATALOGUE, entryDocument, entryPolicies, type CatalogueEntry } from '../catalogue';
import { REPORT_SCHEMA } from '../lib/report';
import { runScenario } from '../lib/runner';
import { issuesOf } from '../lib/schema';
import { buildScenario } from '../catalogue';

export function catalogueTests(pick: (e: CatalogueEntry) => boolean): void {
  for (const e of CATALOGUE.filter(pick)) {
    describe(`${e.id}: ${e.title}`, () => {
      for (const policy of entryPolicies(e)) {
        it(`${policy}: ${e.outcome.length > 110 ? `${e.outcome.slice(0, 107)}...` : e.outcome}`, async (t) => {
          const r = await runScenario(buildScenario(entryDocument(e), { policy }), { predict: e.predict[policy] });
          const failed = r.prediction!.checks.filter((c) => !c.ok);
          if (e.inference) t.diagnostic(`inference: ${e.inference}`);
          assert.deepEqual(
            failed,
            [],
            `predicted outcome not met:\n${failed.map((c) => `  ${c.path} ${c.op} ${JSON.stringify(c.expected)}, got ${JSON.stringify(c.actual)}`).join('\n')}`,
          );
          assert.ok(r.prediction!.checks.length > 0);
          assert.deepEqual(issuesOf(REPORT_SCHEMA, JSON.parse(JSON.stringify(r))), [], 'the report satisfies its schema');
        });
      }
    });
  }
}
