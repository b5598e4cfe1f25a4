import { EventEmitter } from 'eventemitter3';
import type pg from 'pg';
import pgListen, { type Subscriber } from 'pg-listen';
import type { Logger } from 'pino';
import { backoffDelay } from './backoff.js';

// pg-listen is CommonJS with its function on `default`.
const createSubscriber = pgListen.default;

export interface NotifierEvents {
  notification: (channel: string, payload: string) => void;
  /** The connection came back and its channels are listened to again: notifications sent
   * while it was down are gone, so the owner sweeps. */
  reconnected: () => void;
}

/**
 * The one listening connection of a worker process (pg-listen), with the channels it needs
 * right now. Queries go through the pool; this connection only listens.
 */
export class Notifier extends EventEmitter<NotifierEvents> {
  private readonly subscriber: Subscriber;
  private connectedOnce = false;
  private stopped = false;

  constructor(
    connection: pg.ClientConfig,
    private readonly logger: Logger,
  ) {
    super();
    this.subscriber = createSubscriber(connection, {
      // Never give up: a worker outlives any outage of its database.
      retryTimeout: Infinity,
      retryLimit: Infinity,
      retryInterval: (attempt) => backoffDelay(attempt),
      // The runtime checks end to end (a notification to itself) instead of a query every 30 s.
      paranoidChecking: false,
      // Payloads are plain text; the receiver parses what it expects.
      parse: (text: string) => text,
      serialize: (data: unknown) => String(data),
    });
    this.subscriber.events.on('notification', ({ channel, payload }) => {
      const text = typeof payload === 'string' ? payload : '';
      this.guarded('notification', () => this.emit('notification', channel, text));
    });
    this.subscriber.events.on('reconnect', (attempt: number) => {
      this.logger.warn(
        { component: 'notifier', attempt },
        'listening connection lost, reconnecting',
      );
    });
    this.subscriber.events.on('connected', () => {
      if (this.connectedOnce && !this.stopped) {
        this.logger.info(
          { component: 'notifier', channels: this.subscriber.getSubscribedChannels() },
          'listening connection restored',
        );
        this.guarded('reconnected', () => this.emit('reconnected'));
      }
      this.connectedOnce = true;
    });
    this.subscriber.events.on('error', (error) => {
      this.logger.error({ component: 'notifier', err: error }, 'listening connection error');
    });
  }

  async start(): Promise<void> {
    await this.subscriber.connect();
  }

  async listen(channel: string): Promise<void> {
    await this.subscriber.listenTo(channel);
  }

  async unlisten(channel: string): Promise<void> {
    await this.subscriber.unlisten(channel);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.removeAllListeners();
    await this.subscriber.close().catch(() => {});
  }

  /** A listener that throws must not break the connection's event loop. */
  private guarded(event: keyof NotifierEvents, emit: () => void): void {
    try {
      emit();
    } catch (error) {
      this.logger.error(
        { component: 'notifier', err: error, event },
        'notification handler failed',
      );
    }
  }
}
