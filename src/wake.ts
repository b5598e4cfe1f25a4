/** What woke an action: every log line of an action says which. */
export type Wake =
  | { by: 'notify'; channel: string; payload: string }
  | { by: 'timer' }
  | { by: 'sweep' }
  | { by: 'start' }
  | { by: 'reconnect' }
  | { by: 'more' }
  /** Taken by the worker itself as it finished the attempt before. */
  | { by: 'handoff'; after: number };

/**
 * A notification's payload as a log line may show it: an assignment carries the job's
 * parameters (secrets among them), so only what it is about is kept.
 */
export function describePayload(payload: string): string {
  if (payload.startsWith('{')) {
    try {
      const parsed = JSON.parse(payload) as { id?: unknown; cancel?: unknown; ping?: unknown };
      if (typeof parsed.cancel === 'number') return `cancel attempt ${parsed.cancel}`;
      if (parsed.ping !== undefined) return 'ping';
      if (typeof parsed.id === 'number') return `attempt ${parsed.id}`;
    } catch {
      // not JSON after all: shown cut, below
    }
    return '{…}';
  }
  return payload.slice(0, 200);
}

/** The fields a log line carries for a wake. */
export function wakeFields(wake: Wake): Record<string, string> {
  switch (wake.by) {
    case 'notify':
      return { woke: 'notify', channel: wake.channel, payload: describePayload(wake.payload) };
    case 'handoff':
      return { woke: 'handoff', after: String(wake.after) };
    default:
      return { woke: wake.by };
  }
}

/**
 * Runs `work` one pass at a time. Wakes that arrive during a pass are coalesced into exactly
 * one more pass, which is told one of them (the first timer or sweep, else the first) and how
 * many others there were; a burst of a thousand notifications costs two passes, not a thousand.
 */
export class Coalescer {
  private running: Promise<void> | undefined;
  private queued: Wake[] = [];

  constructor(
    private readonly work: (wake: Wake, coalesced: number) => Promise<void>,
    private readonly onError: (error: unknown, wake: Wake) => void,
  ) {}

  wake(wake: Wake): void {
    this.queued.push(wake);
    this.running ??= this.drain();
  }

  /** Resolves once no pass is running or queued. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    try {
      while (this.queued.length > 0) {
        const batch = this.queued;
        this.queued = [];
        // A timer or sweep among them asks for more than a notification does: it leads.
        const first = batch.find((w) => w.by !== 'notify' && w.by !== 'more') ?? batch[0]!;
        try {
          await this.work(first, batch.length - 1);
        } catch (error) {
          this.onError(error, first);
        }
      }
    } finally {
      this.running = undefined;
    }
  }
}
