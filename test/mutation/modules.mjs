/**
 * The modules under mutation testing: the code that holds the contract's
 * rules, and the tests that prove those rules. Each module's mutants are
 * judged by its own tests only, so a rule counts as proven only where it is
 * tested, and a run stays bounded. End-to-end files that spawn the built apps
 * are not listed: they run dist/, which no mutant reaches.
 */
export const MODULES = {
  security: {
    mutate: ['libs/security/src/**/*.ts'],
    tests: ['libs/security/src/**/*.spec.ts'],
  },
  registrations: {
    mutate: [
      'apps/api/src/registrations/dto/field-rules.ts',
      'apps/api/src/registrations/registration-rules.ts',
      'apps/api/src/registrations/instance-url.ts',
    ],
    tests: ['apps/api/src/registrations/**/*.spec.ts'],
  },
  repositories: {
    mutate: ['libs/database/src/repositories/*.ts'],
    tests: ['libs/database/src/**/*.spec.ts', 'test/database/*.e2e-spec.ts'],
  },
  stream: {
    mutate: ['libs/mastodon/src/mastodon-stream.ts', 'libs/mastodon/src/streaming-frame.parser.ts'],
    tests: ['libs/mastodon/src/mastodon-stream.spec.ts', 'libs/mastodon/src/streaming-frame.parser.spec.ts'],
  },
  // retry policy (what each answer means, backoff, Retry-After, deadline) and signing
  callback: {
    mutate: ['libs/callback/src/retry-policy.ts', 'libs/callback/src/webhook-signer.ts'],
    tests: ['libs/callback/src/retry-policy.spec.ts', 'libs/callback/src/webhook-signer.spec.ts'],
  },
  // catch-up after a reconnect: pages, cursors, the per-instance gate, object ids
  catchup: {
    mutate: ['apps/listener/src/catch-up/*.ts'],
    tests: ['apps/listener/src/catch-up/*.spec.ts'],
  },
  // registration removal (reasons, events, the state recorder)
  lifecycle: {
    mutate: ['apps/listener/src/lifecycle/*.ts'],
    tests: ['apps/listener/src/lifecycle/*.spec.ts'],
  },
  // who owns which registration: rendezvous hashing, live members, handovers, limit shares
  membership: {
    mutate: ['apps/listener/src/membership/rendezvous.ts', 'apps/listener/src/membership/membership.service.ts'],
    tests: ['apps/listener/src/membership/*.spec.ts'],
  },
};
