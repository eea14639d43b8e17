import { CursorBook } from './cursor-book';

/** How many entries the book still holds for `id` (its memory for events in flight). */
function retained(book: CursorBook, id: number): number {
  return (book as unknown as { states: Map<number, { pending: unknown[] }> }).states.get(id)!
    .pending.length;
}

describe('CursorBook', () => {
  let book: CursorBook;

  beforeEach(() => {
    book = new CursorBook();
    book.adopt(1, 'notifications', '100');
  });

  it('moves the cursor only past events that are safe, in the order they were handed over', () => {
    book.dispatched(1, '101');
    book.dispatched(1, '102');
    book.dispatched(1, '103');
    book.settled(1, '102');
    expect(book.cursorOf(1)).toBe('100');
    book.settled(1, '101');
    expect(book.cursorOf(1)).toBe('102');
    book.settled(1, '103');
    expect(book.cursorOf(1)).toBe('103');
    expect(book.takeChanges()).toEqual([{ id: 1, cursor: '103' }]);
    expect(book.takeChanges()).toEqual([]);
  });

  it('starts the next catch-up past everything handed over, even before it is safe', () => {
    book.dispatched(1, '101');
    expect(book.cursorOf(1)).toBe('100');
    expect(book.catchUpFrom(1)).toBe('101');
  });

  it('never moves back: an older id that becomes safe leaves the cursor where it is', () => {
    book.dispatched(1, '150');
    book.settled(1, '150');
    book.dispatched(1, '120');
    book.settled(1, '120');
    expect(book.cursorOf(1)).toBe('150');
  });

  it('holds the cursor before an unfetched gap until the gap is fetched and safe', () => {
    book.hold(1);
    // live events relayed while the catch-up waits for its retry
    book.dispatched(1, '205');
    book.settled(1, '205');
    expect(book.cursorOf(1)).toBe('100');
    expect(book.catchUpFrom(1)).toBe('100');
    // the retry relays the gap, then releases the hold
    book.dispatched(1, '150');
    book.release(1);
    expect(book.cursorOf(1)).toBe('100');
    book.settled(1, '150');
    expect(book.cursorOf(1)).toBe('205');
    expect(book.isHeld(1)).toBe(false);
  });

  it('a failure after a release keeps holding (the older release does not end the newer hold)', () => {
    book.hold(1);
    book.dispatched(1, '150');
    book.release(1);
    book.hold(1);
    book.settled(1, '150');
    expect(book.isHeld(1)).toBe(true);
    expect(book.cursorOf(1)).toBe('100');
  });

  it('takes a floor once everything handed over before it is safe', () => {
    book.adopt(2, 'notifications', null);
    expect(book.catchUpFrom(2)).toBeNull();
    book.dispatched(2, '7');
    book.advanceTo(2, '9');
    expect(book.cursorOf(2)).toBeNull();
    book.settled(2, '7');
    expect(book.cursorOf(2)).toBe('9');
  });

  it('starts over when the endpoint moves to another id space, and stores that', () => {
    book.dispatched(1, '101');
    book.settled(1, '101');
    book.takeChanges();
    book.adopt(1, 'conversations', '101');
    expect(book.catchUpFrom(1)).toBeNull();
    expect(book.takeChanges()).toEqual([{ id: 1, cursor: null }]);
    // the same collection again keeps what it knows
    book.advanceTo(1, '113000000000000000001');
    book.takeChanges();
    book.adopt(1, 'conversations', null);
    expect(book.cursorOf(1)).toBe('113000000000000000001');
    // the row had lost it: it is stored again
    expect(book.takeChanges()).toEqual([{ id: 1, cursor: '113000000000000000001' }]);
  });

  it('gives changes back for the next flush when storing failed', () => {
    book.dispatched(1, '101');
    book.settled(1, '101');
    const changes = book.takeChanges();
    book.restore(changes);
    expect(book.takeChanges()).toEqual([{ id: 1, cursor: '101' }]);
  });

  it('ignores what it does not know and forgets on request', () => {
    book.settled(9, '1');
    book.dispatched(9, '1');
    expect(book.knows(9)).toBe(false);
    book.forget(1);
    expect(book.knows(1)).toBe(false);
    expect(book.takeChanges()).toEqual([]);
  });

  it('stays correct across a long backlog settled out of order', () => {
    const ids = Array.from({ length: 3_000 }, (_, i) => String(1_000 + i));
    for (const id of ids) book.dispatched(1, id);
    for (let i = 0; i < 2_000; i++) book.settled(1, ids[i]);
    expect(book.cursorOf(1)).toBe(ids[1_999]);
    book.settled(1, ids[2_500]);
    for (let i = 2_000; i < 2_500; i++) book.settled(1, ids[i]);
    expect(book.cursorOf(1)).toBe(ids[2_500]);
    for (let i = 2_501; i < 3_000; i++) book.settled(1, ids[i]);
    expect(book.cursorOf(1)).toBe(ids[2_999]);
  });

  it('keeps where the first gap starts when a retried catch-up fails again', () => {
    book.adopt(1, 'notifications', '100');
    book.hold(1);
    // relayed live while the retry waits
    book.dispatched(1, '103');
    book.hold(1);
    expect(book.catchUpFrom(1)).toBe('100');
  });

  it('stores nothing when re-adopted with the cursor the row already has', () => {
    book.dispatched(1, '101');
    book.settled(1, '101');
    book.takeChanges();
    book.adopt(1, 'notifications', '101');
    expect(book.takeChanges()).toEqual([]);
    expect(book.cursorOf(1)).toBe('101');
  });

  it('stores nothing when a registration without a cursor is re-adopted without one', () => {
    book.adopt(2, 'notifications', null);
    book.adopt(2, 'notifications', null);
    expect(book.takeChanges()).toEqual([]);
  });

  it('stores nothing when the event that becomes safe has the id of the cursor', () => {
    book.dispatched(1, '100');
    book.settled(1, '100');
    expect(book.takeChanges()).toEqual([]);
  });

  it('keeps an event settled early across the compaction of a long backlog', () => {
    const ids = Array.from({ length: 3_000 }, (_, i) => String(1_000 + i));
    for (const id of ids) book.dispatched(1, id);
    book.settled(1, ids[2_999]);
    for (let i = 0; i < 2_999; i++) book.settled(1, ids[i]);
    expect(book.cursorOf(1)).toBe(ids[2_999]);
  });

  it('keeps nothing of the events once they are all safe', () => {
    book.dispatched(1, '101');
    book.dispatched(1, '102');
    book.advanceTo(1, '103');
    book.settled(1, '102');
    book.settled(1, '101');
    expect(book.cursorOf(1)).toBe('103');
    expect(retained(book, 1)).toBe(0);
  });

  it('keeps its memory bounded by the events in flight, however many pass', () => {
    for (const inFlight of [1, 3_000]) {
      book.adopt(inFlight, 'notifications', null);
      for (let i = 0; i < inFlight; i++) book.dispatched(inFlight, String(1_000 + i));
      for (let i = 0; i < 20_000; i++) {
        book.dispatched(inFlight, String(1_000 + inFlight + i));
        book.settled(inFlight, String(1_000 + i));
      }
      expect(book.cursorOf(inFlight)).toBe(String(1_000 + 20_000 - 1));
      expect(retained(book, inFlight)).toBeLessThan(3 * inFlight + 2_000);
    }
  });
});
