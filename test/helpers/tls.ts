import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A private CA and a server certificate it signed, valid for localhost, 127.0.0.1 and ::1. */
export interface TestCa {
  caPem: string;
  /** For NODE_EXTRA_CA_CERTS in child processes. */
  caPath: string;
  certPem: string;
  certPath: string;
  keyPem: string;
  keyPath: string;
}

const cache = new Map<string, TestCa>();

/**
 * Makes (once per process and directory) a test CA and a server certificate with the openssl
 * CLI. Without `dir` the files go to a temporary directory removed when the process exits.
 * A real CA, rather than a self-signed leaf, lets tests exercise the trust path the delivery
 * client uses in production (`ca` option, NODE_EXTRA_CA_CERTS).
 */
export function createTestCa(dir?: string): TestCa {
  const key = dir ?? '';
  const cached = cache.get(key);
  if (cached) return cached;

  const out = dir ?? temporaryDir();
  mkdirSync(out, { recursive: true });
  const path = (name: string) => join(out, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

  openssl(
    'req',
    '-x509',
    ...ecKey,
    '-keyout',
    path('ca.key'),
    '-out',
    path('ca.pem'),
    '-days',
    '3650',
    '-subj',
    '/CN=Herald Test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  openssl('req', ...ecKey, '-keyout', path('server.key'), '-out', path('server.csr'), '-subj', '/CN=localhost');
  writeFileSync(
    path('server.ext'),
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
    ].join('\n'),
  );
  openssl(
    'x509',
    '-req',
    '-in',
    path('server.csr'),
    '-CA',
    path('ca.pem'),
    '-CAkey',
    path('ca.key'),
    '-CAcreateserial',
    '-out',
    path('server.pem'),
    '-days',
    '825',
    '-extfile',
    path('server.ext'),
  );

  const ca: TestCa = {
    caPem: readFileSync(path('ca.pem'), 'utf8'),
    caPath: path('ca.pem'),
    certPem: readFileSync(path('server.pem'), 'utf8'),
    certPath: path('server.pem'),
    keyPem: readFileSync(path('server.key'), 'utf8'),
    keyPath: path('server.key'),
  };
  cache.set(key, ca);
  return ca;
}

function temporaryDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'herald-test-ca-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
