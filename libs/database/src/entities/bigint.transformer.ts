import { ValueTransformer } from 'typeorm';

/** Millisecond timestamps are stored as BIGINT (as the original's `lastUpdate`); drivers return them as strings. */
export const bigintAsNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | number | null) => (value === null ? null : Number(value)),
};
