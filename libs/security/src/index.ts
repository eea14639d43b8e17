export * from './address-policy';
export * from './redaction';
export * from './secret-hash';
export * from './token-cipher';
export * from './callback-target';
