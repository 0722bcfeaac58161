"""Exercise 12: retry what is worth retrying, dead-letter the rest.

`charge_card` asks a payment gateway to charge a card. Two things go wrong:
- GatewayTimeout: the gateway did not answer in time. Trying again soon often works.
- CardDeclined: the bank said no. Trying again will not change that.
And any other exception (a bug in our own code, say) will not go away by itself either.

Dramatiq retries every exception by default, 20 times over about a month: a declined card
would be charged again and again. Make a GatewayTimeout retried, at most MAX_RETRIES
times, and send anything else straight to the dead-letter queue (no retry at all).

Check your work: `wb.exercise("ex12").check()` in the notebook, or
`workbook check ex12` in JupyterLab's Terminal.
"""

from __future__ import annotations

import time

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from redis import Redis

from app_snippets.settings import redis_url

MAX_RETRIES = 3
QUEUE = "ex12-payments"
broker = RedisBroker(url=redis_url())


class GatewayTimeout(Exception):
    """The gateway did not answer in time: worth another try."""


class CardDeclined(Exception):
    """The bank refused the charge: final."""


# The fake gateway (leave it as it is): it answers, call after call, what was scripted for
# the payment with script_gateway(payment_id, ["timeout", "timeout", "ok"]); the last answer
# repeats. "bug" raises the KeyError that a bug in our own code would. It records the time
# of every call.


def script_gateway(payment_id: str, answers: list[str]) -> None:
    with Redis.from_url(redis_url()) as client:
        client.rpush(f"ex12:{payment_id}:answers", *answers)


def gateway_calls(payment_id: str) -> int:
    with Redis.from_url(redis_url()) as client:
        return client.llen(f"ex12:{payment_id}:calls")


def gateway_charge(payment_id: str) -> None:
    with Redis.from_url(redis_url(), decode_responses=True) as client:
        call = client.rpush(f"ex12:{payment_id}:calls", time.time())
        answers = client.lrange(f"ex12:{payment_id}:answers", 0, -1) or ["ok"]
        answer = answers[min(call, len(answers)) - 1]
        if answer == "timeout":
            raise GatewayTimeout(f"payment {payment_id}: no answer from the gateway in 10 s")
        if answer == "declined":
            raise CardDeclined(f"payment {payment_id}: card declined (insufficient funds)")
        if answer == "bug":  # our request was built without a field it needs
            raise KeyError("card_token")
        client.sadd("ex12:charged", payment_id)


def should_retry(retries_so_far: int, exception: BaseException) -> bool:
    """Dramatiq calls this after each failure of charge_card (its `retry_when` option), with
    the number of retries so far (0 after the first attempt) and the exception raised.
    True: retry the message after a backoff. False: fail it, into the dead-letter queue."""
    # Changed: only a time-out is worth another try, and only MAX_RETRIES of them. retry_when
    # replaces max_retries (Dramatiq no longer counts for us), so the bound is here too:
    # without it a gateway that never answers would be retried forever.
    # Wrong: the decline is made final by throws= below; every other error is retried.
    return retries_so_far < MAX_RETRIES


# Short backoffs (50-200 ms) so that the check runs fast; Dramatiq's default starts at 15 s.
@dramatiq.actor(
    broker=broker,
    queue_name=QUEUE,
    retry_when=should_retry,
    min_backoff=50,
    max_backoff=200,
    throws=(CardDeclined,),
)
def charge_card(payment_id: str) -> None:
    gateway_charge(payment_id)
