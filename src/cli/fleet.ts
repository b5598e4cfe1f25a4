import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const workerScript = fileURLToPath(new URL('../worker.js', import.meta.url));

/** A worker process started by `rush up`, its JSON log lines handed to `onLine`. */
export interface FleetWorker {
  name: string;
  child: ChildProcess;
  exited: Promise<number | null>;
}

export function spawnWorker(
  name: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  onLine: (line: string) => void,
): FleetWorker {
  const child = spawn(process.execPath, [workerScript, '--name', name, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  createInterface({ input: child.stdout }).on('line', onLine);
  createInterface({ input: child.stderr }).on('line', onLine);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  return { name, child, exited };
}

/** SIGTERM (a clean stop: the job finishes, the worker goes Offline), SIGKILL after `graceMs`. */
export async function stopWorkers(workers: FleetWorker[], graceMs: number): Promise<void> {
  await Promise.all(
    workers.map(async (worker) => {
      if (worker.child.exitCode !== null || worker.child.signalCode !== null) return;
      worker.child.kill('SIGTERM');
      const timer = setTimeout(() => worker.child.kill('SIGKILL'), graceMs);
      await worker.exited;
      clearTimeout(timer);
    }),
  );
}
