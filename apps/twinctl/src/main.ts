// SPDX-License-Identifier: Apache-2.0
import { Telemetry, TelemetryConfigError } from '@kdump-twin/telemetry';
import { run } from './cli';
import { runCampaignCommand } from './campaign/command';
import { runScenarioCommand, SCENARIO_COMMANDS } from './scenarios';

async function main(argv: readonly string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  let telemetry: Telemetry | undefined;
  const traced = cmd !== undefined && (SCENARIO_COMMANDS.has(cmd) || cmd === 'campaign');
  if (traced) {
    try {
      telemetry = Telemetry.start('twinctl');
    } catch (e) {
      if (!(e instanceof TelemetryConfigError)) throw e;
      process.stderr.write(`twinctl: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
  }
  const r = cmd === 'campaign' ? await runCampaignCommand(rest) : cmd !== undefined && SCENARIO_COMMANDS.has(cmd) ? await runScenarioCommand(cmd, rest) : run(argv);
  // Export what was traced before the process ends.
  await telemetry?.shutdown();
  if (r.stdout) process.stdout.write(r.stdout);
  if (r.stderr) process.stderr.write(r.stderr);
  process.exitCode = r.code;
}

void main(process.argv.slice(2));
