// Small builders over the etcd3 client's typed KV requests, so a transaction
// reads as its compares and operations. Keys are whole (prefix included).
import type { Etcd3, ICompare, IKeyValue, IRequestOp, ITxnResponse } from 'etcd3';

const b = (s: string) => Buffer.from(s);

/** The key just past every key starting with `prefix` (etcd's range_end for a prefix). */
export function prefixEnd(prefix: string): Buffer {
  const buf = Buffer.from(prefix);
  for (let i = buf.length - 1; i >= 0; i--) {
    if (buf[i] < 0xff) {
      const end = Buffer.from(buf.subarray(0, i + 1));
      end[i]++;
      return end;
    }
  }
  return Buffer.from([0]);
}

export const get = (key: string): IRequestOp => ({ request_range: { key: b(key) } });
export const getPrefix = (prefix: string): IRequestOp => ({ request_range: { key: b(prefix), range_end: prefixEnd(prefix) } });
export const put = (key: string, value: string, lease?: string): IRequestOp => ({ request_put: { key: b(key), value: b(value), ...(lease ? { lease } : {}) } });
export const del = (key: string): IRequestOp => ({ request_delete_range: { key: b(key) } });

/** `key`'s mod revision equals `rev` ("0": the key does not exist). */
export const modIs = (key: string, rev: string): ICompare => ({ key: b(key), target: 'Mod', result: 'Equal', mod_revision: rev });
/** `key`'s create revision equals `rev` ("0": the key does not exist). */
export const createIs = (key: string, rev: string): ICompare => ({ key: b(key), target: 'Create', result: 'Equal', create_revision: rev });

export interface Txn {
  succeeded: boolean;
  revision: string;
  /** Key-values of each range operation of the branch that ran, in order (non-range ops: []). */
  ranges: IKeyValue[][];
}

export async function txn(client: Etcd3, compare: ICompare[], success: IRequestOp[], failure: IRequestOp[] = []): Promise<Txn> {
  const r: ITxnResponse = await client.kv.txn({ compare, success, failure });
  return {
    succeeded: r.succeeded,
    revision: String(r.header.revision),
    ranges: (r.responses ?? []).map((op) => op.response_range?.kvs ?? []),
  };
}

export const keyOf = (kv: IKeyValue) => kv.key.toString();
export const textOf = (kv: IKeyValue) => kv.value.toString();
