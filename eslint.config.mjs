// SPDX-License-Identifier: Apache-2.0
// Lint for every project. Module boundaries bite on two tag axes (scope:*, type:*):
// - type:codec and type:model (pure libraries) may depend only on codec/model/util/contracts
//   libraries, and may not import NestJS, NATS, gRPC or OpenTelemetry, nor any app;
// - type:contracts (generated) depends on nothing;
// - nothing depends on an app.
// Models also may not read the wall clock or use unseeded randomness.
import js from '@eslint/js';
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

const transportAndTelemetry = ['@nestjs/*', 'nats', 'nats/*', '@nats-io/*', '@grpc/*', '@opentelemetry/*'];
const pureDeps = ['type:codec', 'type:model', 'type:util', 'type:contracts'];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/src/gen/**', '.nx/**', 'out/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.mjs', '**/*.js'],
    plugins: { '@nx': nx },
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', require: 'readonly', __dirname: 'readonly', module: 'writable', URL: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off',
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          banTransitiveDependencies: false,
          depConstraints: [
            { sourceTag: 'type:codec', onlyDependOnLibsWithTags: ['type:codec', 'type:util', 'type:contracts'], bannedExternalImports: transportAndTelemetry },
            { sourceTag: 'type:model', onlyDependOnLibsWithTags: pureDeps, bannedExternalImports: transportAndTelemetry },
            { sourceTag: 'type:util', onlyDependOnLibsWithTags: ['type:util'], bannedExternalImports: transportAndTelemetry },
            { sourceTag: 'type:contracts', onlyDependOnLibsWithTags: [] },
            // Transport adapters carry pure libraries' data between processes; they may import NATS.
            { sourceTag: 'type:transport', onlyDependOnLibsWithTags: [...pureDeps, 'type:transport'] },
            {
              sourceTag: 'scope:transport',
              onlyDependOnLibsWithTags: ['scope:transport', 'scope:scenario', 'scope:endpoint', 'scope:kernel', 'scope:smmu', 'scope:sim', 'scope:proto'],
            },
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:codec', 'type:model', 'type:util', 'type:contracts', 'type:feature', 'type:transport'] },
            { sourceTag: 'scope:smmu', onlyDependOnLibsWithTags: ['scope:smmu', 'scope:sim', 'scope:proto'] },
            { sourceTag: 'scope:proto', onlyDependOnLibsWithTags: [] },
            { sourceTag: 'scope:sim', onlyDependOnLibsWithTags: ['scope:sim'] },
            { sourceTag: 'scope:kernel', onlyDependOnLibsWithTags: ['scope:kernel', 'scope:smmu', 'scope:sim', 'scope:proto'] },
            // Endpoints know the platform and the SMMU formats, never the kernel or the SMMU model.
            { sourceTag: 'scope:endpoint', onlyDependOnLibsWithTags: ['scope:endpoint', 'scope:sim', 'type:codec'] },
            // Scenarios assemble everything pure: platform, SMMU, kernels, endpoints.
            { sourceTag: 'scope:scenario', onlyDependOnLibsWithTags: ['scope:scenario', 'scope:endpoint', 'scope:kernel', 'scope:smmu', 'scope:sim'] },
            // Workspace tooling (benchmarks, demo, generators, the service launcher) may use any pure or transport library, never an app.
            { sourceTag: 'type:tooling', onlyDependOnLibsWithTags: [...pureDeps, 'type:transport'] },
            { sourceTag: 'scope:workspace', onlyDependOnLibsWithTags: ['*'] },
          ],
        },
      ],
    },
  },
  {
    // Pure libraries (every lib except the transport and telemetry adapters): no transport or
    // telemetry imports, whether or not the package is installed (the Nx rule above only sees
    // packages in the project graph).
    files: ['libs/**/*.ts'],
    ignores: ['libs/shared/transport/**', 'libs/shared/service/**', 'libs/shared/telemetry/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: transportAndTelemetry,
              message: 'model and codec libraries stay free of NestJS, NATS, gRPC and OpenTelemetry; put adapters in apps/ or a transport library',
            },
          ],
        },
      ],
    },
  },
  {
    // Pure libraries: virtual time and seeded randomness only (the service glue logs wall-clock time).
    files: ['libs/**/*.ts'],
    ignores: ['**/*.spec.ts', '**/testing/**', 'libs/shared/service/**', 'libs/shared/telemetry/**'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'models use the seeded RNG, never Math.random()' },
        { object: 'Date', property: 'now', message: 'models use virtual time, never the wall clock' },
        { object: 'performance', property: 'now', message: 'models use virtual time, never the wall clock' },
      ],
      'no-restricted-syntax': ['error', { selector: "NewExpression[callee.name='Date']", message: 'models use virtual time, never the wall clock' }],
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: 'models schedule in virtual time' },
        { name: 'setInterval', message: 'models schedule in virtual time' },
      ],
    },
  },
);
