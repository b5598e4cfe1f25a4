// The benchmark's job: it does nothing but note, in a file, when run() began and ended, on a
// clock all processes on this machine share (wall clock with sub-millisecond resolution).
import { appendFileSync } from 'node:fs';
import { Job } from '../../dist/index.js';

const now = () => performance.timeOrigin + performance.now();

export class Mark extends Job {
  run() {
    const start = now();
    const { jobinstance, job, attempt } = this.context;
    const line = JSON.stringify({ jobinstance, job, attempt, start, end: now() });
    appendFileSync(this.params.out, line + '\n');
  }
}

/** Does nothing at all: for throughput, where only Rush's own cost should count. */
export class Noop extends Job {
  run() {}
}
