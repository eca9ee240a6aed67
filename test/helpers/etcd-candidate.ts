// A credentialed candidate as a real process, for the failover tests (a
// lease is only truly abandoned by a process that dies or stops):
//
//   node etcd-candidate.js SPEC NODE CALLS_FILE [TTL]
//
// Campaigns as NODE; while it leads, makes a fenced "control call" every
// 100 ms that appends `NODE <ms since epoch>` to CALLS_FILE (the stand-in
// backend counts what reaches it). Prints `standby`, `elected`, `lost` on
// stdout as it goes (`refused ...` when a fenced call is not made).
import { appendFileSync } from 'node:fs';
import { openEtcdStore } from '../../src/agent/store/etcd/etcd-store.js';

const [spec, node, calls, ttl] = process.argv.slice(2);
const say = (s: string) => process.stdout.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const store = await openEtcdStore(spec, { leaseTtl: Number(ttl ?? 2) });
process.on('SIGTERM', () => void store.close().finally(() => process.exit(0)));
// One Leadership for the process's life, as the agent loop holds it: after a
// lapse it campaigns again by itself; isLeader() says where it stands.
let l;
for (;;) {
  try {
    l = await store.campaign(node);
    break;
  } catch (e) {
    say(`error ${(e as Error).message}`);
    await sleep(200);
  }
}
say('standby');
l.onLost(() => say('lost'));
let leading = false;
for (;;) {
  if (l.isLeader()) {
    if (!leading) say('elected');
    leading = true;
    try {
      await l.fenced(async () => appendFileSync(calls, `${node} ${Date.now()}\n`));
    } catch (e) {
      say(`refused ${(e as Error).message}`);
    }
  } else if (leading) {
    leading = false;
    say('standby');
  }
  await sleep(100);
}
