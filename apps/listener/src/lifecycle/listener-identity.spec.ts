import * as os from 'node:os';
import { listenerIdentity } from './listener-identity';

jest.mock('node:os', () => ({ ...jest.requireActual<typeof os>('node:os'), hostname: jest.fn() }));

describe('listenerIdentity', () => {
  const hostname = os.hostname as jest.MockedFunction<typeof os.hostname>;

  it('is the host name and the process id', () => {
    hostname.mockReturnValue('listener-host');
    expect(listenerIdentity()).toBe(`listener-host:${process.pid}`);
  });

  it('cuts a long host name so that the whole fits in 64 characters, the pid kept', () => {
    hostname.mockReturnValue('h'.repeat(100));
    const identity = listenerIdentity();
    expect(identity).toHaveLength(64);
    expect(identity.endsWith(`:${process.pid}`)).toBe(true);
    expect(identity.startsWith('hhh')).toBe(true);
  });
});
