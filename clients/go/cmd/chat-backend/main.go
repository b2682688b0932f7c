// Command chat-backend shows a chat backend's use of the intentd sidecar: each message of one
// conversation is analysed within a deadline (retries on RESOURCE_EXHAUSTED / UNAVAILABLE
// included), the previous turn's intent and slots go along as context, and the backend either
// answers with intentd's constrained response or hands the turn to the tier the escalation hint
// names.
//
//	chat-backend -target unix:/run/intentd/intentd.sock "what is my checking balance"
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"strings"
	"time"
	"unicode"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	pb "intentd/clients/go/intentdv1"
)

// The flags are those of the Node.js example (clients/node/examples/chat-backend.ts).
type options struct {
	target, session, timeZone           string
	deadlineMs, backoffMs, maxBackoffMs int
	attempts                            int
	json                                bool
	tlsCA, tlsCert, tlsKey, tlsServer   string
}

func parseFlags(args []string) (options, []string, error) {
	var o options
	fs := flag.NewFlagSet("chat-backend", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: chat-backend [flags] MESSAGE...\n\nExit status: 0 all turns answered, 1 a call failed, 2 bad usage.")
		fs.PrintDefaults()
	}
	target := os.Getenv("INTENTD_TARGET")
	if target == "" {
		target = "unix:/run/intentd/intentd.sock"
	}
	fs.StringVar(&o.target, "target", target, "unix:/ABSOLUTE/PATH.sock or HOST:PORT (default from $INTENTD_TARGET)")
	fs.IntVar(&o.deadlineMs, "deadline-ms", 1000, "budget of each turn in ms, retries included")
	fs.IntVar(&o.attempts, "attempts", 4, "attempts per turn, the first included")
	fs.IntVar(&o.backoffMs, "backoff-ms", 25, "backoff ceiling in ms before the 2nd attempt, doubling after")
	fs.IntVar(&o.maxBackoffMs, "max-backoff-ms", 1000, "largest backoff ceiling in ms")
	fs.StringVar(&o.session, "session", fmt.Sprintf("chat-%d", os.Getpid()), "conversation id, sent as context")
	fs.StringVar(&o.timeZone, "time-zone", "", "IANA zone for dates (default: the domain's time_zone, else UTC)")
	fs.BoolVar(&o.json, "json", false, "one JSON object per turn on stdout")
	fs.StringVar(&o.tlsCA, "tls-ca", "", "TLS: the server's CA (PEM)")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "mTLS: this client's certificate (PEM)")
	fs.StringVar(&o.tlsKey, "tls-key", "", "mTLS: this client's key (PEM)")
	fs.StringVar(&o.tlsServer, "tls-server-name", "", "TLS: the name in the server's certificate, if not the target's host")
	if err := fs.Parse(args); err != nil {
		return o, nil, err
	}
	switch {
	case fs.NArg() == 0:
		return o, nil, fmt.Errorf("give at least one MESSAGE")
	case o.attempts < 1 || o.deadlineMs < 1 || o.backoffMs < 1 || o.maxBackoffMs < 1:
		return o, nil, fmt.Errorf("--attempts, --deadline-ms, --backoff-ms and --max-backoff-ms must be 1 or more")
	case (o.tlsCert == "") != (o.tlsKey == ""):
		return o, nil, fmt.Errorf("--tls-cert and --tls-key go together")
	}
	return o, fs.Args(), nil
}

func transportCredentials(o options) (grpc.DialOption, error) {
	if o.tlsCA == "" && o.tlsCert == "" && o.tlsServer == "" {
		// plaintext: what a Unix socket sidecar uses (WithInsecure: grpc-go 1.33 has no credentials/insecure)
		return grpc.WithInsecure(), nil
	}
	config := &tls.Config{ServerName: o.tlsServer, MinVersion: tls.VersionTLS12}
	if o.tlsCA != "" {
		pem, err := os.ReadFile(o.tlsCA)
		if err != nil {
			return nil, err
		}
		config.RootCAs = x509.NewCertPool()
		if !config.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in it", o.tlsCA)
		}
	}
	if o.tlsCert != "" {
		pair, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			return nil, err
		}
		config.Certificates = []tls.Certificate{pair}
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(config)), nil
}

// describe is one line for a resolved value, by its kind.
func describe(r *pb.Resolution) string {
	if !r.GetResolved() {
		return "unresolved"
	}
	switch v := r.GetValue().(type) {
	case *pb.Resolution_Money:
		return strings.TrimSpace("money " + v.Money.GetAmount() + " " + v.Money.GetCurrency())
	case *pb.Resolution_Datetime:
		grain := strings.ToLower(strings.TrimPrefix(v.Datetime.GetGrain().String(), "GRAIN_"))
		return fmt.Sprintf("datetime %s (%s)", v.Datetime.GetValue(), grain)
	case *pb.Resolution_Catalog:
		return fmt.Sprintf("catalog %s %q (%.3f)", v.Catalog.GetId(), v.Catalog.GetValue(), v.Catalog.GetScore())
	case *pb.Resolution_Number:
		return "number " + v.Number.GetValue()
	case *pb.Resolution_Ordinal:
		return "ordinal " + v.Ordinal.GetValue()
	case *pb.Resolution_Percentage:
		return "percentage " + v.Percentage.GetValue()
	case *pb.Resolution_Duration:
		return "duration " + v.Duration.GetIso()
	case *pb.Resolution_Email:
		return "email " + v.Email
	case *pb.Resolution_PhoneE164:
		return "phoneE164 " + v.PhoneE164
	case *pb.Resolution_Pattern:
		return "pattern " + v.Pattern
	case *pb.Resolution_Text:
		return "text " + v.Text
	}
	return "unresolved"
}

// codeName spells a status code as the gRPC spec does ("RESOURCE_EXHAUSTED", not "ResourceExhausted").
func codeName(code codes.Code) string {
	if code == codes.Canceled {
		return "CANCELLED" // Go's name drops an L
	}
	var b strings.Builder
	for i, r := range code.String() {
		if i > 0 && unicode.IsUpper(r) && !unicode.IsUpper(rune(code.String()[i-1])) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// orElse is text, or what the Node.js example prints in its place when it is empty.
func orElse(text, empty string) string {
	if text == "" {
		return empty
	}
	return text
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// unsure are the escalations that say the model did not understand the turn.
var unsure = map[pb.EscalationReason]bool{
	pb.EscalationReason_ESCALATION_REASON_OUT_OF_DISTRIBUTION: true,
	pb.EscalationReason_ESCALATION_REASON_LOW_CONFIDENCE:      true,
	pb.EscalationReason_ESCALATION_REASON_AMBIGUOUS:           true,
}

// decided says whether a turn decided the action: a cancel, or a confirm whose response asks for
// nothing more.
func decided(reply *pb.AnalyzeResponse) bool {
	switch reply.GetFollowUp().GetKind() {
	case pb.FollowUpKind_FOLLOW_UP_KIND_CANCEL:
		return true
	case pb.FollowUpKind_FOLLOW_UP_KIND_CONFIRM:
		return len(reply.GetResponse().GetSlotsMissing()) == 0
	}
	return false
}

// carriedFrom is what the next turn sends back (README, "Voice and chat backends", Follow-ups):
// the intent this turn continued, else its own top intent, the slots its response used and the
// slots it asked for, so that "and to savings", "make it 50", "yes" or "5" (answering "When?")
// resolve against it. Nothing after a turn the model
// did not understand, or the next "yes" would confirm its guess, nor after one that decided the
// action, or "yes" would bring a cancelled transfer back or confirm a confirmed one again; a
// question keeps them (a policy hand-off's "Which account would you like to close?", a confirm's
// "How much would you like to transfer?"), as it is answered next.
func carriedFrom(reply *pb.AnalyzeResponse) *pb.RequestContext {
	if esc := reply.GetEscalation(); (esc.GetEscalate() && unsure[esc.GetReason()]) || decided(reply) {
		return &pb.RequestContext{}
	}
	previousIntent := reply.GetFollowUp().GetIntent()
	if previousIntent == "" && len(reply.GetIntents()) > 0 {
		previousIntent = reply.GetIntents()[0].GetName()
	}
	return &pb.RequestContext{PreviousIntent: previousIntent, FilledSlots: reply.GetResponse().GetSlotsUsed(),
		SlotsMissing: reply.GetResponse().GetSlotsMissing()}
}

// said is what the backend says for a turn: intentd's response, except on a REPEAT of no intent
// ("sorry, what?" after a confirmation or a cancel, whose context the backend cleared): the server
// has nothing to rebuild, so the backend says its own last answer again.
func said(reply *pb.AnalyzeResponse, lastSaid string) string {
	followUp := reply.GetFollowUp()
	if followUp.GetKind() == pb.FollowUpKind_FOLLOW_UP_KIND_REPEAT && followUp.GetIntent() == "" && lastSaid != "" {
		return lastSaid
	}
	return reply.GetResponse().GetText()
}

func reason(reply *pb.AnalyzeResponse) string {
	return strings.ToLower(strings.TrimPrefix(reply.GetEscalation().GetReason().String(), "ESCALATION_REASON_"))
}

func printTurn(text string, reply *pb.AnalyzeResponse, response string, attempts int, asJSON bool) error {
	top := &pb.IntentScore{}
	if len(reply.GetIntents()) > 0 {
		top = reply.GetIntents()[0]
	}
	esc := reply.GetEscalation()
	if asJSON {
		full, err := protojson.Marshal(reply)
		if err != nil {
			return err
		}
		type entity struct {
			Type  string `json:"type"`
			Text  string `json:"text"`
			Start uint32 `json:"start"`
			End   uint32 `json:"end"`
			Value string `json:"value"`
		}
		entities := []entity{}
		for _, e := range reply.GetEntities() {
			entities = append(entities, entity{e.GetType(), e.GetText(), e.GetStart(), e.GetEnd(), describe(e.GetResolution())})
		}
		return json.NewEncoder(os.Stdout).Encode(map[string]any{
			"text": text, "intent": top.GetName(), "confidence": top.GetConfidence(), "entities": entities,
			"escalation": map[string]any{"escalate": esc.GetEscalate(), "reason": reason(reply),
				"tier": esc.GetTargetTier(), "detail": esc.GetDetail()},
			"response": response, "attempts": attempts, "reply": json.RawMessage(full),
		})
	}
	intent := "none"
	if len(reply.GetIntents()) > 0 {
		intent = fmt.Sprintf("%s (%.3f)", top.GetName(), top.GetConfidence())
	}
	fmt.Printf("user: %s\n", text)
	if reply.GetTruncated() {
		// the answer is the message's first characters' alone: worth less trust (or a shorter message)
		fmt.Printf("  truncated: the model read the first %d of %d characters\n", reply.GetAnalyzedChars(), len([]rune(text)))
	}
	fmt.Printf("  intent: %s\n", intent)
	// a follow-up's intent is the one a backend routes on
	if followUp := reply.GetFollowUp(); followUp.GetKind() != pb.FollowUpKind_FOLLOW_UP_KIND_UNSPECIFIED {
		kind := strings.ToLower(strings.TrimPrefix(followUp.GetKind().String(), "FOLLOW_UP_KIND_"))
		fmt.Printf("  follow-up: %s %s\n", kind, followUp.GetIntent())
	}
	for _, e := range reply.GetEntities() {
		fmt.Printf("  entity: %s '%s' [%d, %d) -> %s\n", e.GetType(), e.GetText(), e.GetStart(), e.GetEnd(), describe(e.GetResolution()))
	}
	if esc.GetEscalate() {
		fmt.Printf("  escalation: %s -> %s: %s\n", reason(reply), orElse(esc.GetTargetTier(), "(no tier)"), esc.GetDetail())
	} else {
		fmt.Println("  escalation: none")
	}
	fmt.Printf("  response: %s\n  (%s, server %.1f ms, model %s)\n", orElse(response, "(none)"), plural(attempts, "attempt"),
		float64(reply.GetTiming().GetTotalUs())/1000, reply.GetModelVersion())
	return nil
}

// stampSendTime gives each attempt its send time in x-request-start (microseconds since the
// epoch), as the Node.js client does, so that a busy intentd counts the time the request waited
// before it could be read against its latency budget and refuses at once, with
// RESOURCE_EXHAUSTED (retried), what can no longer be answered in time.
func stampSendTime(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
	invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	ctx = metadata.AppendToOutgoingContext(ctx, "x-request-start", fmt.Sprintf("t=%d", time.Now().UnixMicro()))
	return invoker(ctx, method, req, reply, cc, opts...)
}

func run(args []string) int {
	o, messages, err := parseFlags(args)
	if err == flag.ErrHelp {
		return 0
	} else if err != nil {
		fmt.Fprintf(os.Stderr, "chat-backend: %v (--help for usage)\n", err)
		return 2
	}
	creds, err := transportCredentials(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "chat-backend: %v\n", err)
		return 2
	}
	dial := []grpc.DialOption{creds, grpc.WithUnaryInterceptor(stampSendTime)}
	if strings.HasPrefix(o.target, "unix:") {
		// Reconnecting to a local socket is cheap: try again after 100 ms, then at most 250 ms
		// apart (not gRPC's 1 s, growing to 2 min), so that a retry waiting for a sidecar that
		// restarts (connected) is connected well within one call's deadline once it listens again.
		dial = append(dial, grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{
			BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 250 * time.Millisecond}}))
	}
	conn, err := grpc.Dial(o.target, dial...) // connects lazily: a missing server is an UNAVAILABLE call
	if err != nil {
		fmt.Fprintf(os.Stderr, "chat-backend: %v\n", err)
		return 2
	}
	defer conn.Close()
	client := pb.NewIntentServiceClient(conn)
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	policy := retryPolicy{conn: conn, maxAttempts: o.attempts, initialBackoff: ms(o.backoffMs), maxBackoff: ms(o.maxBackoffMs),
		rng: rand.New(rand.NewSource(time.Now().UnixNano())),
		onRetry: func(n int, err error, delay time.Duration) {
			s := status.Convert(err)
			fmt.Fprintf(os.Stderr, "retry: attempt %d got %s (%s); next in %d ms\n", n, codeName(s.Code()), s.Message(), delay.Milliseconds())
		}}
	carried, lastSaid, failed := &pb.RequestContext{}, "", 0
	for _, text := range messages {
		carried.SessionId = o.session
		request := &pb.AnalyzeRequest{Text: text, TimeZone: o.timeZone, Context: carried}
		var reply *pb.AnalyzeResponse
		ctx, cancel := context.WithTimeout(context.Background(), ms(o.deadlineMs))
		attempts, err, retried := policy.call(ctx, func(ctx context.Context, opts ...grpc.CallOption) (err error) {
			reply, err = client.Analyze(ctx, request, opts...)
			return err
		})
		cancel()
		if err != nil {
			// A real backend would answer the user from its fallback path here.
			s := status.Convert(err)
			before := ""
			if r := status.Convert(retried); retried != nil && r.Code() != s.Code() {
				before = fmt.Sprintf("; before it: %s: %s", codeName(r.Code()), r.Message())
			}
			fmt.Fprintf(os.Stderr, "error: %s: %s after %s: %s%s\n", text, codeName(s.Code()), plural(attempts, "attempt"),
				s.Message(), before)
			failed++
			continue
		}
		lastSaid = said(reply, lastSaid)
		if err := printTurn(text, reply, lastSaid, attempts, o.json); err != nil {
			fmt.Fprintf(os.Stderr, "chat-backend: %v\n", err)
			return 1
		}
		carried = carriedFrom(reply)
	}
	if failed > 0 {
		return 1
	}
	return 0
}

func main() {
	os.Exit(run(os.Args[1:]))
}
