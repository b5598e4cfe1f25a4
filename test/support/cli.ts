/**
 * The `rush` command as users run it: `node dist/cli/main.js …` in a child process, for tests
 * that check exit codes, output and error lines. Build first (npm run build).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const cliScript = join(repoRoot, 'dist', 'cli', 'main.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliProcess {
  child: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves once stdout holds `text`; rejects if the process exits first or on timeout. */
  waitForOutput(text: string, timeoutMs?: number): Promise<void>;
  exited: Promise<CliResult>;
}

/** Starts `rush …args` with `env` added to this process's environment. */
export function startCli(
  args: string[],
  env: Record<string, string> = {},
  cwd = repoRoot,
): CliProcess {
  if (!existsSync(cliScript)) throw new Error(`${cliScript} does not exist: run npm run build`);
  const child = spawn(process.execPath, [cliScript, ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let closed = false;
  const waiters = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    for (const waiter of waiters) waiter();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<CliResult>((resolve) => {
    // 'close' comes after the last output, unlike 'exit'.
    child.once('close', (code) => {
      closed = true;
      resolve({ code, stdout, stderr });
      for (const waiter of waiters) waiter();
    });
  });
  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited,
    waitForOutput(text, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no "${text}" in rush ${args.join(' ')} output: ${stdout}${stderr}`));
        }, timeoutMs);
        const check = (): void => {
          const done = stdout.includes(text);
          if (!done && !closed) return;
          clearTimeout(timer);
          waiters.delete(check);
          if (done) resolve();
          else
            reject(new Error(`rush ${args.join(' ')} exited before "${text}": ${stdout}${stderr}`));
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** Runs `rush …args` to its end. */
export function runCli(
  args: string[],
  env: Record<string, string> = {},
  cwd?: string,
): Promise<CliResult> {
  return startCli(args, env, cwd).exited;
}

/** Runs `rush --json …args`, expects exit code 0, and parses what it printed. */
export async function runCliJson<T = unknown>(
  args: string[],
  env: Record<string, string> = {},
): Promise<T> {
  const result = await runCli(['--json', ...args], env);
  if (result.code !== 0) {
    throw new Error(`rush --json ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  }
  return JSON.parse(result.stdout) as T;
}
