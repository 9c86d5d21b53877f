// SPDX-License-Identifier: Apache-2.0
// `npm run schema:gen`: writes the published JSON Schemas (scenario files, the outcome report)
// from their one description in libs/scenario/engine. The scenario library's tests diff the
// committed files against this output.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { schemaDocuments } from '@kdump-twin/scenario';

const dir = join(__dirname, '..', '..', 'libs', 'scenario', 'engine', 'schema');
for (const [name, text] of Object.entries(schemaDocuments())) {
  writeFileSync(join(dir, name), text);
  console.log(`wrote libs/scenario/engine/schema/${name}`);
}
