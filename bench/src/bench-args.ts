/** Command-line flags of `npm run bench -- …`. */
export interface BenchArgs {
  mode: 'stream' | 'register';
  streams: number;
  rate: number;
  seconds: number;
  concurrency: number;
  /** Seconds of relay before the measured ones: delivered and checked, left out of the latency figures. */
  warmup: number;
}

const USAGE = `usage: npm run bench -- [--mode stream|register] [--streams N] [--rate R] [--seconds S] [--concurrency C]
  stream mode (default): N streams held, R notifications/s for W + S seconds, relayed to a callback receiver;
    latency figures cover the last S seconds (W, default 5, warms up the JIT and connection pools)
  register mode: POST /register for S seconds from C concurrent clients`;

export function parseBenchArgs(argv: string[]): BenchArgs {
  const args: BenchArgs = { mode: 'stream', streams: 1_000, rate: 500, seconds: 30, concurrency: 32, warmup: 5 };
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
        if (value !== 'stream' && value !== 'register') throw new Error(`--mode is stream or register\n${USAGE}`);
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
  if (args.mode === 'stream' && args.streams < 1) throw new Error('--streams must be at least 1');
  return args;
}
