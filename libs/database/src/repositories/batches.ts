/**
 * Ids per IN list: within every dialect's limit on bound parameters (SQL
 * Server's is the lowest, 2,100 per statement).
 */
const ID_BATCH = 500;

/** `items` in consecutive slices of `size`, in order. */
export function* batches<T>(items: readonly T[], size = ID_BATCH): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}
