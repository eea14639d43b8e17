import { Injectable } from '@nestjs/common';
import { Counter } from 'prom-client';
import { MetricsService } from '@app/observability';

export type RegistrationAction = 'register' | 'unregister' | 'status';
export type RegistrationOutcome =
  | 'created'
  | 'updated'
  | 'removed'
  | 'found'
  | 'not_found'
  | 'invalid'
  | 'unauthorized'
  | 'forbidden'
  | 'unavailable';

/** Route patterns of the registration actions, for counting refusals that happen before a handler runs. */
export const REGISTRATION_ROUTES: Readonly<Record<string, RegistrationAction>> = {
  '/register': 'register',
  '/unregister': 'unregister',
  '/status': 'status',
};

/** msl_registrations_total{action,outcome}. */
@Injectable()
export class RegistrationMetrics {
  private readonly outcomes: Counter<'action' | 'outcome'>;

  constructor(metrics: MetricsService) {
    this.outcomes = metrics.counter(
      'msl_registrations_total',
      'Registration requests by action and outcome',
      ['action', 'outcome'],
    );
  }

  record(action: RegistrationAction, outcome: RegistrationOutcome): void {
    this.outcomes.inc({ action, outcome });
  }

  /** Counts an error answer given on a registration route (bad body, bad field, refused, database down). */
  recordRefusal(route: string, statusCode: number): void {
    const action = Object.prototype.hasOwnProperty.call(REGISTRATION_ROUTES, route)
      ? REGISTRATION_ROUTES[route]
      : undefined;
    if (!action) return;
    this.record(action, RegistrationMetrics.outcomeOf(statusCode));
  }

  static outcomeOf(statusCode: number): RegistrationOutcome {
    if (statusCode === 401) return 'unauthorized';
    if (statusCode === 403) return 'forbidden';
    if (statusCode === 404) return 'not_found';
    if (statusCode >= 500) return 'unavailable';
    return 'invalid';
  }
}
