// The listening half of the bench's wake floor (bench/scenarios/floor.ts): a process that does
// nothing but LISTEN. For each notification it writes one JSON line to stdout, the payload and
// when it arrived, on the clock that bench/jobs/mark.mjs uses; the first line says it listens.
// It ends when its stdin closes.
import pg from 'pg';

const now = () => performance.timeOrigin + performance.now();
const client = new pg.Client({ connectionString: process.argv[2] });
client.on('notification', (notification) => {
  const at = now();
  process.stdout.write(JSON.stringify({ id: notification.payload, at }) + '\n');
});
await client.connect();
await client.query('LISTEN bench_floor');
process.stdout.write(JSON.stringify({ listening: true }) + '\n');
process.stdin.resume();
process.stdin.on('end', () => {
  client.end().then(() => process.exit(0));
});
