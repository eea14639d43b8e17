/** The part of `http_ece` (it ships no types) that push decryption uses. */
declare module 'http_ece' {
  import type { ECDH } from 'node:crypto';

  export interface EceParameters {
    version?: 'aes128gcm' | 'aesgcm' | 'aesgcm128';
    privateKey?: ECDH;
    dh?: string;
    salt?: string;
    authSecret?: string;
    rs?: number;
    keyid?: string;
  }

  export function decrypt(buffer: Buffer, parameters: EceParameters): Buffer;
  export function encrypt(buffer: Buffer, parameters: EceParameters): Buffer;
}
