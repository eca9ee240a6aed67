// The etcd store spec and its TLS options, pure (no etcd).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseEtcdSpec, isEtcdSpec } from '../../src/agent/store/etcd/spec.js';
import { leaseTtl, tlsMaterials } from '../../src/agent/store/etcd/connect.js';
import { ToolError } from '../../src/lib/errors.js';
import { EXIT } from '../../src/lib/exit-codes.js';

const usage = (f: () => unknown, re: RegExp) => {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof ToolError && e.exitCode === EXIT.USAGE, String(e));
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable('expected a usage error');
};

test('etcd:// and etcds:// specs: endpoints and a prefix', () => {
  assert.equal(parseEtcdSpec('etcd://127.0.0.1:2379/dvm/c1'), { tls: false, endpoints: ['127.0.0.1:2379'], prefix: '/dvm/c1' });
  assert.equal(parseEtcdSpec('etcds://a.example:2379,b.example:2380/c1/'), { tls: true, endpoints: ['a.example:2379', 'b.example:2380'], prefix: '/c1' });
  assert.equal(parseEtcdSpec('etcd://[::1]:2379/x').endpoints, ['[::1]:2379']);
  assert.ok(isEtcdSpec('etcd://h:1/p') && isEtcdSpec('etcds://h:1/p') && !isEtcdSpec('/srv/store') && !isEtcdSpec('etcd:/x'));
});

test('bad specs are usage errors that say why', () => {
  usage(() => parseEtcdSpec('etcd://127.0.0.1:2379'), /no key prefix/);
  usage(() => parseEtcdSpec('etcd://127.0.0.1:2379/'), /no key prefix/);
  usage(() => parseEtcdSpec('etcd:///dvm'), /no endpoint/);
  usage(() => parseEtcdSpec('etcd://127.0.0.1/dvm'), /not HOST:PORT/);
  usage(() => parseEtcdSpec('etcd://127.0.0.1:99999/dvm'), /port out of range/);
  usage(() => parseEtcdSpec('etcd://h:1,h:1/dvm'), /twice/);
  usage(() => parseEtcdSpec('etcd://h:1/dvm/../x'), /prefix segment/);
  usage(() => parseEtcdSpec('etcd://h:1/dvm//x'), /prefix segment/);
  usage(() => parseEtcdSpec('etcd://h:1/d m'), /prefix segment/);
  usage(() => parseEtcdSpec('http://h:1/x'), /expected etcd/);
});

test('TLS materials: options or ETCDCTL_* variables; etcds needs all three; a loose key is refused', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'dvm-tls-'));
  try {
    const f = (name: string, mode: number) => {
      const p = path.join(dir, name);
      writeFileSync(p, `-----${name}-----\n`, { mode });
      return p;
    };
    const ca = f('ca.pem', 0o644);
    const cert = f('cert.pem', 0o644);
    const key = f('key.pem', 0o600);
    const loose = f('loose.pem', 0o640);
    const tls = parseEtcdSpec('etcds://h:1/p');
    const plain = parseEtcdSpec('etcd://h:1/p');
    const m = tlsMaterials(tls, { cacert: ca, cert, key, env: {} })!;
    assert.is(m.privateKey.toString(), '-----key.pem-----\n');
    const e = tlsMaterials(tls, { env: { ETCDCTL_CACERT: ca, ETCDCTL_CERT: cert, ETCDCTL_KEY: key } })!;
    assert.is(e.rootCertificate.toString(), '-----ca.pem-----\n');
    assert.is(tlsMaterials(plain, { env: { ETCDCTL_CACERT: ca } }), null, 'stray variables do not matter for a plain store');
    usage(() => tlsMaterials(plain, { cacert: ca, env: {} }), /use etcds/);
    usage(() => tlsMaterials(tls, { cert, key, env: {} }), /needs the CA/);
    usage(() => tlsMaterials(tls, { cacert: ca, env: {} }), /client certificate/);
    try {
      tlsMaterials(tls, { cacert: ca, cert, key: loose, env: {} });
      assert.unreachable('a loose key was accepted');
    } catch (err) {
      assert.ok(err instanceof ToolError && err.exitCode === EXIT.ENVIRONMENT && /readable by others/.test(err.message), String(err));
    }
    try {
      tlsMaterials(tls, { cacert: path.join(dir, 'missing.pem'), cert, key, env: {} });
      assert.unreachable('a missing CA was accepted');
    } catch (err) {
      assert.ok(err instanceof ToolError && /ENOENT/.test(err.message), String(err));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lease ttl: option, DVM_ETCD_LEASE_TTL, default 10; whole seconds only', () => {
  assert.is(leaseTtl({ env: {} }), 10);
  assert.is(leaseTtl({ env: { DVM_ETCD_LEASE_TTL: '3' } }), 3);
  assert.is(leaseTtl({ leaseTtl: 2, env: { DVM_ETCD_LEASE_TTL: '3' } }), 2);
  usage(() => leaseTtl({ env: { DVM_ETCD_LEASE_TTL: 'x' } }), /whole seconds/);
  usage(() => leaseTtl({ leaseTtl: 0.5 }), /whole seconds/);
});

test.run();
