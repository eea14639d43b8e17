/**
 * A stand-in for a collaborator whose every used member must be given: touching
 * anything not stubbed throws, so a unit spec fails on a call it did not expect.
 * Promise probing (`then`) and symbols read as undefined.
 */
export function strictStub<T extends object>(name: string, members: Partial<T> = {}): T {
  return new Proxy(members as T, {
    get(target, property, receiver) {
      if (typeof property === 'symbol' || property === 'then' || property === 'toJSON') {
        return Reflect.get(target, property, receiver) as unknown;
      }
      if (!Reflect.has(target, property))
        throw new Error(`${name}.${property} was used but not stubbed`);
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
}

/** The order in which jest mock functions were first called, by name. */
export function callOrder(
  mocks: Record<string, { mock: { invocationCallOrder: number[] } }>,
): string[] {
  return Object.entries(mocks)
    .filter(([, fn]) => fn.mock.invocationCallOrder.length > 0)
    .sort(([, a], [, b]) => a.mock.invocationCallOrder[0] - b.mock.invocationCallOrder[0])
    .map(([name]) => name);
}
