/** Command-line flags of `npm run bench -- …`. */
export interface BenchArgs {
  mode: 'stream' | 'register' | 'recovery' | 'failover';
  streams: number;
  rate: number;
  seconds: number;
  concurrency: number;
  /** Seconds of relay before the measured ones: delivered and checked, left out of the latency figures. */
  warmup: number;
  /** Recovery mode: seconds the instance is down. */
  outage: number;
  /** Listener processes sharing the database. */
  listeners: number;
  /** Fake instance processes (each under the open-file limit); 0: one per 12,000 streams. */
  instances: number;
  /** Serve the fake instances over https/wss with a throwaway CA only the bench's listeners trust. */
  tls: boolean;
  /** How the registrations receive events: `stream` (a WebSocket each) or `webpush` (the instance pushes to the api). */
  transport: 'stream' | 'webpush';
}

const USAGE = `usage: npm run bench -- [--mode stream|register|recovery|failover] [--streams N] [--rate R] [--seconds S] [--concurrency C] [--outage O]
    [--listeners L] [--instances I] [--tls] [--transport stream|webpush]
  stream mode (default): N streams held by L listeners (default 1), R notifications/s for W + S seconds, relayed to
    a callback receiver; latency figures cover the last S seconds (W, default 5, warms up the JIT and connection pools);
    the streams go to I fake instance processes (default one per 12,000 streams), over https/wss with --tls
  failover mode: the same, and W + 5 s into the relay one listener is SIGKILLed: the time until its streams are held
    by the others, and what was lost or duplicated meanwhile
  --transport webpush: N registrations with transport webpush, subscribed at one fake instance that pushes R encrypted
    notifications/s for W + S seconds to the api; reports streams held by the listener (0), listener and api RSS,
    push sent → callback latency, lost and duplicated
  register mode: POST /register for S seconds from C concurrent clients
  recovery mode: N streams; the instance cuts every socket and refuses upgrades for O seconds (default 20)
    while making R notifications/s through its REST store (from W seconds before to W seconds after)`;

export function parseBenchArgs(argv: string[]): BenchArgs {
  const args: BenchArgs = {
    mode: 'stream',
    streams: 1_000,
    rate: 500,
    seconds: 30,
    concurrency: 32,
    warmup: 5,
    outage: 20,
    listeners: 1,
    instances: 0,
    tls: false,
    transport: 'stream',
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    const number = () => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} needs a whole number\n${USAGE}`);
      i++;
      return n;
    };
    switch (flag) {
      case '--mode':
        if (value !== 'stream' && value !== 'register' && value !== 'recovery' && value !== 'failover')
          throw new Error(`--mode is stream, register, recovery or failover\n${USAGE}`);
        args.mode = value;
        i++;
        break;
      case '--streams':
        args.streams = number();
        break;
      case '--rate':
        args.rate = number();
        break;
      case '--seconds':
        args.seconds = number();
        break;
      case '--outage':
        args.outage = number();
        break;
      case '--warmup':
        args.warmup = number();
        break;
      case '--listeners':
        args.listeners = Math.max(1, number());
        break;
      case '--instances':
        args.instances = number();
        break;
      case '--tls':
        args.tls = true;
        break;
      case '--transport':
        if (value !== 'stream' && value !== 'webpush') throw new Error(`--transport is stream or webpush\n${USAGE}`);
        args.transport = value;
        i++;
        break;
      case '--concurrency':
        args.concurrency = Math.max(1, number());
        break;
      case '--help':
      case '-h':
        throw new Error(USAGE);
      default:
        throw new Error(`unknown flag ${flag}\n${USAGE}`);
    }
  }
  if (args.mode !== 'register' && args.streams < 1) throw new Error('--streams must be at least 1');
  if (args.mode === 'failover' && args.listeners < 2) throw new Error('--mode failover needs --listeners 2 or more');
  if (args.transport === 'webpush' && (args.mode !== 'stream' || args.listeners > 1 || args.tls))
    throw new Error('--transport webpush runs one listener in the stream mode, without --tls');
  if (args.instances === 0) args.instances = Math.max(1, Math.ceil(args.streams / 12_000));
  return args;
}
