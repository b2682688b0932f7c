/**
 * A small promise-based client for intentd: the generated stub plus a deadline and retries on
 * every unary call, and TLS or plaintext (a Unix socket sidecar) from one options object.
 */
import {
  type CallOptions as GrpcCallOptions,
  type ChannelCredentials,
  type ChannelOptions,
  type ClientDuplexStream,
  type ClientUnaryCall,
  credentials,
  Metadata,
  type ServiceError,
} from "@grpc/grpc-js";

import {
  AnalyzeRequest,
  type AnalyzeResponse,
  type DeepPartial,
  DetectIntentRequest,
  type DetectIntentResponse,
  ExtractEntitiesRequest,
  type ExtractEntitiesResponse,
  GetModelInfoRequest,
  IntentServiceClient,
  type ModelInfo,
  RespondRequest,
  type RespondResponse,
} from "./gen/intentd/v1/intentd";
import { DEFAULT_RETRY, type RetryEvent, type RetryPolicy, withRetry } from "./retry";

export interface TlsOptions {
  /** PEM of the CA that signed the server's certificate; omitted: the system's roots. */
  ca?: Buffer;
  /** PEM certificate chain and key of this client, for a server started with --tls-client-ca (mTLS). */
  cert?: Buffer;
  key?: Buffer;
  /** Name to check the server's certificate against, when it differs from the target's host. */
  serverName?: string;
}

export interface ClientOptions {
  /** TLS to the server; omitted: plaintext (what a Unix socket sidecar uses). */
  tls?: TlsOptions;
  /** Deadline of a unary call when the call names none. */
  timeoutMs?: number;
  /** Deadline of an analyzeStream() call when it names none (default DEFAULT_STREAM_TIMEOUT_MS). */
  streamTimeoutMs?: number;
  /** Retry policy of every unary call; fields left out keep DEFAULT_RETRY's. */
  retry?: Partial<RetryPolicy>;
  /** Told before each retry (for logs and metrics). */
  onRetry?: (event: RetryEvent) => void;
  /** Passed to @grpc/grpc-js as they are, after this client's own. */
  channelOptions?: ChannelOptions;
}

export interface CallOptions {
  /** Absolute deadline of the call, all attempts included. Wins over timeoutMs. */
  deadline?: Date;
  /** Relative deadline of the call, all attempts included. */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  onRetry?: (event: RetryEvent) => void;
  metadata?: Metadata;
}

export const DEFAULT_TIMEOUT_MS = 1000;
// A stream lasts as long as the voice call (or utterance) it carries, minutes rather than a unary
// call's second, so it gets its own deadline: long enough for a whole call, yet finite, so that a
// stream its caller forgot still ends and frees its place among the server's --max-streams
// (docs/voice.md). A stream per utterance can ask for less.
export const DEFAULT_STREAM_TIMEOUT_MS = 10 * 60 * 1000;

// Reconnecting to a local socket is cheap: try again after 100 ms, then at most 250 ms apart (not
// gRPC's 1 s, growing to 2 min), so that a retry waiting for a sidecar that restarts (connected())
// is connected well within one call's deadline once the sidecar listens again.
const UNIX_SOCKET_CHANNEL: ChannelOptions = {
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 250,
};

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<GrpcCallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

export function channelCredentials(tls?: TlsOptions): ChannelCredentials {
  if (!tls) return credentials.createInsecure();
  if (!tls.cert !== !tls.key) throw new Error("TLS client authentication needs both a certificate and its key");
  return credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null);
}

/** One AnalyzeStream call: `send()` requests, `for await` the answers, `end()` when done. */
export class AnalyzeStream implements AsyncIterable<AnalyzeResponse> {
  /** The underlying @grpc/grpc-js call, for events and flow control. */
  constructor(readonly call: ClientDuplexStream<AnalyzeRequest, AnalyzeResponse>) {}

  /** Sends one request (fields left out take their defaults); false: wait for the call's "drain". */
  send(request: DeepPartial<AnalyzeRequest>): boolean {
    return this.call.write(AnalyzeRequest.fromPartial(request));
  }

  /** No more requests; answers to those sent still arrive. */
  end(): void {
    this.call.end();
  }

  cancel(): void {
    this.call.cancel();
  }

  /** The answers, in request order; throws the call's error if it fails. */
  [Symbol.asyncIterator](): AsyncIterator<AnalyzeResponse> {
    return this.call[Symbol.asyncIterator]();
  }
}

export class IntentdClient {
  /** The generated stub, for what this wrapper does not cover. */
  readonly stub: IntentServiceClient;
  private readonly timeoutMs: number;
  private readonly streamTimeoutMs: number;
  private readonly retry: RetryPolicy;
  private readonly onRetry?: (event: RetryEvent) => void;

  /** `target` is `unix:/path/to/intentd.sock` (absolute path) or `host:port`. */
  constructor(readonly target: string, options: ClientOptions = {}) {
    const channel: ChannelOptions = {
      ...(target.startsWith("unix:") ? UNIX_SOCKET_CHANNEL : {}),
      ...(options.tls?.serverName ? { "grpc.ssl_target_name_override": options.tls.serverName } : {}),
      ...options.channelOptions,
    };
    this.stub = new IntentServiceClient(target, channelCredentials(options.tls), channel);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.streamTimeoutMs = options.streamTimeoutMs ?? DEFAULT_STREAM_TIMEOUT_MS;
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.onRetry = options.onRetry;
  }

  /** Intent ranking, entities, OOD verdict, escalation hint and response in one call. */
  analyze(request: DeepPartial<AnalyzeRequest>, options?: CallOptions): Promise<AnalyzeResponse> {
    return this.unary(this.stub.analyze, AnalyzeRequest.fromPartial(request), options);
  }

  detectIntent(request: DeepPartial<DetectIntentRequest>, options?: CallOptions): Promise<DetectIntentResponse> {
    return this.unary(this.stub.detectIntent, DetectIntentRequest.fromPartial(request), options);
  }

  extractEntities(
    request: DeepPartial<ExtractEntitiesRequest>,
    options?: CallOptions,
  ): Promise<ExtractEntitiesResponse> {
    return this.unary(this.stub.extractEntities, ExtractEntitiesRequest.fromPartial(request), options);
  }

  respond(request: DeepPartial<RespondRequest>, options?: CallOptions): Promise<RespondResponse> {
    return this.unary(this.stub.respond, RespondRequest.fromPartial(request), options);
  }

  getModelInfo(options?: CallOptions): Promise<ModelInfo> {
    return this.unary(this.stub.getModelInfo, GetModelInfoRequest.fromPartial({}), options);
  }

  /**
   * AnalyzeStream: send transcripts, read one AnalyzeResponse per request, in order. Not retried:
   * after an error, open a new stream and resend what was not answered. The deadline (`deadline`,
   * else `timeoutMs`, else the client's `streamTimeoutMs`) covers the whole stream.
   */
  analyzeStream(options: { deadline?: Date; timeoutMs?: number; metadata?: Metadata } = {}): AnalyzeStream {
    const deadline = options.deadline ?? new Date(Date.now() + (options.timeoutMs ?? this.streamTimeoutMs));
    return new AnalyzeStream(this.stub.analyzeStream(options.metadata ?? new Metadata(), { deadline }));
  }

  close(): void {
    this.stub.close();
  }

  private async unary<Req, Res>(method: UnaryMethod<Req, Res>, request: Req, options: CallOptions = {}): Promise<Res> {
    const deadline = options.deadline ?? new Date(Date.now() + (options.timeoutMs ?? this.timeoutMs));
    const metadata = options.metadata ?? new Metadata();
    const once = async (attemptDeadline: Date, n: number) => {
      if (n > 1) await this.connected(attemptDeadline);
      return new Promise<Res>((resolve, reject) => {
        method.call(this.stub, request, stamped(metadata), { deadline: attemptDeadline }, (error, response) =>
          error ? reject(error) : resolve(response),
        );
      });
    };
    const policy = { ...this.retry, ...options.retry };
    const { value } = await withRetry(once, deadline, policy, options.onRetry ?? this.onRetry);
    return value;
  }

  /**
   * Resolves once the channel is connected, or at `deadline` (the attempt that follows then fails
   * with DEADLINE_EXCEEDED). Each retry waits here: while the channel reconnects after a lost
   * connection an attempt fails at once, and a few quick retries would give up on a restarting
   * sidecar with most of the deadline left. Waiting before the attempt, not in it (gRPC's
   * waitForReady), keeps its x-request-start stamp its send time.
   */
  private connected(deadline: Date): Promise<void> {
    return new Promise((resolve) => this.stub.waitForReady(deadline, () => resolve()));
  }
}

const REQUEST_START_KEY = "x-request-start";

/** Each attempt carries its send time (`x-request-start`, microseconds since the epoch), so a
 * busy server counts the time the request waited before it could be read against its latency
 * budget and refuses at once what can no longer be answered in time. A caller's own stamp wins. */
function stamped(metadata: Metadata): Metadata {
  if (metadata.get(REQUEST_START_KEY).length > 0) return metadata;
  const attempt = metadata.clone();
  // the wall clock, as the server's: a clock started at process start and advanced by a monotonic
  // timer (performance.timeOrigin + now()) misses every later step of the system clock, and on a
  // Unix socket, where a stamp counts as it is, a 40 ms step had calls shed as "waited"
  attempt.set(REQUEST_START_KEY, `t=${Date.now() * 1000}`);
  return attempt;
}
