/**
 * A stand-in whose every member must be given: touching anything not stubbed
 * throws, so a unit spec fails when the code under test makes a call the spec
 * did not expect. Promise probing (`then`) and symbols read as undefined.
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
