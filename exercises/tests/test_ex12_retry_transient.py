"""Checks for exercise 12, through a real Dramatiq worker and Redis.

What "correct" means, property by property (every failure class the exercise names):
1. A GatewayTimeout is retried: two time-outs, then an answer, charge the card in 3 calls.
2. A CardDeclined is final: one call, then the dead-letter queue; never a second charge.
3. Any other exception (a bug: a KeyError) is final too: one call, then the dead letters.
4. Each failure is judged by its own class: a time-out, then a decline, stops at the
   decline (2 calls), retried or not before.
5. Time-outs are retried at most MAX_RETRIES times: a gateway that never answers is called
   MAX_RETRIES + 1 times, then the payment is dead-lettered.
Each payment is followed until an event (charged, dead-lettered, or more calls than can be
right), with a generous deadline only for a worker that does nothing: never a time measured.
"""

from __future__ import annotations

import inspect
import time
import uuid

from dramatiq import Message

RETRY_HOOK_FAILED = "Unexpected failure in after_process_message"
PATIENCE = 30.0  # seconds: a deadline for wrong answers and very busy machines only


def dead_lettered(learner, payment_id: str) -> bool:
    """Is the payment's message in the queue's dead-letter set (dramatiq:<queue>.XQ)?"""
    key = f"{learner.broker.namespace}:{learner.QUEUE}.XQ"
    for raw in learner.broker.client.hvals(f"{key}.msgs"):
        if list(Message.decode(raw).args) == [payment_id]:
            return True
    return False


def charged(learner, payment_id: str) -> bool:
    return bool(learner.broker.client.sismember("ex12:charged", payment_id))


def run_payment(
    learner, worker, answers: list[str], within: float = PATIENCE, most_calls: int = 10
) -> tuple[str, int]:
    """Script the gateway, send the payment, wait until it ends: ("charged" or "dead letter"
    or "still pending", gateway calls). Stops early after `most_calls` calls."""
    payment_id = f"pay-{uuid.uuid4().hex[:8]}"
    learner.script_gateway(payment_id, answers)
    learner.charge_card.send(payment_id)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if RETRY_HOOK_FAILED in worker.raw_log():
            raise AssertionError(
                "should_retry() raised when Dramatiq called it after a failure, so Dramatiq"
                f" could neither retry the payment nor dead-letter it.\n{worker.log()}"
            )
        if charged(learner, payment_id):
            return "charged", learner.gateway_calls(payment_id)
        if dead_lettered(learner, payment_id):
            return "dead letter", learner.gateway_calls(payment_id)
        if learner.gateway_calls(payment_id) > most_calls:
            break
        time.sleep(0.05)
    return "still pending", learner.gateway_calls(payment_id)


def test_a_gateway_timeout_is_retried_until_the_charge_goes_through(learner, dramatiq_worker):
    worker = dramatiq_worker(learner.broker)
    outcome, calls = run_payment(learner, worker, ["timeout", "timeout", "ok"])
    assert outcome == "charged", (
        f"The gateway timed out twice, then would have answered; the payment ended as"
        f" {outcome!r} after {calls} call(s). A time-out is worth another try.\n{worker.log()}"
    )
    assert calls == 3, f"The charge took {calls} gateway calls instead of 3."


def test_a_declined_card_goes_to_the_dead_letters_without_a_retry(learner, dramatiq_worker):
    worker = dramatiq_worker(learner.broker)
    outcome, calls = run_payment(learner, worker, ["declined", "ok"])
    assert calls == 1, (
        f"A declined card was sent to the gateway {calls} times: a retry cannot change the"
        " bank's answer, and charging again after a refusal is what must never happen."
    )
    assert outcome == "dead letter", (
        f"A declined card ended as {outcome!r} instead of in the dead-letter queue (where"
        f" someone can look at it).\n{worker.log()}"
    )


def test_a_bug_goes_to_the_dead_letters_without_a_retry(learner, dramatiq_worker):
    assert '"bug"' in inspect.getsource(learner.gateway_charge), (
        'Your fake gateway is older than these checks: it has no "bug" answer. Add to'
        ' gateway_charge, after the "declined" lines: `if answer == "bug": raise'
        ' KeyError("card_token")`.'
    )
    worker = dramatiq_worker(learner.broker)
    outcome, calls = run_payment(learner, worker, ["bug", "ok"])
    assert calls == 1, (
        f"A KeyError (a bug in our own code, not the gateway's fault) was retried: the"
        f" gateway was called {calls} times. Only a time-out is worth another try; a bug"
        " fails the same way every time, so anything else goes to the dead letters at once."
    )
    assert outcome == "dead letter", (
        f"A payment that hit a bug ended as {outcome!r} instead of in the dead-letter queue."
        f"\n{worker.log()}"
    )


def test_each_failure_is_judged_by_its_own_class(learner, dramatiq_worker):
    worker = dramatiq_worker(learner.broker)
    outcome, calls = run_payment(learner, worker, ["timeout", "declined", "ok"])
    assert (outcome, calls) == ("dead letter", 2), (
        f"The gateway timed out, then the card was declined: the payment ended as"
        f" {outcome!r} after {calls} call(s), not in the dead letters after 2. A decline is"
        " final even after a retry."
    )


def test_a_gateway_that_never_answers_is_retried_max_retries_times(learner, dramatiq_worker):
    worker = dramatiq_worker(learner.broker)
    outcome, calls = run_payment(learner, worker, ["timeout"])
    expected = learner.MAX_RETRIES + 1
    counting = "and counting" if outcome != "dead letter" else "before the dead letters"
    assert calls <= expected, (
        f"A gateway that never answers was called {calls} times {counting}: the retries"
        f" should stop after MAX_RETRIES ({learner.MAX_RETRIES}), that is {expected} calls in"
        " all. With retry_when, Dramatiq no longer counts the retries for you."
    )
    assert outcome == "dead letter" and calls == expected, (
        f"A gateway that never answers: {calls} call(s), then {outcome!r}. Expected"
        f" {expected} calls (the first and MAX_RETRIES={learner.MAX_RETRIES} retries), then"
        f" the dead-letter queue.\n{worker.log()}"
    )
