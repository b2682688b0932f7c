/**
 * A chat backend's use of the intentd sidecar: each user message of one conversation is analysed
 * within a deadline (retries on RESOURCE_EXHAUSTED / UNAVAILABLE included), the previous turn's
 * intent and slots go along as context, and the backend either answers with intentd's constrained
 * response or hands the turn to the tier the escalation hint names.
 *
 *   node dist/examples/chat-backend.js --target unix:/run/intentd/intentd.sock \
 *     "move 200 dollars from checking" "and to savings" "make it 50" "yes"
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

import { status } from "@grpc/grpc-js";

import {
  AnalyzeResponse,
  type Entity,
  EscalationReason,
  FollowUpKind,
  IntentdCallError,
  IntentdClient,
  type RequestContext,
  type Resolution,
  type RetryEvent,
  type TlsOptions,
  escalationReasonToJSON,
  followUpKindToJSON,
  grainToJSON,
} from "../src";

const USAGE = `usage: chat-backend [options] MESSAGE...

Sends each MESSAGE, as one turn of a conversation, to intentd's Analyze and prints what a chat
backend would act on. Exit status: 0 all turns answered, 1 a call failed, 2 bad usage.

  --target ADDR          unix:/ABSOLUTE/PATH.sock or HOST:PORT (default: $INTENTD_TARGET,
                         else unix:/run/intentd/intentd.sock)
  --deadline-ms N        budget of each turn, retries included (default 1000)
  --attempts N           attempts per turn, the first included (default 4)
  --backoff-ms N         backoff ceiling before the 2nd attempt, doubling after (default 25)
  --max-backoff-ms N     largest backoff ceiling (default 1000)
  --session ID           conversation id, sent as context (default: a random one)
  --time-zone NAME       IANA zone for dates ("Europe/Berlin"; default: the domain's time_zone,
                         else UTC)
  --json                 one JSON object per turn on stdout
  --tls-ca FILE          TLS: the server's CA (PEM); --tls-cert FILE --tls-key FILE for mTLS
  --tls-server-name NAME TLS: the name in the server's certificate, if not the target's host`;

class UsageError extends Error {}

const OPTIONS = {
  target: { type: "string" },
  "deadline-ms": { type: "string", default: "1000" },
  attempts: { type: "string", default: "4" },
  "backoff-ms": { type: "string", default: "25" },
  "max-backoff-ms": { type: "string", default: "1000" },
  session: { type: "string" },
  "time-zone": { type: "string", default: "" },
  json: { type: "boolean", default: false },
  "tls-ca": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "tls-server-name": { type: "string" },
  help: { type: "boolean", short: "h", default: false },
} as const;

function positiveInt(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    throw new UsageError(`--${name} must be a whole number >= 1 (got ${text})`);
  }
  return value;
}

function readPem(flag: string, path: string | undefined): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (error) {
    throw new UsageError(`--${flag} ${path}: ${(error as Error).message}`);
  }
}

function tlsOptions(values: Record<string, string | boolean | undefined>): TlsOptions | undefined {
  const [ca, cert, key, serverName] = ["tls-ca", "tls-cert", "tls-key", "tls-server-name"].map((f) => values[f]) as
    (string | undefined)[];
  if (ca === undefined && cert === undefined && key === undefined && serverName === undefined) return undefined;
  if ((cert === undefined) !== (key === undefined)) throw new UsageError("--tls-cert and --tls-key go together");
  return { ca: readPem("tls-ca", ca), cert: readPem("tls-cert", cert), key: readPem("tls-key", key), serverName };
}

/** One line for a resolved value, by its kind. */
function describe(resolution: Resolution | undefined): string {
  const value = resolution?.value;
  if (!resolution?.resolved || !value) return "unresolved";
  switch (value.$case) {
    case "money":
      return `money ${value.value.amount} ${value.value.currency}`.trim();
    case "datetime":
      return `datetime ${value.value.value} (${grainToJSON(value.value.grain).replace("GRAIN_", "").toLowerCase()})`;
    case "catalog":
      return `catalog ${value.value.id} "${value.value.value}" (${value.value.score.toFixed(3)})`;
    case "number":
    case "ordinal":
    case "percentage":
      return `${value.$case} ${value.value.value}`;
    case "duration":
      return `duration ${value.value.iso}`;
    default:
      return `${value.$case} ${value.value}`;
  }
}

/** Escalations that say the model did not understand the turn. */
const UNSURE = new Set([
  EscalationReason.ESCALATION_REASON_OUT_OF_DISTRIBUTION,
  EscalationReason.ESCALATION_REASON_LOW_CONFIDENCE,
  EscalationReason.ESCALATION_REASON_AMBIGUOUS,
]);

type Carried = Pick<RequestContext, "previousIntent" | "filledSlots" | "slotsMissing">;
const NOTHING: Carried = { previousIntent: "", filledSlots: {}, slotsMissing: [] };

/** A turn that decided the action: a cancel, or a confirm whose response asks for nothing more. */
function decided(reply: AnalyzeResponse): boolean {
  const kind = reply.followUp?.kind;
  return kind === FollowUpKind.FOLLOW_UP_KIND_CANCEL ||
    (kind === FollowUpKind.FOLLOW_UP_KIND_CONFIRM && !reply.response?.slotsMissing.length);
}

/**
 * What the next turn sends back (README, "Voice and chat backends", Follow-ups): the intent this
 * turn continued, else its own top intent, the slots its response used and the slots it asked
 * for, so that "and to savings", "make it 50", "yes" or "5" (answering "When?") resolve against it. Nothing after a turn the model did not
 * understand, or the next "yes" would confirm its guess, nor after one that decided the action,
 * or "yes" would bring a cancelled transfer back or confirm a confirmed one again; a question
 * keeps them (a policy hand-off's "Which account would you like to close?", a confirm's "How
 * much would you like to transfer?"), as it is answered next.
 */
function carriedFrom(reply: AnalyzeResponse): Carried {
  if ((reply.escalation?.escalate && UNSURE.has(reply.escalation.reason)) || decided(reply)) {
    return NOTHING;
  }
  return {
    previousIntent: reply.followUp?.intent || (reply.intents[0]?.name ?? ""),
    filledSlots: reply.response?.slotsUsed ?? {},
    slotsMissing: reply.response?.slotsMissing ?? [],
  };
}

/**
 * What the backend says for a turn: intentd's response, except on a REPEAT of no intent ("sorry,
 * what?" after a confirmation or a cancel, whose context the backend cleared): the server has
 * nothing to rebuild, so the backend says its own last answer again.
 */
function said(reply: AnalyzeResponse, lastSaid: string): string {
  const followUp = reply.followUp;
  if (followUp?.kind === FollowUpKind.FOLLOW_UP_KIND_REPEAT && !followUp.intent && lastSaid) return lastSaid;
  return reply.response?.text ?? "";
}

function reasonName(reply: AnalyzeResponse): string {
  return escalationReasonToJSON(reply.escalation?.reason ?? 0).replace("ESCALATION_REASON_", "").toLowerCase();
}

function entityLine(entity: Entity): string {
  return `${entity.type} '${entity.text}' [${entity.start}, ${entity.end}) -> ${describe(entity.resolution)}`;
}

function printTurn(text: string, reply: AnalyzeResponse, response: string, attempts: number, json: boolean): void {
  const top = reply.intents[0];
  const escalation = reply.escalation;
  if (json) {
    const summary = {
      text,
      intent: top?.name ?? "",
      confidence: top?.confidence ?? 0,
      entities: reply.entities.map((e) => ({ type: e.type, text: e.text, start: e.start, end: e.end,
        value: describe(e.resolution) })),
      escalation: { escalate: escalation?.escalate ?? false, reason: reasonName(reply),
        tier: escalation?.targetTier ?? "", detail: escalation?.detail ?? "" },
      response,
      attempts,
      reply: AnalyzeResponse.toJSON(reply),
    };
    console.log(JSON.stringify(summary));
    return;
  }
  console.log(`user: ${text}`);
  if (reply.truncated) {
    // the answer is the message's first characters' alone: worth less trust (or a shorter message)
    console.log(`  truncated: the model read the first ${reply.analyzedChars} of ${[...text].length} characters`);
  }
  console.log(`  intent: ${top ? `${top.name} (${top.confidence.toFixed(3)})` : "none"}`);
  if (reply.followUp?.kind) {
    const kind = followUpKindToJSON(reply.followUp.kind).replace("FOLLOW_UP_KIND_", "").toLowerCase();
    console.log(`  follow-up: ${kind} ${reply.followUp.intent}`); // the intent a backend routes on
  }
  for (const entity of reply.entities) console.log(`  entity: ${entityLine(entity)}`);
  if (escalation?.escalate) {
    console.log(`  escalation: ${reasonName(reply)} -> ${escalation.targetTier || "(no tier)"}: ${escalation.detail}`);
  } else {
    console.log("  escalation: none");
  }
  console.log(`  response: ${response || "(none)"}`);
  const serverMs = ((reply.timing?.totalUs ?? 0) / 1000).toFixed(1);
  const tries = `${attempts} attempt${attempts === 1 ? "" : "s"}`;
  console.log(`  (${tries}, server ${serverMs} ms, model ${reply.modelVersion})`);
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError("give at least one MESSAGE");
  const target = values.target ?? process.env.INTENTD_TARGET ?? "unix:/run/intentd/intentd.sock";
  const deadlineMs = positiveInt("deadline-ms", values["deadline-ms"]);
  const client = new IntentdClient(target, {
    tls: tlsOptions(values),
    retry: {
      maxAttempts: positiveInt("attempts", values.attempts),
      initialBackoffMs: positiveInt("backoff-ms", values["backoff-ms"]),
      maxBackoffMs: positiveInt("max-backoff-ms", values["max-backoff-ms"]),
    },
  });
  const sessionId = values.session ?? `chat-${process.pid}-${Date.now().toString(36)}`;
  let carried: Carried = NOTHING;
  let lastSaid = "";
  let failed = 0;
  try {
    for (const text of positionals) {
      let attempts = 1;
      const onRetry = (event: RetryEvent) => {
        attempts = event.attempt + 1;
        console.error(`retry: attempt ${event.attempt} got ${status[event.error.code]} (${event.error.details}); ` +
          `next in ${event.delayMs.toFixed(0)} ms`);
      };
      try {
        const reply = await client.analyze(
          { text, timeZone: values["time-zone"], context: { sessionId, ...carried } },
          { timeoutMs: deadlineMs, onRetry },
        );
        lastSaid = said(reply, lastSaid);
        printTurn(text, reply, lastSaid, attempts, values.json);
        carried = carriedFrom(reply);
      } catch (error) {
        if (!(error instanceof IntentdCallError)) throw error;
        // A real backend would answer the user from its fallback path here.
        console.error(`error: ${text}: ${error.message}`);
        failed++;
      }
    }
  } finally {
    client.close();
  }
  return failed ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    const usage = error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    console.error(`chat-backend: ${(error as Error).message}${usage ? " (--help for usage)" : ""}`);
    process.exitCode = usage ? 2 : 1;
  },
);
