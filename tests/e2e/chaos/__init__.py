"""Chaos run: the whole local stack under faults, with the contract's guarantees checked at the end.

    python -m tests.e2e.chaos --runs 200 --clients 16      # the full size, by hand (a few minutes)

`tests/e2e/test_chaos.py` runs a reduced size in CI. Runs are submitted by concurrent clients, every request is sent
1-3 times (some copies concurrently), each run's job follows a short `VERTEX_EMULATOR_SCENARIO` ending SUCCEEDED or
FAILED, and some runs are cancelled through the cancel function while RUNNING. All three job types run: about 20%
of the runs are Vertex AI Pipeline Jobs and 20% Batch Prediction Jobs (`pipeline_share`, `batch_share`), submitted
from templates created with the official clients before the faults start (a pipeline whose spec declares the
emulator's control parameters, typed inputs incl. a STRUCT, and the output `score`; a batch prediction over GCS
files); the rest are Custom Jobs without a template. Meanwhile, all at once:

- Vertex AI: the emulator fails ~20% of calls (503 UNAVAILABLE and 429 RESOURCE_EXHAUSTED, about half each), slows
  down others (0.3 s, 2.5 s), and holds a few CreateCustomJob calls longer than the connector's request budget:
  the connector's client times out while the emulator still creates the job (the ambiguous create); one
  CreatePipelineJob and one CreateBatchPredictionJob are held the same way.
- Pub/Sub: both pollers reach the Pub/Sub emulator through a TCP proxy (the network between the functions and
  Pub/Sub). It cuts every open connection every few seconds, so publishes in flight fail and are retried by the
  client library (which can duplicate messages), and for one window longer than the connector's publish timeout
  (30 s) it refuses every connection, so publishes fail for good and the events wait in the run's outbox.
  Deleting the topic was rejected: it detaches the subscription and loses the events, which no connector can
  prevent; an unreachable Pub/Sub is what functions really meet.
- Two pollers overlap: the stack's poll (ticked by its scheduler through the Eventarc stand-in) and a second
  functions-framework poll instance ticked by this module, each its own process.
- submit is SIGKILLed (its whole process group) while requests are in flight and restarted on the same port;
  clients retry connection errors, 429 and 5xx, as Polysync does.
- Hints (issue 24): the stack's log router stand-in (Vertex AI's job-state log entries -> hints topic -> `hint`)
  delivers every entry 3 times, shuffled, for the first `hint_storm` seconds (a storm), drops every entry for the
  next `hint_loss` seconds (loss), each phase until it acted on at least `hint_min_entries` entries, then routes
  as usual, each after 0.2-1 s (`hint_delay`), so hints race the ticks and each other. `hint` publishes straight
  to Pub/Sub (not through the proxy): during the outage it records and publishes what the pollers cannot, through
  the same conditional writes and outbox.

The stack runs in this process (`LocalStack`, not `polysync-vertex dev`) so that its submit and poll processes can
be killed and restarted on their own ports with their own environment. Invariants checked at the end (and printed as
one summary line): exactly one Vertex AI job per requestId; every run recorded with its job's true final state;
every state change published in order per run (first arrivals, duplicates dropped, sequences 2..final); one `ce-id`
per change (copies carry the same data); no job without a record; exactly one terminal `ce-id` per run; and no
published state that goes back in a job's lifecycle; and hints did work (`check_hints`: at least one `hint batch`
recorded a change, none was malformed, the storm duplicated and the loss dropped entries; counted as `hints=`). The
jobs are listed in all three collections. Per type on top (`outputs_ok`): a succeeded Pipeline Job's record and
terminal event carry its own `score` output, a failed one `_error`; a succeeded Batch Prediction Job's carry
`outputInfo` under the template's output prefix and `completionStats` with its own instance count.

Slow creates (issue 16): a few CreateCustomJob calls are held for twice the request budget ("slow") and one for
much longer ("very slow"), so Vertex AI accepts them long after the submit that sent them gave up. Before the
check the run waits until every held create has landed and the poller has ticked twice more (time to adopt an
orphan or cancel a late duplicate). Then: no connector job without a run record unless it was cancelled as a
duplicate (its request's run is another job), at most one live (non-cancelled) job per requestId, and exactly one
job per requestId that is its run.

The package: `config` (settings, plans' and outcomes' shapes), `plans`, `proxy` (the flaky Pub/Sub network),
`control` (the stack's processes), `faults` (Vertex AI faults), `clients` (Polysync's side), `monkey`, `collector`
(status events), `invariants` (the checks, pure: unit-tested in tests/unit/test_chaos_invariants.py), `runner`
and `cli` (`python -m tests.e2e.chaos`).
"""

from __future__ import annotations

from .config import ChaosConfig, Outcome, Plan, Result
from .runner import run

__all__ = ["ChaosConfig", "Outcome", "Plan", "Result", "run"]
