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
});
