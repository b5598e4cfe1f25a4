/** What a chaos run's checks look at: rows of the database and records of the run. */

/** One execution of an attempt by the chaos job (bench/jobs/chaos.mjs), start to end. */
export interface Execution {
  attempt: number;
  pipeline: string;
  job: string;
  jobinstance: number;
  retry: number;
  worker: string;
  pid: number;
  /** Wall-clock milliseconds (Date.now() of the job's process). */
  start: number;
  /** When the job noted its end; null when it never did (its process was killed). */
  end: number | null;
  outcome: 'ok' | 'fail' | 'aborted' | null;
}

/** One worker process the run started. */
export interface ProcessLife {
  pid: number;
  name: string;
  startedAt: number;
  /** When the run sent it SIGKILL: whatever it was running ended then. */
  killedAt: number | null;
  exitedAt: number | null;
}

export interface RequestRow {
  id: number;
  pipeline: string;
  jobinstance: number;
  status: string;
  message: string | null;
}

/** An attempt, archived or still live in run_state. */
export interface AttemptRow {
  id: number;
  request_id: number;
  pipeline: string;
  job: string;
  jobinstance: number;
  retry: number;
  status: string;
  worker: string | null;
  /** Milliseconds, from the database's clock (the same machine's). */
  endtime: number | null;
  message: string | null;
  place: 'archive' | 'live';
}

/** A job of a pipeline, as pipeline_job has it. */
export interface JobDef {
  pipeline: string;
  job: string;
  position: number;
  retry_limit: number;
}

export interface CheckResult {
  check: string;
  /** null: the check does not apply to this run. */
  ok: boolean | null;
  summary: string;
  violations: string[];
  /** A warning: reported like a violation, but the run does not fail for it. */
  warnOnly?: boolean;
}

/** A fault as it happened: when, to whom, and what the run saw then. */
export interface FaultEvent {
  kind: 'kill-worker' | 'kill-master' | 'term-worker' | 'term-twice' | 'pg-restart';
  /** Wall-clock milliseconds when the signal went out (or the server was told to stop). */
  at: number;
  victim: { name: string; pid: number } | null;
  /** Whether the victim held the lease then; null when that could not be read. */
  wasMaster: boolean | null;
  /** Why the fault hit someone else than planned, or no one. */
  note: string | null;
  /** pg-restart: when the server was down, and when it accepted connections again. */
  downAt?: number;
  upAt?: number;
}

/** A worker's log line (pino JSON). */
export interface LogLine {
  time: number;
  pid: number;
  worker?: string;
  msg?: string;
  [key: string]: unknown;
}
