/**
 * Polls `condition` until it returns a truthy value or the deadline passes.
 * Tests wait on conditions like this, never on fixed sleeps.
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  /** `what` may be a function, to say how far things got when the wait times out. */
  options: { timeoutMs?: number; intervalMs?: number; what?: string | (() => string) } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const reason = lastError instanceof Error ? `: ${lastError.message}` : '';
      const what = typeof options.what === 'function' ? options.what() : options.what;
      throw new Error(`timed out waiting for ${what ?? 'condition'}${reason}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50));
  }
}
