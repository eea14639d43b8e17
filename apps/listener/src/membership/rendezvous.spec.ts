import { Rendezvous } from './rendezvous';

const ids = Array.from({ length: 10_000 }, (_, i) => i + 1);
const owners = (view: Rendezvous) => new Map(ids.map((id) => [id, view.ownerOf(id)]));

describe('Rendezvous', () => {
  const four = new Rendezvous(['listener-c', 'listener-a', 'listener-d', 'listener-b']);

  it('gives every member about a quarter of the registrations', () => {
    const counts = new Map<string, number>();
    for (const owner of owners(four).values()) counts.set(owner!, (counts.get(owner!) ?? 0) + 1);
    expect([...counts.keys()].sort()).toEqual([
      'listener-a',
      'listener-b',
      'listener-c',
      'listener-d',
    ]);
    for (const count of counts.values()) {
      expect(count).toBeGreaterThan(2_200);
      expect(count).toBeLessThan(2_800);
    }
  });

  it('computes the same owners whatever order the members are listed in', () => {
    const shuffled = new Rendezvous(['listener-b', 'listener-d', 'listener-a', 'listener-c']);
    expect(owners(shuffled)).toEqual(owners(four));
    expect(shuffled.fingerprint).toBe(four.fingerprint);
  });

  it('moves only the registrations a joining member wins, all of them to it', () => {
    const before = owners(four);
    const after = owners(new Rendezvous([...four.ids, 'listener-e']));
    const moved = ids.filter((id) => before.get(id) !== after.get(id));
    expect(moved.every((id) => after.get(id) === 'listener-e')).toBe(true);
    expect(moved.length).toBeGreaterThan(1_600);
    expect(moved.length).toBeLessThan(2_400);
  });

  it('moves only the registrations of a member that leaves', () => {
    const before = owners(four);
    const after = owners(new Rendezvous(['listener-a', 'listener-b', 'listener-d']));
    for (const id of ids) {
      if (before.get(id) === 'listener-c') expect(after.get(id)).not.toBe('listener-c');
      else expect(after.get(id)).toBe(before.get(id));
    }
  });

  it('tells different member sets apart by their fingerprint, however their ids split', () => {
    expect(new Rendezvous(['ab', 'c']).fingerprint).not.toBe(
      new Rendezvous(['a', 'bc']).fingerprint,
    );
    expect(new Rendezvous(['a']).fingerprint).not.toBe(new Rendezvous(['a', '']).fingerprint);
  });

  it('has no owner without members', () => {
    expect(new Rendezvous([]).ownerOf(1)).toBeUndefined();
  });

  it('splits a limit into parts that add up to it exactly', () => {
    for (const limit of [1, 2, 3, 4, 5, 10, 101]) {
      const parts = four.ids.map((id) => four.shareOf(id, limit));
      expect(parts.reduce((a, b) => a + b, 0)).toBe(limit);
      expect(Math.max(...parts) - Math.min(...parts)).toBeLessThanOrEqual(1);
    }
    expect(four.shareOf('listener-z', 10)).toBe(0);
  });
});
