#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// Entry point of `npx twinctl`. Runs the built CLI when apps/twinctl/dist exists (a container
// image, after `npm run build`); otherwise runs the TypeScript sources through @swc-node/register
// with the workspace's "kdump-twin-source" export condition, so it works right after `npm ci`.
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const app = join(__dirname, '..');
const dist = join(app, 'dist', 'main.js');
const args = process.argv.slice(2);
if (existsSync(dist) && process.env.TWINCTL_FROM_SOURCE !== '1') {
  require(dist);
} else {
  const root = join(app, '..', '..');
  const r = spawnSync(process.execPath, ['--conditions=kdump-twin-source', '-r', '@swc-node/register', join(app, 'src', 'main.ts'), ...args], {
    stdio: 'inherit',
    cwd: process.cwd(),
    env: { ...process.env, SWC_NODE_PROJECT: join(root, 'tsconfig.base.json') },
  });
  process.exitCode = r.status === null ? 1 : r.status;
}
