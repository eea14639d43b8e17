import { objectIdOf } from './object-id';

describe('objectIdOf', () => {
  it('reads the id of a notification, from its leading field or by parsing', () => {
    expect(objectIdOf('notification', '{"id":"123","type":"mention"}')).toBe('123');
    expect(objectIdOf('notification', ' { "id" : "9fz-A" , "x": 1}')).toBe('9fz-A');
    expect(objectIdOf('notification', '{"type":"mention","id":"77"}')).toBe('77');
    expect(objectIdOf('notification', { id: '5' })).toBe('5');
  });

  it("reads a conversation's last status id", () => {
    const payload = JSON.stringify({ id: 'c1', last_status: { id: '113000000000000000001' } });
    expect(objectIdOf('conversation', payload)).toBe('113000000000000000001');
    expect(objectIdOf('conversation', '{"id":"c1","last_status":null}')).toBeUndefined();
  });

  it('gives nothing for payloads without a usable id', () => {
    for (const payload of [
      'not json',
      '{"id":5}',
      '{"id":""}',
      '[]',
      null,
      42,
      `{"id":"${'x'.repeat(65)}"}`,
    ]) {
      expect(objectIdOf('notification', payload)).toBeUndefined();
    }
    expect(objectIdOf('update', '{"id":"1"}')).toBeUndefined();
  });

  it('takes a leading id without parsing the rest: a payload cut short still gives it', () => {
    expect(objectIdOf('notification', '{"id":"123","type":"mention","account":{"id":')).toBe('123');
  });

  it('looks for a leading id near the start only; further in, the payload must parse', () => {
    const pad = ' '.repeat(95);
    expect(objectIdOf('notification', `${pad}{"id":"123","type":"mention"}`)).toBe('123');
    expect(objectIdOf('notification', `${pad}{"id":"123","type":`)).toBeUndefined();
  });

  it('does not take a leading id that is no Mastodon id', () => {
    expect(objectIdOf('notification', '{"id":"not an id","type":"mention"}')).toBeUndefined();
  });

  it('reads no id from other events, even one with a last status', () => {
    expect(objectIdOf('update', '{"id":"1","last_status":{"id":"2"}}')).toBeUndefined();
  });

  it('takes ids only from objects: an array or a function carrying an id is none', () => {
    const withId = <T extends object>(value: T) => Object.assign(value, { id: '5' });
    const fn = withId(() => '5');
    expect(objectIdOf('notification', withId(['5']))).toBeUndefined();
    expect(objectIdOf('notification', fn)).toBeUndefined();
    expect(objectIdOf('conversation', withId([{ last_status: { id: '5' } }]))).toBeUndefined();
    expect(objectIdOf('conversation', { last_status: fn })).toBeUndefined();
  });
});
