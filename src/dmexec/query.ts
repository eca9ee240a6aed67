// `dmexec --query`: the kernel's devices in a scope as a dvm.dm/1 document.
import { FORMATS } from '../lib/schema.js';
import { FLAG, decodeDev } from './layout.js';
import type { DmControl } from './control.js';
import type { KernelDevice, KernelState } from '../lib/dm-doc.js';

export function queryState(ctl: DmControl, scope: string): KernelState {
  const devices: KernelDevice[] = [];
  for (const entry of ctl.list()) {
    const info = ctl.info(entry.name);
    if (!info || !info.uuid.startsWith(scope)) continue; // gone meanwhile, or not ours
    const live = info.flags & FLAG.ACTIVE_PRESENT ? ctl.lines(entry.name, { table: true }) : [];
    const inactive = info.flags & FLAG.INACTIVE_PRESENT ? ctl.lines(entry.name, { table: true, inactive: true }) : null;
    const status = live.length ? ctl.lines(entry.name, { table: false }) : [];
    const { major, minor } = decodeDev(info.dev);
    devices.push({
      name: entry.name,
      uuid: info.uuid,
      table: live,
      inactive_table: inactive,
      status,
      read_only: Boolean(info.flags & FLAG.READONLY),
      suspended: Boolean(info.flags & FLAG.SUSPEND),
      open_count: Math.max(0, info.openCount),
      major,
      minor,
      event_nr: info.eventNr,
    });
  }
  devices.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { format: FORMATS.dm, scope, kernel: ctl.version, devices };
}
