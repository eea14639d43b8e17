import {
  DELIVERIES_TABLE,
  NewPendingDelivery,
  PendingDeliveryEntity,
  PendingDeliveryRepository,
} from '@app/database';
import { registrationsOnDatabase, RegistrationsOnDatabase } from './registrations-on-database';

const T = 1_700_000_000_000;

/** The callback retry queue: order per registration, what is due, what is kept, on the real database of the run. */
describe('pending deliveries (real database)', () => {
  let on: RegistrationsOnDatabase;
  let pending: PendingDeliveryRepository;
  let tags = 0;
  /** A new registration (events reference their registration); its id. */
  const registration = () => on.register(`queue-${++tags}`, T);
  const registrations = (n: number) => Promise.all(Array.from({ length: n }, registration));

  beforeAll(async () => {
    on = await registrationsOnDatabase();
    pending = new PendingDeliveryRepository(on.db.dataSource.getRepository(PendingDeliveryEntity));
  });

  afterAll(async () => {
    await on?.db.drop();
  });

  beforeEach(async () => {
    await on.db.query(`DELETE FROM ${DELIVERIES_TABLE}`);
  });

  function delivery(
    registrationId: number,
    n: number,
    change: Partial<NewPendingDelivery> = {},
  ): NewPendingDelivery {
    return {
      registrationId,
      webhookId: `msg_${registrationId}_${n}`,
      event: 'notification',
      body: `{"n":${n}}`,
      attempts: 0,
      receivedAt: T + n,
      nextAttemptAt: T + n,
      deadlineAt: T + 86_400_000,
      ...change,
    };
  }

  const webhookIds = (rows: PendingDeliveryEntity[]) => rows.map((r) => r.webhookId);

  it('stores every field and reads the events back in the order they were appended, hundreds at once', async () => {
    const r = await registration();
    const events = Array.from({ length: 450 }, (_, n) => delivery(r, n, { nextAttemptAt: T - n }));
    const expected = events.map((e) => ({ ...e, id: expect.any(String), lastError: null }));
    await pending.append(events);
    await pending.append([]);

    const stored = await pending.findFirst(r, 1000);
    expect(stored).toEqual(expected);
    expect(await pending.countForRegistration(r)).toBe(450);
  });

  it('claims only the due head of each registration, soonest first, up to the limit', async () => {
    const [late, soon, notDue, behindHead] = await registrations(4);
    await pending.append([
      delivery(late, 1, { nextAttemptAt: T + 10 }),
      delivery(behindHead, 1, { nextAttemptAt: T + 100 }),
      delivery(soon, 1, { nextAttemptAt: T + 5 }),
      delivery(late, 2, { nextAttemptAt: T }),
      delivery(notDue, 1, { nextAttemptAt: T + 51 }),
      delivery(behindHead, 2, { nextAttemptAt: T }),
    ]);

    expect(webhookIds(await pending.findDueHeads(T + 50, 10))).toEqual([
      `msg_${soon}_1`,
      `msg_${late}_1`,
    ]);
    expect(webhookIds(await pending.findDueHeads(T + 50, 1))).toEqual([`msg_${soon}_1`]);
    // due exactly now counts as due
    expect(webhookIds(await pending.findDueHeads(T + 5, 10))).toEqual([`msg_${soon}_1`]);
    expect(await pending.findDueHeads(T + 4, 10)).toEqual([]);
  });

  it('keeps the oldest event as the head of its registration after it failed', async () => {
    const [r, other] = await registrations(2);
    await pending.append([delivery(other, 0), delivery(r, 1), delivery(r, 2), delivery(r, 3)]);
    const [head] = await pending.findFirst(r, 1);
    await pending.recordFailure(head.id, 1, T + 60_000, 'HTTP 503');

    expect(await pending.findHead(r)).toMatchObject({ webhookId: `msg_${r}_1`, attempts: 1 });
    expect(webhookIds(await pending.findFirst(r, 2))).toEqual([`msg_${r}_1`, `msg_${r}_2`]);
    expect(await pending.findHead(await registration())).toBeUndefined();
    expect(await pending.findFirst(await registration(), 5)).toEqual([]);
  });

  it('records a failure on that event alone, the error cut to 255 characters', async () => {
    const r = await registration();
    await pending.append([delivery(r, 1), delivery(r, 2)]);
    const [first, second] = await pending.findFirst(r, 2);
    await pending.recordFailure(first.id, 3, T + 9_000, 'x'.repeat(300));

    expect(await pending.findFirst(r, 2)).toEqual([
      { ...first, attempts: 3, nextAttemptAt: T + 9_000, lastError: 'x'.repeat(255) },
      second,
    ]);
  });

  it('makes waiting events of the given registrations due now; earlier ones and others keep their time', async () => {
    const [back, alsoBack, untouched] = await registrations(3);
    await pending.append([
      delivery(back, 1, { nextAttemptAt: T + 1_000 }),
      delivery(back, 2, { nextAttemptAt: T - 1_000 }),
      delivery(alsoBack, 1, { nextAttemptAt: T + 2_000 }),
      delivery(untouched, 1, { nextAttemptAt: T + 1_000 }),
    ]);
    await pending.makeDue([back, alsoBack], T);
    await pending.makeDue([], T);

    const times = async (r: number) => (await pending.findFirst(r, 10)).map((d) => d.nextAttemptAt);
    expect(await times(back)).toEqual([T, T - 1_000]);
    expect(await times(alsoBack)).toEqual([T]);
    expect(await times(untouched)).toEqual([T + 1_000]);
  });

  it('lists each registration with events once, and which of some given ones have events', async () => {
    const [two, one, none] = await registrations(3);
    await pending.append([delivery(two, 1), delivery(one, 1), delivery(two, 2)]);

    expect((await pending.registrationIdsWithPending()).sort((a, b) => a - b)).toEqual(
      [two, one].sort((a, b) => a - b),
    );
    expect(await pending.registrationIdsWithPendingAmong([two, none])).toEqual([two]);
    expect(await pending.registrationIdsWithPendingAmong([])).toEqual([]);
    // more ids than one IN list holds
    const many = Array.from({ length: 600 }, (_, i) => none + 1_000 + i).concat(one);
    expect(await pending.registrationIdsWithPendingAmong(many)).toEqual([one]);
  });

  it('counts the events of one registration and of the whole queue', async () => {
    const [three, other] = await registrations(2);
    await pending.append([
      delivery(three, 1),
      delivery(other, 1),
      delivery(three, 2),
      delivery(three, 3),
    ]);

    expect(await pending.countForRegistration(three)).toBe(3);
    expect(await pending.countForRegistration(await registration())).toBe(0);
    expect(await pending.count()).toBe(4);
  });

  it('deletes the given events, and all events of the given registrations; keeps the rest', async () => {
    const [r, gone, kept] = await registrations(3);
    await pending.append([
      delivery(r, 1),
      delivery(r, 2),
      delivery(gone, 1),
      delivery(gone, 2),
      delivery(kept, 1),
    ]);
    const [first] = await pending.findFirst(r, 1);

    await pending.delete([first.id]);
    await pending.delete([]);
    await pending.deleteForRegistrations([gone]);
    await pending.deleteForRegistrations([]);

    expect(webhookIds(await pending.findFirst(r, 10))).toEqual([`msg_${r}_2`]);
    expect(await pending.countForRegistration(gone)).toBe(0);
    expect(webhookIds(await pending.findFirst(kept, 10))).toEqual([`msg_${kept}_1`]);
  });

  it('reports the depth and oldest arrival of the queue, none when it is empty', async () => {
    expect(await pending.depthAndOldest()).toEqual({ depth: 0, oldestReceivedAt: null });
    const r = await registration();
    await pending.append([
      delivery(r, 1, { receivedAt: T + 7 }),
      delivery(r, 2, { receivedAt: T + 3 }),
      delivery(r, 3, { receivedAt: T + 9 }),
    ]);
    expect(await pending.depthAndOldest()).toEqual({ depth: 3, oldestReceivedAt: T + 3 });
  });
});
