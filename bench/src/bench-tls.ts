import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** A throwaway certificate authority and a server certificate for 127.0.0.1 it signed, in a temporary folder. */
export interface BenchTls {
  /** PEM of the CA: given to the listeners only, as NODE_EXTRA_CA_CERTS. */
  caFile: string;
  keyFile: string;
  certFile: string;
  remove(): void;
}

/**
 * Made at every run with openssl (never stored in the repository): the fake
 * instances serve https/wss with the server certificate, and only the
 * benchmark's listener processes trust the CA, as every real instance is
 * trusted through the system's CAs.
 */
export function createBenchTls(): BenchTls {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msl-bench-tls-'));
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=msl bench CA',
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.pem'),
  );
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    file('server.key'),
    '-out',
    file('server.csr'),
  );
  fs.writeFileSync(file('san.ext'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n');
  openssl(
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.pem'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    file('san.ext'),
    '-out',
    file('server.pem'),
  );
  return {
    caFile: file('ca.pem'),
    keyFile: file('server.key'),
    certFile: file('server.pem'),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
