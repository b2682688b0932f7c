package main

import (
	"context"
	"math/rand"
	"regexp"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// retryPolicy: bounded attempts and exponential backoff with full jitter, within the caller's
// context deadline. intentd answers RESOURCE_EXHAUSTED when its queue is full and UNAVAILABLE
// while it starts, drains or restarts; both are safe to retry (Analyze is read-only), and each
// retry waits for the connection first (connected). gRPC's own RESOURCE_EXHAUSTED for a message
// or metadata over its size limits is final.
type retryPolicy struct {
	maxAttempts    int           // the first attempt included; 1 disables retries
	initialBackoff time.Duration // backoff ceiling before the 2nd attempt; doubles after
	maxBackoff     time.Duration
	onRetry        func(attempt int, err error, delay time.Duration)
	// jitter source, seeded per process: before Go 1.20 math/rand's global source starts from
	// the same seed in every process, so every client would wait the same "random" times.
	rng *rand.Rand
	// the connection the attempts go over: each retry waits for it (connected)
	conn *grpc.ClientConn
}

func retryable(err error) bool {
	s := status.Convert(err)
	if s.Code() == codes.ResourceExhausted {
		return !sizeLimit.MatchString(s.Message())
	}
	return s.Code() == codes.Unavailable
}

// sizeLimit: gRPC's refusal of a message or metadata over its limits, which never clears.
var sizeLimit = regexp.MustCompile(`(?i)larger than max|exceeds (?:hard |soft )?limit`)

// call runs attempt until it succeeds, fails for good, runs out of attempts, or the next try
// could not start before ctx's deadline. It returns the number of attempts made, the last error,
// and the error of the attempt before it (nil for none): a DEADLINE_EXCEEDED after retries of
// "UNAVAILABLE ... connect: no such file" is a sidecar that is not there, not a slow one. attempt
// passes opts to its RPC: they catch the trailer, whose grpc-retry-pushback-ms the next try waits for.
func (p retryPolicy) call(ctx context.Context, attempt func(context.Context, ...grpc.CallOption) error) (int, error, error) {
	var retried error
	for n := 1; ; n++ {
		var trailer metadata.MD
		err := attempt(ctx, grpc.Trailer(&trailer))
		if err == nil || !retryable(err) || n >= p.maxAttempts {
			return n, err, retried
		}
		ceiling := p.initialBackoff << (n - 1)
		if ceiling > p.maxBackoff || ceiling <= 0 {
			ceiling = p.maxBackoff
		}
		delay := time.Duration(p.rng.Int63n(int64(ceiling) + 1)) // full jitter
		if pushback := pushbackOf(trailer); pushback > delay {
			delay = pushback // never sooner than the server asks
		}
		if deadline, ok := ctx.Deadline(); ok && time.Now().Add(delay).After(deadline) {
			return n, err, retried
		}
		retried = err
		if p.onRetry != nil {
			p.onRetry(n, err, delay)
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return n, err, retried
		case <-timer.C:
		}
		connected(ctx, p.conn)
	}
}

// pushbackOf: the wait the server asks for before a retry (gRPC's grpc-retry-pushback-ms trailer),
// else 0. A draining intentd asks for one past its quiet period, when its GOAWAY has sent the
// connection's next calls to a new one: retried at once, every attempt met the same draining server.
func pushbackOf(trailer metadata.MD) time.Duration {
	values := trailer.Get("grpc-retry-pushback-ms")
	if len(values) == 0 {
		return 0
	}
	ms, err := strconv.ParseInt(values[0], 10, 64)
	if err != nil || ms < 0 {
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}

// connected returns once conn is connected, or idle (the next call connects it), or ctx ends (the
// attempt that follows then fails with DEADLINE_EXCEEDED). Each retry waits here: while conn
// reconnects after a lost connection an attempt fails at once, and a few quick retries would give
// up on a restarting sidecar with most of the deadline left. Waiting before the attempt, not in
// it (grpc.WaitForReady), keeps its x-request-start stamp its send time.
func connected(ctx context.Context, conn *grpc.ClientConn) {
	for s := conn.GetState(); s == connectivity.Connecting || s == connectivity.TransientFailure; s = conn.GetState() {
		if !conn.WaitForStateChange(ctx, s) {
			return
		}
	}
}
