import { InstanceGate } from './instance-gate';

/** A task that settles when told, recording when it started. */
function task(log: string[], name: string) {
  let resolve!: (value: string) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<string>((ok, fail) => {
    resolve = ok;
    reject = fail;
  });
  return {
    run: () => {
      log.push(name);
      return promise;
    },
    done: () => resolve(name),
    fail: (message: string) => reject(new Error(message)),
  };
}

const flush = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

describe('InstanceGate', () => {
  const NOW = 1_700_000_000_000;
  let started: string[];

  beforeEach(() => {
    jest.useFakeTimers({ now: NOW });
    started = [];
  });
  afterEach(() => jest.useRealTimers());

  it('runs at most `limit` tasks at once per instance, in the order they asked', async () => {
    const gate = new InstanceGate(() => 2);
    const tasks = ['a', 'b', 'c', 'd'].map((name) => task(started, name));
    const results = tasks.map((t) => gate.run('https://one.example', t.run));
    expect(started).toEqual(['a', 'b']);
    tasks[1].done();
    await expect(results[1]).resolves.toBe('b');
    await flush();
    expect(started).toEqual(['a', 'b', 'c']);
    tasks[0].fail('boom');
    await expect(results[0]).rejects.toThrow('boom');
    await flush();
    expect(started).toEqual(['a', 'b', 'c', 'd']);
  });

  it('does not let one instance hold up another', () => {
    const gate = new InstanceGate(() => 1);
    void gate.run('https://one.example', task(started, 'one-a').run);
    void gate.run('https://one.example', task(started, 'one-b').run);
    void gate.run('https://two.example', task(started, 'two-a').run);
    expect(started).toEqual(['one-a', 'two-a']);
  });

  it('reads the limit each time, so a grown share lets more run', async () => {
    let limit = 1;
    const gate = new InstanceGate(() => limit);
    const first = task(started, 'a');
    void gate.run('https://one.example', first.run);
    void gate.run('https://one.example', task(started, 'b').run);
    void gate.run('https://one.example', task(started, 'c').run);
    expect(started).toEqual(['a']);
    limit = 3;
    first.done();
    await flush();
    expect(started).toEqual(['a', 'b', 'c']);
  });

  it('starts nothing at a paused instance until the pause is over', async () => {
    const gate = new InstanceGate(() => 5);
    gate.pause('https://one.example', NOW + 3_000);
    expect(gate.pausedFor('https://one.example')).toBe(3_000);
    expect(gate.pausedFor('https://two.example')).toBe(0);
    const result = gate.run('https://one.example', () => Promise.resolve('late'));
    void gate.run('https://two.example', task(started, 'other').run);
    expect(started).toEqual(['other']);
    jest.advanceTimersByTime(2_999);
    await flush();
    let settled = false;
    void result.then(() => (settled = true));
    await flush();
    expect(settled).toBe(false);
    jest.advanceTimersByTime(1);
    await expect(result).resolves.toBe('late');
    expect(gate.pausedFor('https://one.example')).toBe(0);
  });

  it('keeps the later of two pauses', () => {
    const gate = new InstanceGate(() => 1);
    gate.pause('https://one.example', NOW + 5_000);
    gate.pause('https://one.example', NOW + 1_000);
    expect(gate.pausedFor('https://one.example')).toBe(5_000);
    gate.pause('https://one.example', NOW + 8_000);
    expect(gate.pausedFor('https://one.example', NOW + 2_000)).toBe(6_000);
    expect(gate.pausedFor('https://one.example', NOW + 9_000)).toBe(0);
  });

  it('holds what asked during a pause that began while a task ran, then runs it', async () => {
    const gate = new InstanceGate(() => 1);
    const first = task(started, 'a');
    void gate.run('https://one.example', first.run);
    void gate.run('https://one.example', task(started, 'b').run);
    gate.pause('https://one.example', NOW + 1_000);
    first.done();
    await flush();
    expect(started).toEqual(['a']);
    jest.advanceTimersByTime(1_000);
    expect(started).toEqual(['a', 'b']);
  });

  it('drops what is waiting when stopped, and starts it never', async () => {
    const gate = new InstanceGate(() => 1);
    const first = task(started, 'a');
    void gate.run('https://one.example', first.run);
    void gate.run('https://one.example', task(started, 'b').run);
    gate.pause('https://two.example', NOW + 1_000);
    void gate.run('https://two.example', task(started, 'c').run);
    gate.stop();
    first.done();
    await flush();
    jest.advanceTimersByTime(5_000);
    await flush();
    expect(started).toEqual(['a']);
  });

  it('leaves no timer behind when stopped, however many wait at a paused instance', () => {
    const gate = new InstanceGate(() => 1);
    gate.pause('https://one.example', NOW + 1_000);
    void gate.run('https://one.example', task(started, 'a').run);
    void gate.run('https://one.example', task(started, 'b').run);
    gate.stop();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('keeps no timer for a paused instance where nothing waits', async () => {
    const gate = new InstanceGate(() => 1);
    const first = task(started, 'a');
    void gate.run('https://one.example', first.run);
    gate.pause('https://one.example', NOW + 1_000);
    first.done();
    await flush();
    expect(jest.getTimerCount()).toBe(0);
    expect(gate.pausedFor('https://one.example')).toBe(1_000);
  });

  it('frees the lane of an instance once nothing runs or waits there, paused before or not', async () => {
    const gate = new InstanceGate(() => 1);
    const lanes = (gate as unknown as { lanes: Map<string, unknown> }).lanes;
    const first = task(started, 'a');
    void gate.run('https://one.example', first.run);
    expect(lanes.size).toBe(1);
    first.done();
    await flush();
    expect(lanes.size).toBe(0);
    gate.pause('https://one.example', NOW + 1_000);
    const second = task(started, 'b');
    void gate.run('https://one.example', second.run);
    jest.advanceTimersByTime(1_000);
    expect(started).toEqual(['a', 'b']);
    second.done();
    await flush();
    expect(lanes.size).toBe(0);
  });

  it('keeps the place of a task held back by a limit of 0 until the limit grows', () => {
    let limit = 0;
    const gate = new InstanceGate(() => limit);
    void gate.run('https://one.example', task(started, 'a').run);
    expect(started).toEqual([]);
    limit = 1;
    void gate.run('https://one.example', task(started, 'b').run);
    expect(started).toEqual(['a']);
  });
});
