// SPDX-License-Identifier: Apache-2.0
// The published JSON Schemas of the three documents (report, scenario, campaign), as
// tools/schema/generate.ts writes them into schema/ and schema.spec.ts checks them. Apart from
// report.ts so that the report does not import the campaign runner (which imports the runner,
// which imports the report).

import { CAMPAIGN_SCHEMA, CAMPAIGN_SCHEMA_VERSION } from './campaign';
import { REPORT_SCHEMA, REPORT_SCHEMA_VERSION } from './report';
import { toJsonSchema } from './schema';
import { SCENARIO_SCHEMA } from './spec';

/** The published JSON Schemas (schema/*.json in this library), as the generator writes them. */
export function schemaDocuments(): Record<string, string> {
  const text = (o: unknown) => `${JSON.stringify(o, null, 2)}\n`;
  return {
    'report.schema.json': text(
      toJsonSchema(REPORT_SCHEMA, 'https://kdump-twin.dev/schema/report.schema.json', `kdump-twin outcome report, schema version ${REPORT_SCHEMA_VERSION}`),
    ),
    'scenario.schema.json': text(toJsonSchema(SCENARIO_SCHEMA, 'https://kdump-twin.dev/schema/scenario.schema.json', 'kdump-twin crash scenario')),
    'campaign.schema.json': text(
      toJsonSchema(
        CAMPAIGN_SCHEMA,
        'https://kdump-twin.dev/schema/campaign.schema.json',
        `kdump-twin fault-injection campaign, schema version ${CAMPAIGN_SCHEMA_VERSION}`,
      ),
    ),
  };
}
