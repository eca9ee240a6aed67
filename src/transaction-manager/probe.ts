// What is already on a device: tm init/add refuse to overwrite any of these
// without --force (a dvm label, an LVM2 label, a filesystem, a partition table).
import type { Dev } from '../pv-format/device.js';
import { hasLabelMagic, LABEL_OFFSET } from '../pv-format/layout.js';

const SIGNATURES: { name: string; offset: number; bytes: Buffer }[] = [
  { name: 'LVM2 PV label', offset: 512, bytes: Buffer.from('LABELONE') },
  { name: 'LVM2 PV label', offset: 0, bytes: Buffer.from('LABELONE') },
  { name: 'LVM2 PV label', offset: 1024, bytes: Buffer.from('LABELONE') },
  { name: 'LVM2 PV label', offset: 1536, bytes: Buffer.from('LABELONE') },
  { name: 'ext2/3/4 filesystem', offset: 1080, bytes: Buffer.from([0x53, 0xef]) },
  { name: 'XFS filesystem', offset: 0, bytes: Buffer.from('XFSB') },
  { name: 'btrfs filesystem', offset: 65600, bytes: Buffer.from('_BHRfS_M') },
  { name: 'swap', offset: 4086, bytes: Buffer.from('SWAPSPACE2') },
  { name: 'swap', offset: 4086, bytes: Buffer.from('SWAP-SPACE') },
  { name: 'LUKS container', offset: 0, bytes: Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]) },
  { name: 'squashfs', offset: 0, bytes: Buffer.from('hsqs') },
  { name: 'ISO 9660 filesystem', offset: 32769, bytes: Buffer.from('CD001') },
  { name: 'GPT partition table', offset: 512, bytes: Buffer.from('EFI PART') },
  { name: 'MBR partition table or FAT boot sector', offset: 510, bytes: Buffer.from([0x55, 0xaa]) },
];

/** How much of a device's start probeSignature reads. */
export const PROBE_BYTES = 65536 + 4096;

/** The first signature found, or null when the device looks unused. */
export function probeSignature(dev: Dev): string | null {
  const len = Math.min(dev.size, PROBE_BYTES);
  const head = dev.read(0, len);
  if (len >= LABEL_OFFSET + 8 && hasLabelMagic(head.subarray(LABEL_OFFSET))) return 'dvm PV label';
  for (const s of SIGNATURES) {
    if (s.offset + s.bytes.length <= len && head.subarray(s.offset, s.offset + s.bytes.length).equals(s.bytes)) return s.name;
  }
  return null;
}

/**
 * A read-only view of `dev` whose first PROBE_BYTES come from one read: tm add
 * checks a new device for membership of the VG (its label and headers) and
 * for signatures without reading its start twice.
 */
export function headCached(dev: Dev): Dev {
  const len = Math.min(dev.size, PROBE_BYTES);
  const head = dev.read(0, len);
  return {
    path: dev.path,
    size: dev.size,
    read: (o, l) => (o >= 0 && o + l <= len ? Buffer.from(head.subarray(o, o + l)) : dev.read(o, l)),
    write: () => {
      throw new Error(`read-only view of ${dev.path}`);
    },
    sync: () => undefined,
    close: () => undefined,
  };
}
