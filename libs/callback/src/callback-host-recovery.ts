/**
 * Which registrations wait out a backoff because their callback host failed
 * them (no answer, 5xx), by host. Each registration's retries back off on
 * their own; once any request to the host gets an answer, those waits are
 * pointless, so `answered` hands back every registration waiting on that host
 * and the retry worker makes their rows due at once. Rows waiting on a
 * `Retry-After` the host asked for are not tracked here: that wait is the host's wish.
 */
export class CallbackHostRecovery {
  /** Registrations backed off, by host (URL origin). */
  private readonly waiting = new Map<string, Set<number>>();
  /** The host each tracked registration waits on. */
  private readonly hostOf = new Map<number, string>();

  /** `registrationId`'s head failed at `callbackUrl`'s host and waits on its backoff. */
  failed(registrationId: number, callbackUrl: string): void {
    const host = hostOf(callbackUrl);
    if (host === undefined) return;
    const previous = this.hostOf.get(registrationId);
    if (previous === host) return;
    if (previous !== undefined) this.forget(registrationId);
    this.hostOf.set(registrationId, host);
    let registrations = this.waiting.get(host);
    if (!registrations) {
      registrations = new Set();
      this.waiting.set(host, registrations);
    }
    registrations.add(registrationId);
  }

  /**
   * A request to `callbackUrl`'s host got an answer (any answer: the host is
   * there). Returns the registrations that waited on it, no longer tracked.
   * Cheap while no host is failing: this is called for every delivery.
   */
  answered(callbackUrl: string): number[] {
    if (this.waiting.size === 0) return [];
    const host = hostOf(callbackUrl);
    const registrations = host === undefined ? undefined : this.waiting.get(host);
    if (!registrations || host === undefined) return [];
    this.waiting.delete(host);
    for (const id of registrations) this.hostOf.delete(id);
    return [...registrations];
  }

  forget(registrationId: number): void {
    const host = this.hostOf.get(registrationId);
    if (host === undefined) return;
    this.hostOf.delete(registrationId);
    const registrations = this.waiting.get(host);
    registrations?.delete(registrationId);
    if (registrations?.size === 0) this.waiting.delete(host);
  }

  /** Registrations tracked (for tests and logs). */
  get size(): number {
    return this.hostOf.size;
  }
}

/** Scheme, host and port: requests to one origin share one receiver. */
function hostOf(callbackUrl: string): string | undefined {
  try {
    return new URL(callbackUrl).origin;
  } catch {
    return undefined;
  }
}
