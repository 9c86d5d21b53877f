// SPDX-License-Identifier: Apache-2.0
// `npm run services`: NATS (NATS_URL or 127.0.0.1:4222 if one answers, else a nats-server of
// our own on a free loopback port) and the four services in the foreground, on
// 127.0.0.1:50051-50054 (--free-ports: ports chosen now). Prints the addresses to script
// against; Ctrl-C (or SIGTERM) stops everything it started. --logs echoes the services' JSON logs.
import { startStack, SERVICES } from './stack';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  for (const a of args) if (a !== '--free-ports' && a !== '--logs') throw new Error(`unknown option ${a} (options: --free-ports, --logs)`);
  const logs = args.includes('--logs');
  const stack = await startStack({ freePorts: args.includes('--free-ports'), ...(logs ? { log: (l: string) => process.stdout.write(l) } : {}) });
  console.log(`NATS ${stack.natsUrl}${stack.ownNats ? ' (started here)' : ''}`);
  for (const s of SERVICES) console.log(`${s.padEnd(16)} grpc ${stack.addresses[s]}`);
  console.log(
    `\ntry: npx twinctl run baseline --policy adopt-v7 --services --smmu-twin ${stack.addresses['smmu-twin']}\nCtrl-C stops the services${stack.ownNats ? ' and NATS' : ''}.`,
  );
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    console.log('\nstopping...');
    void stack.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  for (const s of SERVICES)
    stack.procs[s].once('exit', (code) => {
      if (stopping) return;
      console.error(`${s} exited (${code}); its last output:\n${stack.logs(s).slice(-2000)}`);
      stop();
    });
}

main().catch((e: unknown) => {
  console.error(`services: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
