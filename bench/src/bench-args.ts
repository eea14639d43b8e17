/** Command-line flags of `npm run bench -- …`. */
export interface BenchArgs {
  mode: 'stream' | 'register' | 'recovery';
  streams: number;
  rate: number;
  seconds: number;
  concurrency: number;
  /** Seconds of relay before the measured ones: delivered and checked, left out of the latency figures. */
  warmup: number;
  /** Recovery mode: seconds the instance is down. */
  outage: number;
}

const USAGE = `usage: npm run bench -- [--mode stream|register|recovery] [--streams N] [--rate R] [--seconds S] [--concurrency C] [--outage O]
  stream mode (default): N streams held, R notifications/s for W + S seconds, relayed to a callback receiver;
    latency figures cover the last S seconds (W, default 5, warms up the JIT and connection pools)
  register mode: POST /register for S seconds from C concurrent clients
  recovery mode: N streams; the instance cuts every socket and refuses upgrades for O seconds (default 20)
    while making R notifications/s through its REST store (from W seconds before to W seconds after)`;

export function parseBenchArgs(argv: string[]): BenchArgs {
  const args: BenchArgs = { mode: 'stream', streams: 1_000, rate: 500, seconds: 30, concurrency: 32, warmup: 5, outage: 20 };
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
        if (value !== 'stream' && value !== 'register' && value !== 'recovery')
          throw new Error(`--mode is stream, register or recovery\n${USAGE}`);
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
  return args;
}
