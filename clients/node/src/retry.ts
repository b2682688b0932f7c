/**
 * Retries for calls to intentd: bounded attempts, exponential backoff with full jitter, and
 * never past the caller's overall deadline.
 *
 * intentd answers RESOURCE_EXHAUSTED when its queue is full and UNAVAILABLE while it starts,
 * drains or restarts; both are safe to retry (every per-utterance RPC is read-only), and the
 * client waits for the connection before each retry (client.ts), and at least as long as the
 * server's `grpc-retry-pushback-ms` asks. Anything
 * else (INVALID_ARGUMENT, DEADLINE_EXCEEDED, ...) is final and thrown at once, and so is the
 * RESOURCE_EXHAUSTED gRPC itself answers for a message or metadata over its size limits: the
 * same request would be refused again.
 */
import { type ServiceError, status } from "@grpc/grpc-js";

export interface RetryPolicy {
  /** Attempts in all, the first one included; 1 disables retries. */
  maxAttempts: number;
  /** Backoff ceiling before the second attempt; it doubles per attempt up to maxBackoffMs. */
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** Status codes worth another attempt. */
  retryOn: readonly status[];
}

export const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 4,
  initialBackoffMs: 25,
  maxBackoffMs: 1000,
  retryOn: [status.RESOURCE_EXHAUSTED, status.UNAVAILABLE],
};

/** What a retry hook is told before the client sleeps and tries again. */
export interface RetryEvent {
  /** The attempt that failed (1 for the first). */
  attempt: number;
  error: ServiceError;
  delayMs: number;
}

/** A call that failed for good: the last attempt's gRPC error and how many attempts were made;
 * `retried`, the error of the attempt before when it differs (a DEADLINE_EXCEEDED after retries of
 * "UNAVAILABLE ... connect ENOENT" is a sidecar that is not there, not a slow one). */
export class IntentdCallError extends Error {
  readonly code: status;
  readonly details: string;

  constructor(readonly error: ServiceError, readonly attempts: number, readonly retried?: ServiceError) {
    const before = retried && retried.code !== error.code ? `; before it: ${status[retried.code]}: ${retried.details}` : "";
    super(`${status[error.code]} after ${attempts} attempt${attempts === 1 ? "" : "s"}: ${error.details}${before}`, {
      cause: error,
    });
    this.name = "IntentdCallError";
    this.code = error.code;
    this.details = error.details;
  }
}

export interface Attempted<T> {
  value: T;
  attempts: number;
}

function isServiceError(error: unknown): error is ServiceError {
  return typeof error === "object" && error !== null && typeof (error as ServiceError).code === "number";
}

/** gRPC's own refusal of a message or metadata over its size limits ("Received message larger
 * than max", "received metadata size exceeds hard limit"), which shares RESOURCE_EXHAUSTED with a
 * full queue but never clears. */
export function isSizeLimit(error: ServiceError): boolean {
  return error.code === status.RESOURCE_EXHAUSTED && /larger than max|exceeds (?:hard |soft )?limit/i.test(error.details ?? "");
}

/** The wait the server asks for before a retry (`grpc-retry-pushback-ms`, gRPC's retry trailer), else 0.
 * A draining intentd asks for one past its quiet period, when its GOAWAY has sent the connection's
 * next calls to a new one: retried at once, every attempt met the same draining server. */
export function pushbackMs(error: ServiceError): number {
  const value = error.metadata?.get("grpc-retry-pushback-ms")[0];
  const ms = typeof value === "string" && /^\d{1,9}$/.test(value) ? Number(value) : 0;
  return ms;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `attempt` until it succeeds, fails with a code not in `policy.retryOn`, runs out of
 * attempts, or the next try could not start before `deadline`. Each attempt gets the same
 * absolute deadline, so retries never extend the caller's budget, and its number (1 for the first).
 */
export async function withRetry<T>(
  attempt: (deadline: Date, n: number) => Promise<T>,
  deadline: Date,
  policy: RetryPolicy = DEFAULT_RETRY,
  onRetry?: (event: RetryEvent) => void,
): Promise<Attempted<T>> {
  const maxAttempts = Math.max(1, Math.floor(policy.maxAttempts));
  let retried: ServiceError | undefined;
  for (let n = 1; ; n++) {
    try {
      return { value: await attempt(deadline, n), attempts: n };
    } catch (error) {
      if (!isServiceError(error)) throw error;
      if (!policy.retryOn.includes(error.code) || isSizeLimit(error) || n >= maxAttempts) {
        throw new IntentdCallError(error, n, retried);
      }
      const ceiling = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** (n - 1));
      // full jitter: callers shed together do not return together; never sooner than the server asks
      const delayMs = Math.max(Math.random() * ceiling, pushbackMs(error));
      if (Date.now() + delayMs >= deadline.getTime()) throw new IntentdCallError(error, n, retried);
      retried = error;
      onRetry?.({ attempt: n, error, delayMs });
      await sleep(delayMs);
    }
  }
}
