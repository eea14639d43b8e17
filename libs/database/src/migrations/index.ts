import { Registrations1732300000000 } from './1732300000000-registrations.migration';
import { Deliveries1732300000001 } from './1732300000001-deliveries.migration';
import { CatchUpCursor1732300000002 } from './1732300000002-catch-up-cursor.migration';
import { RegistrationLifecycle1732300000003 } from './1732300000003-registration-lifecycle.migration';
import { ListenerNodes1732300000004 } from './1732300000004-listener-nodes.migration';
import { WebPush1732300000005 } from './1732300000005-web-push.migration';

/** Listed explicitly (no globs) so the compiled apps find them wherever they run. */
export const MIGRATIONS = [
  Registrations1732300000000,
  Deliveries1732300000001,
  CatchUpCursor1732300000002,
  RegistrationLifecycle1732300000003,
  ListenerNodes1732300000004,
  WebPush1732300000005,
];
