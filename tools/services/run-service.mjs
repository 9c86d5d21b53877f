#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// `npx nx serve <app>` (or `node tools/services/run-service.mjs <app>`): one service in the
// foreground, from its TypeScript source, configured by the environment (NATS_URL, GRPC_HOST,
// GRPC_PORT, LOG_LEVEL, SERVICE_ID; libs/shared/service/README.md). Its JSON log goes to stdout;
// Ctrl-C stops it gracefully. `npm run services` starts all four with NATS instead.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const APPS = ['smmu-twin', 'dma-fleet', 'crash-generator', 'kdump-driver'];
const root = join(import.meta.dirname, '..', '..');
const app = process.argv[2];
if (!APPS.includes(app ?? '')) {
  console.error(`usage: node tools/services/run-service.mjs <${APPS.join('|')}> (got ${app === undefined ? 'nothing' : JSON.stringify(app)})`);
  process.exit(2);
}
const main = join(root, 'apps', app, 'src', 'main.ts');
if (!existsSync(main)) {
  console.error(`run-service: ${main} is missing`);
  process.exit(2);
}
const child = spawn(process.execPath, ['--conditions=kdump-twin-source', '-r', '@swc-node/register', main], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, SWC_NODE_PROJECT: join(root, 'tsconfig.base.json') },
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
