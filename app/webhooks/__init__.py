"""Partner webhooks: the outbox's events delivered to registered HTTP endpoints, signed per
Standard Webhooks v1, retried on a schedule, never lost (docs/WEBHOOKS.md).

- :mod:`catalogue`, :mod:`schedule`, :mod:`addresses`, :mod:`matching`: pure rules;
- :mod:`signing`: secrets and headers (the ``standardwebhooks`` library);
- :mod:`endpoints`: managing endpoints, the delivery log, resend and recover;
- :mod:`dispatch`: outbox → one message per matching endpoint, behind the safe horizon;
- :mod:`delivery` and :mod:`transport`: leased attempts over a guarded HTTP client;
- :mod:`runner`: the loop ``jifen worker`` (and ``jifen serve`` when configured) runs.
"""
