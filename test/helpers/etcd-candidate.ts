// A credentialed candidate as a real process, for the failover tests (a
// lease is only truly abandoned by a process that dies or stops):
//
//   node etcd-candidate.js SPEC NODE CALLS_FILE [TTL]
//
// Campaigns as NODE; while it leads, makes a fenced "control call" every
// 100 ms that appends `NODE <ms since epoch>` to CALLS_FILE (the stand-in
// backend counts what reaches it). Prints `standby`, `elected`, `lost` on
// stdout as it goes; when leadership is lost it campaigns again.
import { appendFileSync } from 'node:fs';
import { openEtcdStore } from '../../src/agent/store/etcd/etcd-store.js';

const [spec, node, calls, ttl] = process.argv.slice(2);
const say = (s: string) => process.stdout.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const store = await openEtcdStore(spec, { leaseTtl: Number(ttl ?? 2) });
process.on('SIGTERM', () => void store.close().finally(() => process.exit(0)));
for (;;) {
  let l;
  try {
    l = await store.campaign(node);
  } catch (e) {
    say(`error ${(e as Error).message}`);
    await sleep(200);
    continue;
  }
  say('standby');
  await l.elected;
  say('elected');
  for (;;) {
    try {
      await l.fenced(async () => appendFileSync(calls, `${node} ${Date.now()}\n`));
    } catch (e) {
      say(`refused ${(e as Error).message}`);
      break;
    }
    await sleep(100);
  }
  await l.resign().catch(() => {});
  say('lost');
}
